#include "kernels/ops/cuda_support.h"

#include <fmt/format.h>

#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace trimvl::ops {

bool cuda_kernels_built() {
#ifdef TRIMVL_HAS_CUDA
  return true;
#else
  return false;
#endif
}

void* current_stream(const c10::Device& device) {
#ifdef TRIMVL_HAS_CUDA
  TRIMVL_CHECK(device.is_cuda(), "a CUDA stream for {}", device.str());
  return c10::cuda::getCurrentCUDAStream(device.has_index() ? device.index() : -1).stream();
#else
  throw Error(fmt::format("this build of trimvl has no CUDA kernels (configure with TRIMVL_CUDA=ON) for {}",
                          device.str()),
              Error::Kind::Unsupported);
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
