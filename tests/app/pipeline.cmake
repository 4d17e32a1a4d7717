# The Qwen3-VL pipeline (app::Engine) and `trimvl ask` / `trimvl score` on the end-to-end golden
# snapshots (tests/golden/gen_qwen3vl_e2e.py). tests/app/CMakeLists.txt includes this file.
target_sources(app_golden_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/pipeline_golden_test.cpp")

set(_e2e "${TRIMVL_GOLDEN_DIR}/qwen3vl_e2e")
set(_ask "$<TARGET_FILE:trimvl>" ask -m "${_e2e}/gqa4/model" --dtype fp32 --device cpu --temperature 0
         --max-new-tokens 8)
# Runs a command that must fail: exit code 1 and the expected message on stderr.
# (Newlines, not semicolons, separate its statements: a semicolon would split the CMake list.)
set(_fails sh -c "out=$(\"$@\" 2>&1 >/dev/null)\nrc=$?\necho \"$out\"\ntest $rc -eq 1 && echo \"$out\" | grep -q \"$0\"")

add_test(NAME trimvl_ask_cli COMMAND ${_ask} --image "${_e2e}/media/image_a.safetensors" -p "What is in this picture?")
set_tests_properties(trimvl_ask_cli PROPERTIES
  PASS_REGULAR_EXPRESSION "tokens: [0-9]+ prompt \\([0-9]+ text, [0-9]+ image, 0 video\\), 8 generated")
add_test(NAME trimvl_score_cli_json
         COMMAND "$<TARGET_FILE:trimvl>" score -m "${_e2e}/odd/model" --dtype fp32 -p "Hi" --continuation "Hello there" --json)
set_tests_properties(trimvl_score_cli_json PROPERTIES PASS_REGULAR_EXPRESSION "\"total\": -[0-9]")

add_test(NAME trimvl_ask_cli_missing_image
         COMMAND ${_fails} "no such media file" ${_ask} --image "${_e2e}/media/absent.safetensors" -p "Hi")
add_test(NAME trimvl_ask_cli_not_frames
         COMMAND ${_fails} "frames" ${_ask} --image "${_e2e}/gqa4/model/model.safetensors" -p "Hi")
# gqa4's context is 4096 tokens; the prompt is 5000 words.
add_test(NAME trimvl_ask_cli_prompt_too_long
         COMMAND sh -c "p=$(printf 'word %.0s' $(seq 5000)); out=$(\"$@\" -p \"$p\" 2>&1 >/dev/null); rc=$?; echo \"$out\"; test $rc -eq 1 && echo \"$out\" | grep -q max_position_embeddings"
                 sh ${_ask})
set_tests_properties(trimvl_ask_cli trimvl_score_cli_json trimvl_ask_cli_missing_image trimvl_ask_cli_not_frames
                     trimvl_ask_cli_prompt_too_long PROPERTIES LABELS golden FIXTURES_REQUIRED golden)

# `trimvl chat` driven through stdin: an image turn, /stats, a missing image (reported, the chat goes
# on), a follow-up turn, /reset and a new conversation; exit 0, three answers.
set(_chat "$<TARGET_FILE:trimvl>" chat -m "${_e2e}/gqa4/model" --dtype fp32 --device cpu --temperature 0
          --max-new-tokens 6)
add_test(NAME trimvl_chat_cli
         COMMAND sh -c "printf '/image %s\\nWhat is in this picture?\\n/stats\\n/image /nonexistent.png\\nAnd now?\\n/reset\\nHi\\n' \"$0\" | \"$@\" >chat.out 2>chat.err\nrc=$?\ncat chat.out chat.err\ntest $rc -eq 0 && test $(grep -c . chat.out) -ge 3 && grep -q 'no such media file' chat.err && grep -q 'prompt ([0-9]* text, 6 image, 0 video)' chat.err && grep -q 'new conversation' chat.err"
                 "${_e2e}/media/image_a.safetensors" ${_chat})
set_tests_properties(trimvl_chat_cli PROPERTIES LABELS golden FIXTURES_REQUIRED golden)

# Bounded KV caches through the engine and `trimvl ask`: gqa4 with the rg10 gates gen_trimkv_e2e.py
# wrote for the same shape.
target_sources(app_golden_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/kv_pipeline_golden_test.cpp")
# One engine across KV policies and the media cache (what `trimvl eval`'s sweeps rely on).
target_sources(app_golden_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/engine_sweep_golden_test.cpp")
set(_gates "${TRIMVL_GOLDEN_DIR}/trimkv_e2e/gates-rg10")
add_test(NAME trimvl_ask_cli_dbtrimkv_trace
         COMMAND sh -c "\"$@\" --trace kv.trace >/dev/null 2>ask.err || exit 1\ncat ask.err\n\"$0\" trace kv.trace"
                 "$<TARGET_FILE:trimvl>" ${_ask} --image "${_e2e}/media/image_a.safetensors" -p "What is in this picture?"
                 --kv-policy dbtrimkv --kv-budget 4 --kv-buffer 2 --prefill-chunk 8 --gates "${_gates}")
set_tests_properties(trimvl_ask_cli_dbtrimkv_trace PROPERTIES
  PASS_REGULAR_EXPRESSION "dbtrimkv fixed_budget M=4 B=2: [0-9]+ tokens held.*evictions")
add_test(NAME trimvl_ask_cli_bad_budget
         COMMAND ${_fails} "kv-budget must be a positive" ${_ask} -p "Hi" --kv-policy trimkv --kv-budget 0 --gates "${_gates}")
add_test(NAME trimvl_ask_cli_policy_without_gates
         COMMAND ${_fails} "needs retention gates" ${_ask} -p "Hi" --kv-policy dbtrimkv --kv-budget 4)
set_tests_properties(trimvl_ask_cli_dbtrimkv_trace trimvl_ask_cli_bad_budget trimvl_ask_cli_policy_without_gates
                     PROPERTIES LABELS golden FIXTURES_REQUIRED golden)
