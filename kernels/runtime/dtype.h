#pragma once
// User-facing names for dtypes and devices (--dtype, --device), in one place.
#include <string>
#include <string_view>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace trimvl {

// "bf16" | "bfloat16" | "fp16" | "float16" | "half" | "fp32" | "float32" | "float";
// throws trimvl::Error naming the accepted spellings otherwise.
c10::ScalarType parse_dtype(std::string_view name);
// Short name used in output: "bf16", "fp16", "fp32", else c10's name.
std::string dtype_name(c10::ScalarType type);

// "cpu" | "cuda" | "cuda:N". Checks that CUDA is present and N is in range, so the error comes
// before any model work.
c10::Device parse_device(std::string_view name);
bool cuda_available();
int cuda_device_count();

}  // namespace trimvl
