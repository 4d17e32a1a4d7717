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

// x·Wᵀ (+ bias) for a decode step's projections: one token on a CUDA device through gemv (1.08×
// cuBLAS over a 4B step's projections, though not on every shape alone, and it launches as a
// dependent: docs/perf.md), anything else through at::linear.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

}  // namespace trimvl::ops
