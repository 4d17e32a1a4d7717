#include "app/pipeline/media.h"

#include <system_error>

#include "kernels/runtime/error.h"

namespace trimvl::app {

vision::Frames load_media(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error("no such media file", Error::Kind::NotFound).file(path.string());
  return vision::load_frames_safetensors(path);
}

}  // namespace trimvl::app
