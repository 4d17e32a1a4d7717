#include "app/pipeline/encoded_media.h"

#include <iterator>
#include <utility>

namespace trimvl::app {

void MediaSet::append(MediaSet&& other) {
  auto move_all = [](auto& to, auto& from) { std::move(from.begin(), from.end(), std::back_inserter(to)); };
  move_all(image_inputs, other.image_inputs);
  move_all(video_inputs, other.video_inputs);
  move_all(images, other.images);
  move_all(videos, other.videos);
}

int64_t MediaSet::bytes() const {
  int64_t total = 0;
  for (const auto* items : {&images, &videos}) {
    for (const EncodedMedia& item : *items) {
      total += static_cast<int64_t>(item.embeds.nbytes());
      for (const at::Tensor& level : item.deepstack) total += static_cast<int64_t>(level.nbytes());
    }
  }
  return total;
}

}  // namespace trimvl::app
