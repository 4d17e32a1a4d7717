#pragma once
// RMSNorm on CUDA at the ATen level, alone and fused with the residual add before it
// (kernels/cuda/rms_norm.h has the kernel and its numerics). The reference they must match is
// language/qwen3vl/rms_norm.cpp's ATen code run on the same device. They launch on the current
// stream, allocate only their outputs and never synchronise with the host, so they can be
// captured in a CUDA graph. Callers ask *_supported first and take the ATen code otherwise.
#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// Whether the kernel takes x [..., dim] with weight [dim]: a CUDA build; contiguous, 16-byte
// aligned CUDA tensors of one device and one dtype (fp32, fp16 or bf16); dim a multiple of 4
// (fp32) or 8 elements, at most 4096 such vectors.
bool rms_norm_supported(const at::Tensor& x, const at::Tensor& weight);
// weight · T(x · rsqrt(mean(x²) + eps)), normalised in fp32; x's shape and dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

struct ResidualNorm {
  at::Tensor sum;     // x + residual, rounded once to the dtype as ATen's add
  at::Tensor normed;  // rms_norm(sum, weight, eps)
};
// As rms_norm_supported, and `residual` is like x.
bool add_rms_norm_supported(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight);
// Which kernel may have written add_rms_norm's x last. The kernel may start while the one launched
// just before it still runs, never while an earlier one does (kernels/cuda/dependent_launch.cuh).
// kEarlier: x was written before that kernel — the stream a pre-norm block read, where the kernel
// before wrote the block's output as `residual` — so it is read before the dependent wait, off
// the critical path. kPrevious promises nothing.
enum class LastWriterOfX { kPrevious, kEarlier };
ResidualNorm add_rms_norm(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight, double eps,
                          LastWriterOfX x_writer = LastWriterOfX::kPrevious);

}  // namespace trimvl::ops
