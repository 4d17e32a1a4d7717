# Paged KV cache tests, in the layer's unit binary (kept in this file so branches editing the
# layer's CMakeLists.txt do not collide).
target_sources(cache_unit_tests PRIVATE paged_kv_cache_test.cpp)

trimvl_add_gtest(cache_gpu_tests LABELS gpu
  SOURCES paged_kv_cache_gpu_test.cpp paged_decode_gpu_test.cpp
  LINKS trimvl_cache)

# The decode-attention kernel's read rate at 4B shape (docs/perf.md); built with the CUDA kernels.
if(TRIMVL_CUDA_ENABLED)
  add_executable(paged_decode_bench "${PROJECT_SOURCE_DIR}/tests/bench/paged_decode_bench.cpp")
  target_link_libraries(paged_decode_bench PRIVATE trimvl_kernels trimvl_warnings)
  trimvl_use_torch_pch(paged_decode_bench)
  add_dependencies(device_checks paged_decode_bench)
endif()
