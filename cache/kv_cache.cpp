#include "cache/kv_cache.h"

#include "kernels/runtime/error.h"

namespace trimvl::cache {

std::string_view modality_name(Modality modality) {
  switch (modality) {
    case Modality::Text: return "text";
    case Modality::Image: return "image";
    case Modality::Video: return "video";
    case Modality::Generated: return "generated";
  }
  return "unknown";
}

ForwardTokens ForwardTokens::uniform(int64_t count, Modality modality) {
  TRIMVL_CHECK_ARG(count >= 0, "a forward cannot append {} tokens", count);
  return ForwardTokens{std::vector<TokenInfo>(static_cast<size_t>(count), TokenInfo{.modality = modality})};
}

}  // namespace trimvl::cache
