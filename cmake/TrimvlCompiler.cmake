# Compiler settings for our own code. Warnings apply to trimvl targets only (torch and Qt come in
# as imported, hence SYSTEM, include directories and stay quiet).
if(NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(TRIMVL_CCACHE ccache)
  if(TRIMVL_CCACHE)
    set(CMAKE_CXX_COMPILER_LAUNCHER "${TRIMVL_CCACHE}")
  endif()
endif()

add_library(trimvl_warnings INTERFACE)
target_compile_options(trimvl_warnings INTERFACE
  $<$<COMPILE_LANG_AND_ID:CXX,GNU,Clang>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>)

# Torch-heavy translation units pay for the ATen headers once through this precompiled header;
# every torch-using target reuses it (same flags, so REUSE_FROM is valid).
function(trimvl_use_torch_pch target)
  if(TRIMVL_PCH)
    target_precompile_headers(${target} REUSE_FROM trimvl_torch_pch)
  endif()
endfunction()
