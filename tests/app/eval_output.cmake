# `trimvl eval`'s outputs (app/eval): the samples journal and its resume after SIGKILL, the run
# directory, results JSON, CSV, progress line, summary table and (media builds) the charts.
# tests/app/CMakeLists.txt includes this file.
set(_eval_dir "${CMAKE_CURRENT_LIST_DIR}/eval")
trimvl_add_gtest(app_eval_output_tests LABELS unit
  SOURCES
    "${_eval_dir}/sample_journal_test.cpp"
    "${_eval_dir}/sample_record_test.cpp"
    "${_eval_dir}/run_directory_test.cpp"
    "${_eval_dir}/results_json_test.cpp"
    "${_eval_dir}/summary_test.cpp"
    "${_eval_dir}/progress_test.cpp"
  LINKS trimvl_app)
if(TRIMVL_MEDIA)
  target_sources(app_eval_output_tests PRIVATE "${_eval_dir}/plots_test.cpp")
endif()
