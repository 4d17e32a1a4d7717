#include "kernels/ops/cuda_support.h"

#include <cstdint>
#include <cstring>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/device_info.h"
#endif

namespace trimvl::ops {

#ifndef TRIMVL_HAS_CUDA
namespace {
[[noreturn]] void no_cuda_kernels(const c10::Device& device) {
  throw Error(fmt::format("this build of trimvl has no CUDA kernels (configure with TRIMVL_CUDA=ON) for {}",
                          device.str()),
              Error::Kind::Unsupported);
}
}  // namespace
#endif

bool cuda_kernels_built() {
#ifdef TRIMVL_HAS_CUDA
  return true;
#else
  return false;
#endif
}

std::optional<cuda::DType> cuda_dtype(c10::ScalarType type) {
  switch (type) {
    case c10::kFloat: return cuda::DType::Float32;
    case c10::kHalf: return cuda::DType::Float16;
    case c10::kBFloat16: return cuda::DType::BFloat16;
    default: return std::nullopt;
  }
}

bool aligned_16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

std::string describe(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  return fmt::format("{} {} on {}", t.sizes(), dtype_name(t.scalar_type()), t.device().str());
}

at::Tensor to_device_async(const at::Tensor& host, const c10::Device& device) {
  if (!device.is_cuda() || !host.is_cpu()) return host.to(device);
  // A pinned buffer from the caching host allocator, filled here: Tensor::pin_memory() first asks
  // the driver whether the memory is pinned already, which took ~0.1 ms a call on the GPU machine
  // (an eviction's profile), and a prefill uploads a few tables per layer.
  const at::Tensor src = host.contiguous();
  at::Tensor staged = at::empty(src.sizes(), src.options().pinned_memory(true));
  std::memcpy(staged.data_ptr(), src.data_ptr(), src.nbytes());
  return staged.to(device, /*non_blocking=*/true);
}

void* current_stream(const c10::Device& device) {
#ifdef TRIMVL_HAS_CUDA
  TRIMVL_CHECK(device.is_cuda(), "a CUDA stream for {}", device.str());
  return c10::cuda::getCurrentCUDAStream(device.has_index() ? device.index() : -1).stream();
#else
  no_cuda_kernels(device);
#endif
}

int multiprocessor_count(const c10::Device& device) {
#ifdef TRIMVL_HAS_CUDA
  TRIMVL_CHECK(device.is_cuda(), "the multiprocessor count of {}", device.str());
  int sms = 0;
  check_cuda(cuda::multiprocessor_count(device.index() < 0 ? 0 : device.index(), sms), "multiprocessor count");
  return sms;
#else
  no_cuda_kernels(device);
#endif
}

void check_cuda(int error, const char* what) {
#ifdef TRIMVL_HAS_CUDA
  if (error != 0)
    throw Error(fmt::format("CUDA error in {}: {} ({})", what, cudaGetErrorString(static_cast<cudaError_t>(error)),
                            cudaGetErrorName(static_cast<cudaError_t>(error))),
                Error::Kind::Internal);
#else
  TRIMVL_CHECK(error == 0, "CUDA error {} in {}", error, what);
#endif
}

}  // namespace trimvl::ops
