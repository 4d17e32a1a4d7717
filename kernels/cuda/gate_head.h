#pragma once
// Launcher of the retention gate's output head (gate_head.cu): log β = T(logsigmoid(T(T(W · T(silu(h)))
// + b))) per token and kv head, from the last hidden projection's output h — the four ATen ops
// at::silu, at::linear (bias-free), the bias add and at::log_sigmoid of cache/retention_gate.cpp in
// one launch, each result rounded to the activation type T where the ATen op stores it. The dot
// product sums in fp32 in another order than cuBLAS, so results may differ from ATen's by an ulp.
// Torch-free; kernels/ops/gate_head.cpp checks tensors and turns the cudaError_t into an Error.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

struct GateHeadArgs {
  DType dtype = DType::BFloat16;
  int64_t rows = 0;             // tokens
  int width = 0;                // hidden width I, a multiple of the vector width
  int heads = 0;                // kv heads, 1..32
  const void* hidden = nullptr;  // [rows, I], before the activation
  const void* weight = nullptr;  // [heads, I]
  const void* bias = nullptr;    // [heads]
  void* out = nullptr;           // [rows, heads]
};
// hidden and weight 16-byte aligned.
cudaError_t gate_head(const GateHeadArgs& args, cudaStream_t stream);

}  // namespace trimvl::cuda
