#include "app/pipeline/media.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "kernels/runtime/error.h"
#ifdef TRIMVL_HAVE_MEDIA
#include "vision/media/load_frames.h"
#endif

namespace trimvl::app {
namespace {

void require_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error("no such media file", Error::Kind::NotFound).file(path.string());
}

}  // namespace

vision::Frames load_media(const std::filesystem::path& path) {
  require_file(path);
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

std::string media_file_identity(const std::filesystem::path& path) {
  require_file(path);
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  struct stat st {};
  if (ec || ::stat(canonical.c_str(), &st) != 0)
    throw Error(fmt::format("cannot read the media file's status: {}", ec ? ec.message() : std::strerror(errno)),
                Error::Kind::NotFound)
        .file(path.string());
  const auto ns = [](const timespec& t) { return static_cast<long long>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec; };
  return fmt::format("{}|{}:{}|{}|{}|{}", canonical.string(), static_cast<unsigned long long>(st.st_dev),
                     static_cast<unsigned long long>(st.st_ino), static_cast<long long>(st.st_size), ns(st.st_mtim),
                     ns(st.st_ctim));
}

}  // namespace trimvl::app
