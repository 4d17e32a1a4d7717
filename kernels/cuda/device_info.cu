#include "kernels/cuda/device_info.h"

#include <map>
#include <mutex>

namespace trimvl::cuda {

cudaError_t multiprocessor_count(int device, int& sms) {
  static std::mutex mutex;
  static std::map<int, int> known;
  const std::lock_guard lock(mutex);
  int& count = known[device];
  if (count == 0) {
    if (const cudaError_t status = cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
        status != cudaSuccess)
      return status;
  }
  sms = count;
  return cudaSuccess;
}

cudaError_t current_multiprocessor_count(int& sms) {
  int device = 0;
  if (const cudaError_t status = cudaGetDevice(&device); status != cudaSuccess) return status;
  return multiprocessor_count(device, sms);
}

}  // namespace trimvl::cuda
