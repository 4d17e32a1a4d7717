#pragma once
// The retention gate's output head on CUDA at the ATen level (kernels/cuda/gate_head.h has the kernel
// and its numerics): log_sigmoid(linear(silu(hidden), weight) + bias) in one launch. The reference it
// must match is that ATen chain on the same device (cache/retention_gate.cpp). Launched on the
// current stream, allocating only its output, never synchronising with the host, so a decode step
// with gates can be captured in a CUDA graph. Callers ask gate_head_supported first and take the
// ATen code otherwise.
#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// hidden [rows, I] contiguous, weight [heads ≤ 32, I] contiguous, bias [heads]: CUDA tensors of one
// device and dtype (fp32, fp16, bf16), I a multiple of 16 bytes, 16-byte aligned, a CUDA build.
bool gate_head_supported(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& bias);
// [rows, heads] in the inputs' dtype.
at::Tensor gate_head(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace trimvl::ops
