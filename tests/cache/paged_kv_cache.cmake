# Paged KV cache tests, in the layer's unit binary (kept in this file so branches editing the
# layer's CMakeLists.txt do not collide).
target_sources(cache_unit_tests PRIVATE paged_kv_cache_test.cpp)

trimvl_add_gtest(cache_gpu_tests LABELS gpu
  SOURCES paged_kv_cache_gpu_test.cpp paged_decode_gpu_test.cpp
  LINKS trimvl_cache)
