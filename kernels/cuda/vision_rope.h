#pragma once
// Launcher of the vision blocks' rotary embedding (vision_rope.cu): for q and k of one vision
// attention in one launch, T(x·cos + rotate_half(x)·sin) with x widened to float32 and cos/sin the
// float32 tables — the ATen chain of vision/qwen3vl/vision_rotary.cpp (to(float), mul, neg/cat,
// mul, add, to(T)), each fp32 product and the sum rounded once as those ops round them, so results
// are bit-identical. Torch-free; kernels/ops/vision_rope.cpp checks tensors and turns the
// cudaError_t into an Error.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

struct VisionRopeArgs {
  DType dtype = DType::BFloat16;
  int64_t tokens = 0;
  int heads = 0;
  int head_dim = 0;              // even
  const void* q = nullptr;       // token t, head h at q + t · token_stride + h · head_dim
  const void* k = nullptr;
  int64_t token_stride = 0;      // elements, shared by q and k (views of one qkv projection)
  const float* cos = nullptr;    // [tokens, head_dim]
  const float* sin = nullptr;
  void* q_out = nullptr;         // [tokens, heads, head_dim]
  void* k_out = nullptr;
};
cudaError_t vision_rope(const VisionRopeArgs& args, cudaStream_t stream);

}  // namespace trimvl::cuda
