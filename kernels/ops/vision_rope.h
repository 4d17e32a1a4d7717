#pragma once
// The vision blocks' rotary embedding of q and k in one CUDA launch, at the ATen level
// (kernels/cuda/vision_rope.h has the kernel and its numerics). The reference it must match, bit
// for bit, is VisionRotary::apply (vision/qwen3vl/vision_rotary.cpp) on the same device. Callers ask
// vision_rope_supported first and take the ATen code otherwise.
#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// q and k [T, H, D]: views into one fused qkv projection's rows (each head's D elements contiguous,
// heads D apart, one token stride for both) or contiguous; cos and sin float32 contiguous [T, D];
// CUDA tensors of one device, q/k fp32, fp16 or bf16, D even, a CUDA build.
bool vision_rope_supported(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin);

struct RotatedPair {
  at::Tensor q, k;  // contiguous [T, H, D] in q's dtype
};
RotatedPair vision_rope(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace trimvl::ops
