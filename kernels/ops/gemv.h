#pragma once
// The one-token projection y = x·Wᵀ (+ bias) on CUDA at the ATen level
// (kernels/cuda/gemv.h has the kernel). Its reference is at::linear (cuBLAS) on the same device:
// both accumulate in fp32 and round once, in a different order, so results agree to the output
// dtype's rounding, not bit for bit. Launched on the current stream, allocating only its
// output, never synchronising with the host, so it can be captured in a CUDA graph.
#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// x [1, K] or [K]; weight [N, K] contiguous; bias [N] or undefined; CUDA tensors of one device and
// dtype (fp32, fp16, bf16), K a multiple of 16 bytes, x and weight 16-byte aligned, a CUDA build.
bool gemv_supported(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});
// [1, N] (or [N] for a 1-D x) in the inputs' dtype.
at::Tensor gemv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// SwiGLU in one launch: with gate_up the gate rows stacked over the up rows ([2·I, K]),
// silu(x·W_gateᵀ) · (x·W_upᵀ), each product rounded to the dtype before the activation as the
// stacked at::linear's output stores it, the activation as ops::silu_mul rounds it. Bit-identical
// to silu_mul over the halves of gemv(x, gate_up). Same conditions as gemv, with 2·I rows.
bool gemv_silu_mul_supported(const at::Tensor& x, const at::Tensor& gate_up);
// [1, I] (or [I] for a 1-D x).
at::Tensor gemv_silu_mul(const at::Tensor& x, const at::Tensor& gate_up);

// A decode step's q/k/v in one launch: the token's projection through the stacked [q | k | v]
// weight ([(H_q + 2·H_kv)·D, K]), its q and k heads then normalised and rotated as qk_norm_rope
// does (rotary.h) by the kernel's last CTA of each head. Bit-identical to gemv followed by
// qk_norm_rope over its q and k views.
struct ProjectedQkv {
  at::Tensor q, k, v;  // [1, H_q, D], [1, H_kv, D], [1, H_kv, D]: views of one output
};
// gemv's conditions for x and qkv_weight (no bias); the q/k norm weights and the token's cos and
// sin D elements each, contiguous, of the weight's device and dtype, 16-byte aligned; D as
// qk_norm_rope takes it and a multiple of 4.
bool gemv_qk_norm_rope_supported(const at::Tensor& x, const at::Tensor& qkv_weight, int64_t q_heads,
                                 int64_t kv_heads, const at::Tensor& q_weight, const at::Tensor& k_weight,
                                 const at::Tensor& cos, const at::Tensor& sin);
// counters: int32 [H_q + H_kv] zeros on the weight's device, left zero by every launch; launches
// sharing them must not run at once (one set per layer).
ProjectedQkv gemv_qk_norm_rope(const at::Tensor& x, const at::Tensor& qkv_weight, int64_t q_heads, int64_t kv_heads,
                               const at::Tensor& q_weight, const at::Tensor& k_weight, double eps,
                               const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& counters);

// x·Wᵀ (+ bias) for a decode step's projections: one token on a CUDA device through gemv (1.08×
// cuBLAS over a 4B step's projections, though not on every shape alone, and it launches as a
// dependent: docs/perf.md), anything else through at::linear.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

}  // namespace trimvl::ops
