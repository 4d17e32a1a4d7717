#pragma once
// safetensors reading (single file or sharded by model.safetensors.index.json) and writing.
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data section; offsets are
// relative to the data section. Opening validates everything before any tensor is handed out:
// header length within the file, valid JSON of the expected shape, known dtype, offsets in range
// and non-overlapping, byte size = numel x itemsize, no duplicate names. Every error names the
// file and, where one is involved, the tensor.
//
// Tensors are zero-copy CPU views of a private (copy-on-write) memory map: writing to one never
// touches the file, and each view keeps the mapping alive.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trimvl::io {

struct TensorInfo {
  std::string name;
  std::string dtype;            // safetensors code as written: "BF16", "F32", "U8", ...
  c10::ScalarType scalar_type;  // the ATen equivalent
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  int64_t numel() const;
};

// c10 type for a safetensors dtype code; throws Unsupported for unknown codes.
c10::ScalarType scalar_type_from_safetensors(std::string_view code);
std::string safetensors_dtype_code(c10::ScalarType type);
size_t safetensors_itemsize(std::string_view code);

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // In data-section order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  // Throws NotFound naming the file and the tensor.
  const TensorInfo& info(std::string_view name) const;
  std::span<const std::byte> bytes(std::string_view name) const;
  at::Tensor tensor(std::string_view name) const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> map_;
  const std::byte* data_ = nullptr;  // start of the data section
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

// A checkpoint: one .safetensors file, a directory holding model.safetensors, or a directory (or
// index path) with model.safetensors.index.json whose weight_map names the shards. The index is
// validated too: every shard exists and holds exactly the tensors the index assigns to it.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;
  at::Tensor tensor(std::string_view name) const;
  const std::vector<SafetensorsFile>& shards() const { return shards_; }

 private:
  std::filesystem::path path_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t, std::less<>> shard_of_;
};

// Writes tensors (any device; copied to CPU contiguous) in the order given, with optional
// metadata. The file appears atomically (written beside, then renamed). Throws on duplicate
// names or unsupported dtypes, leaving no file behind.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace trimvl::io
