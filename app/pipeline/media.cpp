#include "app/pipeline/media.h"

#include <system_error>

#include "kernels/runtime/error.h"
#ifdef TRIMVL_HAVE_MEDIA
#include "vision/media/load_frames.h"
#endif

namespace trimvl::app {

vision::Frames load_media(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error("no such media file", Error::Kind::NotFound).file(path.string());
#ifdef TRIMVL_HAVE_MEDIA
  return vision::media::load_frames(path);
#else
  if (path.extension() != ".safetensors")
    throw Error("this build decodes no image or video files (built with TRIMVL_MEDIA=OFF); give the frames as "
                "a .safetensors file of uint8 RGB [T,H,W,3] (see vision/frames.h)",
                Error::Kind::Unsupported)
        .file(path.string());
  return vision::load_frames_safetensors(path);
#endif
}

}  // namespace trimvl::app
