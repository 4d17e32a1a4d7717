#pragma once
// Random generators per device, for reproducible draws that leave torch's default generators alone.
#include <cstdint>

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

namespace trimvl {

// A fresh generator of `device`'s kind, seeded as torch.manual_seed(seed) seeds the default one.
// Throws Unsupported for devices other than CPU and CUDA.
at::Generator seeded_generator(c10::Device device, uint64_t seed);

}  // namespace trimvl
