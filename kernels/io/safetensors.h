#pragma once
// safetensors reading (single file or sharded by model.safetensors.index.json) and writing.
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data section; offsets are
// relative to the data section. Opening validates the whole header before any tensor is handed
// out, accepting what the reference (safetensors 0.7.0, `Metadata::validate`) accepts, with
// three stricter rules: duplicate JSON keys are an error (the reference silently keeps the last
// one), every tensor must be representable as an at::Tensor (an ATen dtype; strides within
// int64 even beside a zero dimension), and F4 tensors need an even last dimension (torch packs
// F4 in pairs). In detail: file of at least 8 bytes; header length at most 100,000,000 and
// within the file; header valid UTF-8 and JSON, an object; "__metadata__" absent, null or a map
// of strings to strings; every other entry an object with dtype (a known code), shape
// (non-negative integers) and data_offsets ([begin, end], begin <= end); the tensors, ordered by
// offset, tile the data section exactly: no gap, no overlap, nothing after the last one (only
// zero-size tensors may share an offset); end - begin = numel x width. Unknown keys inside an
// entry are ignored, as the reference does. Every error names the file and, where one is
// involved, the tensor.
//
// Tensors are zero-copy CPU views of a private (copy-on-write) memory map: writing to one never
// touches the file, and each view keeps the mapping alive. The one exception is data that is
// not aligned to its element size (possible only in files whose writer did not order tensors by
// alignment, as the reference writer does): such a tensor is copied, so that no kernel ever sees
// a misaligned pointer.
//
// F4 (float4_e2m1fn_x2) packs two values per byte: TensorInfo keeps the file's shape (in 4-bit
// elements); the tensor's last dimension is half of it, as in the safetensors torch binding.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "kernels/io/weight_source.h"
#include "kernels/runtime/mapped_file.h"

namespace trimvl::io {
namespace detail {
// Lets a map keyed by std::string be searched with a string_view, without building a string.
struct NameHash : std::hash<std::string_view> {
  using is_transparent = void;
};
template <typename V>
using NameMap = std::unordered_map<std::string, V, NameHash, std::equal_to<>>;
}  // namespace detail

// The reference's limit (safetensors MAX_HEADER_SIZE); larger headers are rejected, not parsed.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  std::string dtype;                                         // safetensors code as written: "BF16", "F32", "U8", ...
  c10::ScalarType scalar_type = c10::ScalarType::Undefined;  // the ATen equivalent
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  int64_t numel() const;        // elements as the file counts them (4-bit ones for F4)
  uint64_t nbytes() const { return end - begin; }
};

// c10 type for a safetensors dtype code; throws Unsupported for codes that are unknown or have no
// ATen equivalent (F6_E2M3, F6_E3M2).
c10::ScalarType scalar_type_from_safetensors(std::string_view code);
// The code for a c10 type; throws Unsupported for types safetensors cannot store.
std::string safetensors_dtype_code(c10::ScalarType type);
// Bits per element of a supported code (4 for F4, 8 for U8, ...); throws like the above.
int safetensors_bit_width(std::string_view code);

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
  // The tensor's bytes as stored (little-endian), without a copy.
  std::span<const std::byte> bytes(std::string_view name) const;
  at::Tensor tensor(std::string_view name) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<const MappedFile> map_;
  std::byte* data_ = nullptr;  // start of the data section
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  detail::NameMap<size_t> index_;  // name -> position in tensors_
};

// A checkpoint: one .safetensors file, an index file (*.json) whose weight_map names the shards
// (paths relative to the index's directory), or a directory holding model.safetensors or else
// model.safetensors.index.json (the order transformers prefers). The index is validated too:
// every shard exists and holds exactly the tensors the index assigns to it, so a tensor cannot
// hide in two shards.
class SafetensorsCheckpoint final : public WeightSource {
 public:
  static SafetensorsCheckpoint open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::string origin() const override { return path_.string(); }
  std::vector<std::string> names() const override;  // sorted
  bool contains(std::string_view name) const;
  const std::vector<int64_t>* find_shape(std::string_view name) const override;
  const TensorInfo& info(std::string_view name) const;
  at::Tensor tensor(std::string_view name) const override;
  const std::vector<SafetensorsFile>& shards() const { return shards_; }

 private:
  const SafetensorsFile& shard_holding(std::string_view name) const;  // throws NotFound

  std::filesystem::path path_;
  std::vector<SafetensorsFile> shards_;
  detail::NameMap<size_t> shard_of_;
};

// Writes tensors (any device; copied to CPU contiguous one at a time) in the order given, with
// optional metadata; the header is padded with spaces to a multiple of 8 bytes, as the reference
// writer does. Ordering tensors by decreasing element size keeps every tensor aligned. The file
// appears atomically (written beside, flushed to disk, then renamed over `path`). Throws on
// duplicate or reserved names, names or metadata that are not UTF-8, undefined or non-strided
// tensors and unsupported dtypes, leaving no file behind.
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace trimvl::io
