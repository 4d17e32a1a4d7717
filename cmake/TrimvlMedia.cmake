# OpenCV (images) and FFmpeg (video). Debian ships OpenCV's CMake package only in the libopencv-dev
# meta package, which drags in every module (~250 packages); we install just core, imgproc,
# imgcodecs and videoio and import those four ourselves.
find_path(TRIMVL_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
add_library(trimvl_opencv INTERFACE)
target_include_directories(trimvl_opencv SYSTEM INTERFACE "${TRIMVL_OPENCV_INCLUDE_DIR}")
foreach(module IN ITEMS core imgproc imgcodecs videoio)
  find_library(TRIMVL_OPENCV_${module} NAMES opencv_${module} REQUIRED)
  target_link_libraries(trimvl_opencv INTERFACE "${TRIMVL_OPENCV_${module}}")
endforeach()
message(STATUS "OpenCV (core, imgproc, imgcodecs, videoio) from ${TRIMVL_OPENCV_INCLUDE_DIR}")

pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libswscale libavutil)
