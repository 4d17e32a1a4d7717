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
    # Our kernels and the wheel's libtorch_cuda share one CUDA runtime, so nvcc must be the major
    # version the wheel was built for (13 for torch 2.11's PyPI wheel).
    if(TRIMVL_PYTHON)
      execute_process(COMMAND "${TRIMVL_PYTHON}" -c "import torch; print(torch.version.cuda or '')"
                      OUTPUT_VARIABLE _torch_cuda OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      string(REGEX MATCH "^[0-9]+" _torch_cuda_major "${_torch_cuda}")
      string(REGEX MATCH "^[0-9]+" _nvcc_major "${CMAKE_CUDA_COMPILER_VERSION}")
      if(_torch_cuda_major AND NOT _torch_cuda_major STREQUAL _nvcc_major)
        message(FATAL_ERROR "nvcc ${CMAKE_CUDA_COMPILER_VERSION} (${CMAKE_CUDA_COMPILER}) does not match the CUDA "
                            "${_torch_cuda} that torch was built with; point CMAKE_CUDA_COMPILER at a CUDA "
                            "${_torch_cuda_major}.x nvcc, or configure with -DTRIMVL_CUDA=OFF")
      endif()
    endif()
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

# The PyPI wheel is a CUDA build, and its TorchConfig.cmake refuses to configure without a CUDA
# toolkit. The CPU half of it (libtorch_cpu + libc10) needs none: its CUDA runtime dependencies
# resolve inside the venv through the library's own RPATH. So on a machine without a toolkit we
# import that half ourselves and build CPU-only.
find_package(CUDAToolkit QUIET)
find_file(_torch_config TorchConfig.cmake PATHS ${CMAKE_PREFIX_PATH} "${Torch_DIR}"
          PATH_SUFFIXES Torch NO_DEFAULT_PATH)
if(NOT CUDAToolkit_FOUND AND _torch_config)
  get_filename_component(_torch_root "${_torch_config}/../../../.." ABSOLUTE)
  add_library(torch INTERFACE IMPORTED)
  set_target_properties(torch PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_torch_root}/include;${_torch_root}/include/torch/csrc/api/include"
    INTERFACE_LINK_LIBRARIES "${_torch_root}/lib/libtorch_cpu.so;${_torch_root}/lib/libc10.so")
  message(STATUS "LibTorch (CPU part, no CUDA toolkit found) from ${_torch_root}")
else()
  find_package(Torch REQUIRED)
  message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")
endif()

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
