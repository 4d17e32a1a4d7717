#pragma once
// What the ATen-facing ops need of CUDA without including its headers: whether this build has the
// CUDA kernels, whether a tensor can take them, and the current stream of a device.
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "kernels/cuda/dtype.h"

namespace trimvl::ops {

// True when trimvl was built with its CUDA kernels (TRIMVL_CUDA) — not whether a GPU is present.
bool cuda_kernels_built();

// The tensor is on a CUDA device and this build has kernels for it.
inline bool on_cuda_kernels(const at::Tensor& t) { return t.defined() && t.is_cuda() && cuda_kernels_built(); }

// The kernels' element type for `type` (fp32, fp16, bf16); nullopt for any other type.
std::optional<cuda::DType> cuda_dtype(c10::ScalarType type);
// The tensor's data can be read and written in 16-byte vectors (kernels/cuda/vector_io.cuh).
bool aligned_16(const at::Tensor& t);
// "[2, 64] bf16 on cuda:0" ("undefined" for an undefined tensor), for the ops' error messages.
std::string describe(const at::Tensor& t);

// Host data on `device` without blocking the host: on CUDA through pinned memory (the caching host
// allocator keeps the buffer until the copy has run), so the host keeps queueing work instead of
// waiting for the device to drain, as a copy from pageable memory makes it; elsewhere a plain copy.
at::Tensor to_device_async(const at::Tensor& host, const c10::Device& device);

// The current CUDA stream of `device` as an opaque cudaStream_t (what every launch goes on, so
// that work captured into a CUDA graph stays in it). Throws Unsupported in a CPU-only build.
void* current_stream(const c10::Device& device);
// The streaming multiprocessors of `device`: what a grid's waves are counted in. Throws
// Unsupported in a CPU-only build.
int multiprocessor_count(const c10::Device& device);
// A non-success cudaError_t (as int) becomes a trimvl::Error (Internal) naming `what`.
void check_cuda(int error, const char* what);

}  // namespace trimvl::ops
