#pragma once
// A decoder layer's q/k RMSNorm and rotary embedding in one CUDA launch, at the ATen level
// (kernels/cuda/rotary.h has the kernel and its numerics). The reference it must match is
// language/qwen3vl's RmsNorm (q_norm, k_norm) followed by Rotary::apply, in ATen on the same
// device. Launched on the current stream, allocating only its outputs, never synchronising with
// the host, so it can be captured in a CUDA graph. Callers ask qk_norm_rope_supported first and
// take the ATen code otherwise.
#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// q [T, H_q, D] and k [T, H_kv, D] may be views into a wider row (a fused qkv projection's output):
// each head's D elements contiguous and heads D apart; weights [D]; cos and sin the rotary tables
// of the T tokens, contiguous [T, 1, D] (or [T, D]). All CUDA tensors of one device and dtype
// (fp32, fp16, bf16), 16-byte aligned, token strides a multiple of 16 bytes, D / 2 = 16 bytes
// times 1, 2, 4, 8, 16 or 32 (D = 64 and 128 in every dtype), and a CUDA build.
bool qk_norm_rope_supported(const at::Tensor& q, const at::Tensor& k, const at::Tensor& q_weight,
                            const at::Tensor& k_weight, const at::Tensor& cos, const at::Tensor& sin);

struct RotatedQk {
  at::Tensor q, k;  // contiguous [T, H_q, D] and [T, H_kv, D]
};
// rotate(rms_norm(q, q_weight)), rotate(rms_norm(k, k_weight)) with x·cos + rotate_half(x)·sin.
RotatedQk qk_norm_rope(const at::Tensor& q, const at::Tensor& k, const at::Tensor& q_weight,
                       const at::Tensor& k_weight, double eps, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace trimvl::ops
