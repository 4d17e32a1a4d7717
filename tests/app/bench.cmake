# `trimvl bench` (app/bench): the random Qwen3-VL checkpoint against the 4B's tensor list, and the
# command on a tiny config through the built binary. tests/app/CMakeLists.txt includes this file.
target_sources(app_unit_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/bench_test.cpp")
target_compile_definitions(app_unit_tests PRIVATE
  TRIMVL_TEST_BENCH_CONFIG="${PROJECT_SOURCE_DIR}/assets/configs/qwen3vl-4b.json")
