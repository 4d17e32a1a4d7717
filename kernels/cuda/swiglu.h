#pragma once
// Launcher of the SwiGLU activation kernel (swiglu.cu): out = T(T(silu(gate)) · up), as ATen's
// at::silu(gate) * up computes it on the device in the activation type T — silu(g) =
// g / (1 + expf(−g)) in fp32 from the stored value, rounded to T, then the rounded product.
// Torch-free; kernels/ops/swiglu.cpp checks tensors and turns the cudaError_t into an Error.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

struct SiluMulArgs {
  DType dtype = DType::BFloat16;
  int64_t rows = 0;
  int64_t width = 0;            // a multiple of the vector width
  const void* gate = nullptr;   // row r at gate + r · gate_stride
  int64_t gate_stride = 0;      // elements; a multiple of the vector width unless rows <= 1
  const void* up = nullptr;     // row r at up + r · up_stride (e.g. the second half of a fused
  int64_t up_stride = 0;        // gate_up projection's row)
  void* out = nullptr;          // [rows, width]
};
// All pointers 16-byte aligned.
cudaError_t silu_mul(const SiluMulArgs& args, cudaStream_t stream);

}  // namespace trimvl::cuda
