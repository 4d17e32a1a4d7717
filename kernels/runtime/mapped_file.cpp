#include "kernels/runtime/mapped_file.h"

#include <cerrno>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/runtime/error.h"

namespace trimvl {
namespace {

Error system_error(std::string_view what, int err, const std::filesystem::path& path) {
  const auto kind = err == ENOENT || err == ENOTDIR ? Error::Kind::NotFound : Error::Kind::InvalidInput;
  Error e(fmt::format("{}: {}", what, std::generic_category().message(err)), kind);
  e.file(path.string());
  return e;
}

// Closes the descriptor on every path out of the constructor; the mapping outlives it.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw system_error("cannot open", errno, path);
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) throw system_error("cannot stat", errno, path);
  if (!S_ISREG(st.st_mode))
    throw Error(S_ISDIR(st.st_mode) ? "is a directory, not a file" : "is not a regular file").file(path.string());
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return;  // mmap rejects a zero length; an empty span says the same
  // MAP_NORESERVE: a private writable mapping would otherwise be charged in full against the
  // commit limit, and a checkpoint larger than RAM + swap would fail to map although only the
  // pages a caller writes to ever need private copies.
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, file.fd, 0);
  if (p == MAP_FAILED) throw system_error(fmt::format("cannot map {} bytes", size_), errno, path);
  data_ = static_cast<std::byte*>(p);
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::unmap() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace trimvl
