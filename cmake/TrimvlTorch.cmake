# LibTorch: from CMAKE_PREFIX_PATH / Torch_DIR, else from the reference venv's torch wheel
# (TRIMVL_PYTHON), else from any python3 on PATH that has torch.
if(NOT Torch_DIR)
  foreach(py IN ITEMS "${TRIMVL_PYTHON}" python3)
    if(py)
      execute_process(COMMAND "${py}" -c "import torch; print(torch.utils.cmake_prefix_path)"
                      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                      RESULT_VARIABLE _torch_rc ERROR_QUIET)
      if(_torch_rc EQUAL 0 AND _torch_prefix)
        list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
        break()
      endif()
    endif()
  endforeach()
endif()

# CUDA kernels are optional: decided before Torch so Torch's own CUDA detection sees the same
# toolkit we compile with (nvcc's major version must match the wheel's CUDA).
set(TRIMVL_CUDA_ENABLED OFF)
if(NOT TRIMVL_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 has no CUDA 20 flags for nvcc 13; our kernels need C++17 only.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    set(TRIMVL_CUDA_ENABLED ON)
  elseif(TRIMVL_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TRIMVL_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
endif()

# Without this Torch probes the build machine's GPUs (there are none on CI or dev machines).
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "9.0")
endif()
find_package(Torch REQUIRED)
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")

# What our torch-using targets link instead of `torch`. The wheel ships fmt 12 headers, and its
# include directory shadows Debian's fmt 9 (which spdlog is built against) in every translation
# unit that sees torch; those units use fmt header-only. fmt's versioned inline namespaces keep
# the two apart, and spdlog is only ever compiled in torch-free units (kernels/runtime).
#
# libtorch.so (the 2.11 wheel) also exports std::filesystem functions built against a newer
# libstdc++; its remove_all calls recursive_directory_iterator::__erase through a weak reference
# that Debian 12's libstdc++ leaves null (a crash). The dynamic linker takes the first definition
# in DT_NEEDED order, so libstdc++ goes ahead of torch.
add_library(trimvl_torch INTERFACE)
target_link_libraries(trimvl_torch INTERFACE
  "$<$<CXX_COMPILER_ID:GNU,Clang>:-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state>" torch)
target_compile_definitions(trimvl_torch INTERFACE FMT_HEADER_ONLY=1)

option(TRIMVL_PCH "Precompile the ATen headers for torch-using targets" ON)
add_library(trimvl_torch_pch STATIC "${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp")
target_link_libraries(trimvl_torch_pch PUBLIC trimvl_torch PRIVATE trimvl_warnings)
if(TRIMVL_PCH)
  target_precompile_headers(trimvl_torch_pch PRIVATE <ATen/ATen.h> <vector> <string> <memory>)
endif()
