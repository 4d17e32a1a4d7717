# Qwen3-VL prompt assembly and sampling tests, compiled into the language layer's unit and golden
# binaries (tests/language/CMakeLists.txt defines them and includes this file).
target_sources(language_unit_tests PRIVATE
  "${CMAKE_CURRENT_LIST_DIR}/qwen3vl_chat_format_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/qwen3vl_prompt_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/qwen3vl_rope_index_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/sampling_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/stop_criteria_test.cpp")
target_link_libraries(language_unit_tests PRIVATE trimvl_language)

target_sources(language_golden_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/qwen3vl_prompt_golden_test.cpp")
target_link_libraries(language_golden_tests PRIVATE trimvl_language)
