#pragma once
// Where WeightLoader reads tensors from: a checkpoint on disk (SafetensorsCheckpoint) or one made in
// memory (RandomWeights, for benchmarks on the real shapes without the real files). The loader
// needs only the names, each tensor's shape before it reads it, and the tensor itself.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::io {

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // Names the source in messages: the checkpoint's path, or what a synthetic source is.
  virtual std::string origin() const = 0;
  virtual std::vector<std::string> names() const = 0;  // sorted
  // The stored shape of `name`, or null when the source has no such tensor.
  virtual const std::vector<int64_t>* find_shape(std::string_view name) const = 0;
  // The tensor, in whatever dtype and device the source keeps it (the loader converts). Throws
  // NotFound for a name find_shape() does not know.
  virtual at::Tensor tensor(std::string_view name) const = 0;
};

}  // namespace trimvl::io
