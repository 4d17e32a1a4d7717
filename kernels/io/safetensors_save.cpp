// save_safetensors: the writer half of kernels/io/safetensors.h.
#include <bit>
#include <unordered_set>

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/atomic_file.h"
#include "kernels/runtime/error.h"

namespace trimvl::io {
namespace {

namespace fs = std::filesystem;

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
    if (!seen.insert(name).second) throw fail("duplicate tensor name");
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

  AtomicFile out(path);
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
