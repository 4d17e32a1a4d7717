#include "kernels/runtime/dtype.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAContextLight.h>

#include "kernels/runtime/error.h"

namespace trimvl {

c10::ScalarType parse_dtype(std::string_view name) {
  if (name == "bf16" || name == "bfloat16") return c10::kBFloat16;
  if (name == "fp16" || name == "float16" || name == "half") return c10::kHalf;
  if (name == "fp32" || name == "float32" || name == "float") return c10::kFloat;
  throw Error(fmt::format("unknown dtype '{}' (expected bf16, fp16 or fp32)", name));
}

std::string dtype_name(c10::ScalarType type) {
  switch (type) {
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    case c10::kFloat: return "fp32";
    default: return c10::toString(type);
  }
}

bool cuda_available() { return at::hasCUDA() && cuda_device_count() > 0; }

int cuda_device_count() {
  if (!at::hasCUDA()) return 0;
  return static_cast<int>(at::detail::getCUDAHooks().deviceCount());
}

c10::Device parse_device(std::string_view name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    int index = 0;
    if (name.size() > 4) {
      TRIMVL_CHECK_ARG(name[4] == ':' && name.size() > 5, "invalid device '{}' (expected cpu, cuda or cuda:N)", name);
      try {
        size_t used = 0;
        index = std::stoi(std::string(name.substr(5)), &used);
        TRIMVL_CHECK_ARG(used == name.size() - 5 && index >= 0, "invalid device '{}' (expected cpu, cuda or cuda:N)", name);
      } catch (const std::logic_error&) {
        throw Error(fmt::format("invalid device '{}' (expected cpu, cuda or cuda:N)", name));
      }
    }
    const int count = cuda_device_count();
    if (count == 0) throw Error(fmt::format("device '{}' requested but no CUDA device is available", name), Error::Kind::Unsupported);
    TRIMVL_CHECK_ARG(index < count, "device '{}' requested but only {} CUDA device(s) exist", name, count);
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error(fmt::format("invalid device '{}' (expected cpu, cuda or cuda:N)", name));
}

}  // namespace trimvl
