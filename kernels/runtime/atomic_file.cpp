#include "kernels/runtime/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "kernels/runtime/error.h"

namespace trimvl {

AtomicFile::AtomicFile(const std::filesystem::path& destination) : destination_(destination) {
  static std::atomic<unsigned> counter{0};
  path_ =
      destination.parent_path() / fmt::format(".{}.tmp-{}-{}", destination.filename().string(), ::getpid(), counter++);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) fail("cannot create a temporary file beside it");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;  // no progress and no reason given
    if (n <= 0) fail("cannot write");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("cannot flush to disk");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail("cannot close");
  if (::rename(path_.c_str(), destination_.c_str()) != 0) fail("cannot rename the temporary file into place");
  committed_ = true;
}

void AtomicFile::fail(std::string_view what) const {
  throw Error(fmt::format("{}: {}", what, std::generic_category().message(errno))).file(destination_.string());
}

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

}  // namespace trimvl
