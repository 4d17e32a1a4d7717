#pragma once
// The activation element types the CUDA kernels are instantiated for, named without CUDA or torch
// headers so that launch-argument structs can be filled from plain C++ (kernels/ops/*.cpp).
namespace trimvl::cuda {

enum class DType { Float32, Float16, BFloat16 };

// Elements per 16-byte access (vector_io.cuh), the unit in which the kernels read and write rows:
// a row length or stride they take must be a multiple of it.
constexpr int vector_width(DType dtype) { return dtype == DType::Float32 ? 4 : 8; }

}  // namespace trimvl::cuda
