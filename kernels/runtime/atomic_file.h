#pragma once
// A file written beside its destination and renamed over it on commit(), so that readers (and a
// crash) see either the old file or the complete new one, never a truncated one. Removed unless
// committed; every failure throws trimvl::Error naming the destination.
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace trimvl {

class AtomicFile {
 public:
  explicit AtomicFile(const std::filesystem::path& destination);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  // Flushes to disk, closes, renames into place.
  void commit();

 private:
  [[noreturn]] void fail(std::string_view what) const;

  std::filesystem::path destination_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole of `bytes` as `path`, atomically.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace trimvl
