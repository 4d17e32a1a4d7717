# Writes OUT (a header defining TRIMVL_GIT_HASH) with the source tree's current commit, at build
# time, and only when the commit changed, so results name the commit the binary was built from
# without a reconfigure and without recompiling on every build. Run as `cmake -DSOURCE=... -DOUT=...
# -P TrimvlGitHash.cmake`.
execute_process(COMMAND git -C "${SOURCE}" rev-parse HEAD OUTPUT_VARIABLE hash OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
set(content "#pragma once\n#define TRIMVL_GIT_HASH \"${hash}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${content}")
