# The built-in evaluation dataset (assets/eval): the committed files must be what its generator
# writes, so nobody edits a sample by hand or forgets to commit a regeneration. The script skips
# (exit 77) where numpy, Pillow or the ffmpeg CLI are missing. tests/app/CMakeLists.txt includes this file.
if(TRIMVL_PYTHON)
  set(_eval_assets "${PROJECT_SOURCE_DIR}/assets/eval")
  add_test(NAME eval_builtin_assets
           COMMAND "${TRIMVL_PYTHON}" "${_eval_assets}/make_builtin.py" --check "${_eval_assets}/builtin")
  set_tests_properties(eval_builtin_assets PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
