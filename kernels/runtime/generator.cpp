#include "kernels/runtime/generator.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>

#include "kernels/runtime/error.h"

namespace trimvl {

at::Generator seeded_generator(c10::Device device, uint64_t seed) {
  if (device.is_cpu()) return at::detail::createCPUGenerator(seed);
  if (device.is_cuda()) {
    at::Generator g = at::detail::getCUDAHooks().getNewGenerator(device.index());
    g.set_current_seed(seed);
    return g;
  }
  throw Error(fmt::format("random numbers on {} are not supported (CPU or CUDA only)", device.str()),
              Error::Kind::Unsupported);
}

}  // namespace trimvl
