# Qwen3-VL text decoder tests, one binary per label (kept in this file so branches adding their
# own language/ tests do not collide). The tiny-checkpoint writer serves the unit and GPU binaries.
add_library(qwen3vl_tiny_checkpoint STATIC qwen3vl_tiny_checkpoint.cpp)
target_link_libraries(qwen3vl_tiny_checkpoint PUBLIC trimvl_test_support trimvl_kernels PRIVATE trimvl_warnings)
trimvl_use_torch_pch(qwen3vl_tiny_checkpoint)

trimvl_add_gtest(qwen3vl_text_unit_tests LABELS unit
  SOURCES qwen3vl_text_test.cpp qwen3vl_decode_graph_test.cpp
  LINKS trimvl_language qwen3vl_tiny_checkpoint)

trimvl_add_gtest(qwen3vl_text_golden_tests LABELS golden GOLDEN
  SOURCES qwen3vl_text_golden_test.cpp
  LINKS trimvl_language)

trimvl_add_gtest(qwen3vl_text_gpu_tests LABELS gpu
  SOURCES qwen3vl_text_gpu_test.cpp
  LINKS trimvl_language qwen3vl_tiny_checkpoint)
