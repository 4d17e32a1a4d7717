#pragma once
// A whole file mapped into memory, read-only on disk but writable in memory: the mapping is
// private (copy-on-write), so tensors viewing it can be modified in place without touching the
// file, and pages are read lazily on first access (opening a multi-GB checkpoint reads nothing
// but what the caller touches).
//
// The file must not be truncated while mapped: accessing a page past the new end raises SIGBUS,
// as with any memory map. Our writers replace files by rename, which leaves a mapped original
// intact.
#include <cstddef>
#include <filesystem>
#include <span>

namespace trimvl {

class MappedFile {
 public:
  // Throws trimvl::Error naming the file and the system's reason: NotFound when it does not
  // exist, InvalidInput when it is not a regular file or cannot be opened or mapped.
  // A zero-byte file maps to an empty span.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::byte* data() const { return data_; }  // nullptr when empty
  size_t size() const { return size_; }
  std::span<std::byte> bytes() const { return {data_, size_}; }

 private:
  void unmap() noexcept;

  std::filesystem::path path_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace trimvl
