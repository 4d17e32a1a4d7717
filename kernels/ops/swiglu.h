#pragma once
// SwiGLU's activation silu(gate) · up on CUDA at the ATen level (kernels/cuda/swiglu.h has the
// kernel and its numerics). The reference it must match is `at::silu(gate) * up` on the same
// device (language/qwen3vl/text_mlp.cpp). Launched on the current stream, allocating only its
// output, never synchronising with the host, so it can be captured in a CUDA graph. Callers ask
// silu_mul_supported first and take the ATen code otherwise.
#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// gate and up [rows, width] may be views into wider rows (the halves of a fused gate_up
// projection's output): elements contiguous within a row, row strides and width multiples of 16
// bytes, 16-byte aligned CUDA tensors of one device and dtype (fp32, fp16, bf16), a CUDA build.
bool silu_mul_supported(const at::Tensor& gate, const at::Tensor& up);
// Contiguous [rows, width] in the inputs' dtype.
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);

}  // namespace trimvl::ops
