#pragma once
// 16-byte loads and stores of activation rows, converted to and from float registers, for the
// three activation dtypes, and the dispatch from a runtime dtype to them. One place for it, so every
// kernel reads memory the same (wide) way.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

// Calls f(T{}) with the element type of `dtype` (float, __half or __nv_bfloat16): the one place a
// launcher turns the runtime dtype into a template argument.
template <typename F>
cudaError_t with_element_type(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float16: return f(__half{});
    case DType::BFloat16: return f(__nv_bfloat16{});
  }
  return cudaErrorInvalidValue;
}

template <typename T>
struct Vec {
  static constexpr int kSize = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte access
};

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// p must be 16-byte aligned.
template <typename T>
__device__ __forceinline__ uint4 load16(const T* p) { return *reinterpret_cast<const uint4*>(p); }

template <typename T>
__device__ __forceinline__ void unpack(const uint4& raw, float (&out)[Vec<T>::kSize]) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < Vec<T>::kSize; ++i) out[i] = to_float(e[i]);
}

template <typename T>
__device__ __forceinline__ uint4 pack(const float (&in)[Vec<T>::kSize]) {
  uint4 raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < Vec<T>::kSize; ++i) e[i] = from_float<T>(in[i]);
  return raw;
}

template <typename T>
__device__ __forceinline__ void store16(T* p, const float (&in)[Vec<T>::kSize]) {
  *reinterpret_cast<uint4*>(p) = pack<T>(in);
}

}  // namespace trimvl::cuda
