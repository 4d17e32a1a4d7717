# `trimvl eval` (app/eval/): the run on the golden snapshot gqa4 with trimkv_e2e's rg10 gates, and
# the command line on the built-in dataset — killed with SIGKILL at three moments and resumed.
# tests/app/CMakeLists.txt includes this file.
target_sources(app_golden_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/eval_golden_test.cpp")

set(_eval_model "${TRIMVL_GOLDEN_DIR}/qwen3vl_e2e/gqa4/model")
set(_eval_gates "${TRIMVL_GOLDEN_DIR}/trimkv_e2e/gates-rg10")
set(_eval_args -m "${_eval_model}" --device cpu --dtype fp32 --kv-policy full,dbtrimkv --kv-budget 4,8 --kv-buffer 2
               --prefill-chunk 16 --gates "${_eval_gates}" --max-new-tokens 6)
# The built-in dataset's images and videos are PNG and MP4: a media build reads them.
if(TRIMVL_MEDIA)
  add_test(NAME trimvl_eval_kill_resume
           COMMAND "${TRIMVL_PYTHON}" "${CMAKE_CURRENT_LIST_DIR}/eval_kill_resume.py" "$<TARGET_FILE:trimvl>"
                   "${CMAKE_CURRENT_BINARY_DIR}/eval_kill_resume" -- ${_eval_args} --limit 2)
  set_tests_properties(trimvl_eval_kill_resume PROPERTIES LABELS golden FIXTURES_REQUIRED golden
                       PASS_REGULAR_EXPRESSION "ok: [0-9]+ samples after 3 kills")
endif()
add_test(NAME trimvl_eval_cli_bad_dataset
         COMMAND ${_fails} "line 1" "$<TARGET_FILE:trimvl>" eval ${_eval_args} --strict --output-dir eval-bad
                 --dataset "${CMAKE_CURRENT_LIST_DIR}/../data/eval/bad.jsonl")
set_tests_properties(trimvl_eval_cli_bad_dataset PROPERTIES LABELS golden FIXTURES_REQUIRED golden)
