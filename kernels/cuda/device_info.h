#pragma once
// What the launchers size grids by, asked of the driver once per device and kept: an eager decode
// step launches hundreds of kernels, and the answers never change while the process runs.
#include <cuda_runtime_api.h>

namespace trimvl::cuda {

// The streaming multiprocessors of `device`: what a grid's waves are counted in.
cudaError_t multiprocessor_count(int device, int& sms);
// The same for the calling thread's current device.
cudaError_t current_multiprocessor_count(int& sms);

}  // namespace trimvl::cuda
