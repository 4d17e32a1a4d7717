#include "kernels/runtime/host_threads.h"

#include <ATen/Parallel.h>

#include <cstdlib>

#include "kernels/runtime/log.h"

namespace trimvl {

int host_threads_for(c10::Device device, const char* omp_num_threads, int current) {
  const bool chosen = omp_num_threads != nullptr && *omp_num_threads != '\0';
  return device.is_cuda() && !chosen ? 1 : current;
}

int fit_host_threads(c10::Device device) {
  const int current = at::get_num_threads();
  const int wanted = host_threads_for(device, std::getenv("OMP_NUM_THREADS"), current);
  if (wanted != current) {
    at::set_num_threads(wanted);
    log::debug("host: {} intra-op thread(s) instead of {}, the model being on {} (OMP_NUM_THREADS overrides)",
               wanted, current, device.str());
  }
  return at::get_num_threads();
}

}  // namespace trimvl
