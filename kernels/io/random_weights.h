#pragma once
// A checkpoint made in memory: named tensors of given shapes whose values are drawn when the loader
// asks for them, directly in the model's dtype and on its device. It lets a benchmark build a model
// of a real architecture's size (8 GB for Qwen3-VL-4B in bf16) with no file and no host copy.
//
// Values: Normal draws N(0, std²) (HF's initializer_range is 0.02, small enough that activations
// stay finite in bf16 through dozens of layers), Ones is for norm scales, Zeros for biases. Every
// tensor() call draws afresh from one generator seeded once, so a loader that reads each tensor once
// in a fixed order gets the same model for the same seed.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/io/safetensors.h"
#include "kernels/io/weight_source.h"

namespace trimvl::io {

struct RandomTensor {
  enum class Init { Normal, Ones, Zeros };
  std::string name;
  std::vector<int64_t> shape;
  Init init = Init::Normal;
};

class RandomWeights final : public WeightSource {
 public:
  // Throws InvalidInput for a duplicate name or a negative dimension.
  RandomWeights(std::vector<RandomTensor> tensors, c10::ScalarType dtype, c10::Device device, uint64_t seed,
                double std = 0.02);

  std::string origin() const override;
  std::vector<std::string> names() const override;
  const std::vector<int64_t>* find_shape(std::string_view name) const override;
  at::Tensor tensor(std::string_view name) const override;

  const std::vector<RandomTensor>& tensors() const { return tensors_; }
  // Elements and bytes (in this source's dtype) of the tensors whose names start with `prefix`.
  int64_t numel(std::string_view prefix = {}) const;
  int64_t nbytes(std::string_view prefix = {}) const;

 private:
  std::vector<RandomTensor> tensors_;
  detail::NameMap<size_t> index_;
  c10::ScalarType dtype_;
  c10::Device device_;
  uint64_t seed_;
  double std_;
  mutable at::Generator generator_;
};

}  // namespace trimvl::io
