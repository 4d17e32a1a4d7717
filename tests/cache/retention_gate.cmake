# Retention-gate tests, in the layer's unit and golden binaries (kept in this file so branches
# editing the layer's CMakeLists.txt do not collide).
target_sources(cache_unit_tests PRIVATE retention_gate_test.cpp)
target_sources(cache_golden_tests PRIVATE retention_gate_golden_test.cpp)
