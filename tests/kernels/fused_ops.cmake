# The fused elementwise kernels (kernels/ops/{rms_norm,rotary,swiglu}.h): their CPU-side contract
# in the unit binary, the kernels against ATen on the device in the GPU binary. Kept in this file
# so branches adding other kernel tests do not collide in CMakeLists.txt.
target_sources(kernels_unit_tests PRIVATE fused_ops_test.cpp decode_split_test.cpp)

trimvl_add_gtest(kernels_ops_gpu_tests LABELS gpu
  SOURCES fused_ops_gpu_test.cpp
  LINKS trimvl_kernels)

# A decode step's matrix products at 4B shape through cuBLAS and through ops::gemv (docs/perf.md);
# built with the CUDA kernels.
if(TRIMVL_CUDA_ENABLED)
  add_executable(gemv_bench "${PROJECT_SOURCE_DIR}/tests/bench/gemv_bench.cpp")
  target_link_libraries(gemv_bench PRIVATE trimvl_kernels trimvl_warnings)
  trimvl_use_torch_pch(gemv_bench)
  add_dependencies(device_checks gemv_bench)
  # What a kernel boundary costs apart from any work: stream order, dependent launch, a counter
  # handoff, a persistent grid (docs/perf.md, run M). The CUDA kernels' library only, no LibTorch.
  add_executable(boundary_bench "${PROJECT_SOURCE_DIR}/tests/bench/boundary_bench.cu")
  target_include_directories(boundary_bench PRIVATE "${PROJECT_SOURCE_DIR}")
  target_link_libraries(boundary_bench PRIVATE trimvl_cuda_kernels)
  add_dependencies(device_checks boundary_bench)
endif()
