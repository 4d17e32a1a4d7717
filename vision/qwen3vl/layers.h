#pragma once
// The two parameterised layers the Qwen3-VL vision modules are built from, loaded by their HF
// names (`<scope>.weight`, `<scope>.bias`) in the loader's dtype and device.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>

#include "kernels/io/weight_loader.h"

namespace trimvl::vision::qwen3vl {

struct Linear {  // nn.Linear(in, out, bias=True)
  at::Tensor weight, bias;  // [out, in], [out]

  static Linear load(const io::WeightLoader::Scope& scope, int64_t in, int64_t out) {
    return {scope.take("weight", {out, in}), scope.take("bias", {out})};
  }
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }
};

struct LayerNorm {  // nn.LayerNorm(dim, eps) over the last dimension
  at::Tensor weight, bias;  // [dim]
  double eps = 0;

  static LayerNorm load(const io::WeightLoader::Scope& scope, int64_t dim, double eps) {
    return {scope.take("weight", {dim}), scope.take("bias", {dim}), eps};
  }
  at::Tensor operator()(const at::Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, eps); }
};

// Every LayerNorm of the Qwen3-VL vision tower (blocks, merger, DeepStack mergers); hard-coded in HF.
inline constexpr double kLayerNormEps = 1e-6;

}  // namespace trimvl::vision::qwen3vl
