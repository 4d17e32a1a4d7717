# TrimKV/DBTrimKV end to end against trimkv 0.1.5 (the decoder with gates + the paged cache and its
# policies), in the Qwen3-VL text decoder's golden binary (kept in this file so branches editing the
# layer's CMakeLists.txt do not collide).
target_sources(qwen3vl_text_golden_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/trimkv_e2e_golden_test.cpp")
