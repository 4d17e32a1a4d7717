# Qwen3-VL vision (vision/qwen3vl): processors and encoder. One binary per label; the random
# checkpoint builder is shared by the unit and GPU tests.
add_library(qwen3vl_test_checkpoint STATIC qwen3vl_checkpoint.cpp)
target_link_libraries(qwen3vl_test_checkpoint PUBLIC trimvl_vision trimvl_test_support PRIVATE trimvl_warnings)
trimvl_use_torch_pch(qwen3vl_test_checkpoint)

trimvl_add_gtest(qwen3vl_vision_unit_tests LABELS unit
  SOURCES qwen3vl_processor_test.cpp qwen3vl_encoder_test.cpp
  LINKS trimvl_vision qwen3vl_test_checkpoint)

trimvl_add_gtest(qwen3vl_vision_golden_tests LABELS golden GOLDEN
  SOURCES qwen3vl_golden_test.cpp
  LINKS trimvl_vision)

trimvl_add_gtest(qwen3vl_vision_gpu_tests LABELS gpu
  SOURCES qwen3vl_gpu_test.cpp
  LINKS trimvl_vision qwen3vl_test_checkpoint)
