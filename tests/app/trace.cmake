# Retention traces (app/trace): the file format, the recorder and summary, the renderer (media
# builds), and `trimvl trace` through the built binary. tests/app/CMakeLists.txt includes this file.
target_sources(app_unit_tests PRIVATE
  "${CMAKE_CURRENT_LIST_DIR}/trace_fixture.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/trace_file_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/trace_cli_test.cpp")
if(TRIMVL_MEDIA)
  target_sources(app_unit_tests PRIVATE "${CMAKE_CURRENT_LIST_DIR}/trace_render_test.cpp")
endif()
target_compile_definitions(app_unit_tests PRIVATE TRIMVL_TEST_VERSION="${PROJECT_VERSION}")
add_dependencies(app_unit_tests trimvl)  # the CLI tests run it
