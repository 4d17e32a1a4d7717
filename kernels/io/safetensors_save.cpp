// save_safetensors: the writer half of kernels/io/safetensors.h.
#include <atomic>
#include <bit>
#include <cerrno>
#include <system_error>
#include <unordered_set>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"

namespace trimvl::io {
namespace {

namespace fs = std::filesystem;

// A file being written beside its destination; removed unless commit() renamed it into place.
class PendingFile {
 public:
  explicit PendingFile(const fs::path& destination) : destination_(destination) {
    static std::atomic<unsigned> counter{0};
    path_ = destination.parent_path() /
            fmt::format(".{}.tmp-{}-{}", destination.filename().string(), ::getpid(), counter++);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) fail("cannot create a temporary file beside it");
  }
  ~PendingFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  void write(const void* data, size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write");
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  // Flushed before the rename, so that after a crash the destination holds either the old file
  // or the complete new one, never a truncated one.
  void commit() {
    if (::fsync(fd_) != 0) fail("cannot flush to disk");
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail("cannot close");
    if (::rename(path_.c_str(), destination_.c_str()) != 0) fail("cannot rename the temporary file into place");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw Error(fmt::format("{}: {}", what, std::generic_category().message(errno))).file(destination_.string());
  }

  fs::path destination_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

// A JSON string literal; throws nlohmann's type_error for text that is not UTF-8.
std::string quoted(const std::string& text) { return nlohmann::json(text).dump(); }

}  // namespace

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // The header first, so that every rejection happens before a byte is written.
  std::string header = "{";
  try {
    if (!metadata.empty()) {
      header += "\"__metadata__\":{";
      for (const auto& [key, value] : metadata) header += fmt::format("{}:{},", quoted(key), quoted(value));
      header.back() = '}';
      header += ',';
    }
  } catch (const nlohmann::json::exception&) {
    throw Error("metadata keys and values must be valid UTF-8").file(path.string());
  }
  std::unordered_set<std::string_view> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto fail = [&](std::string message, Error::Kind kind = Error::Kind::InvalidInput) {
      Error e(std::move(message), kind);
      e.file(path.string()).tensor(name);
      return e;
    };
    if (name == "__metadata__") throw fail("the name is reserved for the file's metadata");
    if (!seen.insert(name).second) throw fail("the name is given twice");
    if (!t.defined()) throw fail("the tensor is undefined");
    if (t.layout() != at::kStrided) throw fail("only dense (strided) tensors can be stored", Error::Kind::Unsupported);
    std::string code;
    try {
      code = safetensors_dtype_code(t.scalar_type());
    } catch (Error& e) {
      e.file(path.string()).tensor(name);
      throw;
    }
    std::vector<int64_t> shape = t.sizes().vec();
    if (t.scalar_type() == at::kFloat4_e2m1fn_x2) {
      // The file counts 4-bit values; each float4_e2m1fn_x2 element holds two of them.
      if (shape.empty()) throw fail("a float4_e2m1fn_x2 scalar has no dimension to unpack", Error::Kind::Unsupported);
      shape.back() *= 2;
    }
    const auto nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    std::string key;
    try {
      key = quoted(name);
    } catch (const nlohmann::json::exception&) {
      throw fail("the name is not valid UTF-8");
    }
    header += fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}},", key, code,
                          fmt::join(shape, ","), offset, offset + nbytes);
    offset += nbytes;
  }
  if (header.back() == ',') header.pop_back();
  header += '}';
  header.resize((header.size() + 7) / 8 * 8, ' ');  // data starts 8-byte aligned, as the reference writes it
  if (header.size() > kMaxHeaderBytes)
    throw Error(
        fmt::format("header of {} bytes exceeds the {}-byte limit readers enforce", header.size(), kMaxHeaderBytes))
        .file(path.string());

  PendingFile out(path);
  static_assert(std::endian::native == std::endian::little, "the length and the data are written as stored");
  const uint64_t length = header.size();
  out.write(&length, sizeof length);
  out.write(header.data(), header.size());
  for (const auto& [name, t] : tensors) {
    at::Tensor cpu;
    try {
      // float4_e2m1fn_x2 has no copy kernels; its bytes move as uint8 of the same shape.
      const at::Tensor source = t.scalar_type() == at::kFloat4_e2m1fn_x2 ? t.view(at::kByte) : t;
      cpu = source.resolve_conj().resolve_neg().to(at::kCPU).contiguous();
    } catch (const c10::Error& e) {
      throw Error(fmt::format("cannot copy the tensor to CPU memory: {}", e.what_without_backtrace()),
                  Error::Kind::Internal)
          .file(path.string())
          .tensor(name);
    }
    out.write(cpu.const_data_ptr(), cpu.nbytes());
  }
  out.commit();
}

}  // namespace trimvl::io
