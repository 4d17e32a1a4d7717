#pragma once
// Images and videos as the prompt and the prefill need them: the processor's grids (and video
// timestamps) for build_prompt, the vision encoder's tokens for the prefill.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "language/qwen3vl/prompt.h"

namespace trimvl::app {

// One image or video, encoded: its visual tokens and their DeepStack features, on the model's device.
struct EncodedMedia {
  at::Tensor embeds;                  // [tokens, hidden]
  std::vector<at::Tensor> deepstack;  // per level, [tokens, hidden]
};

// Media in prompt order (a conversation's, a request's, or one encoder call's).
struct MediaSet {
  std::vector<qwen3vl::ImageInput> image_inputs;
  std::vector<qwen3vl::VideoInput> video_inputs;
  std::vector<EncodedMedia> images, videos;

  void append(MediaSet&& other);
  // Bytes of the encoded tensors (the items of one encoder call are views of its outputs and tile
  // them, so this is what the set keeps alive on the device).
  int64_t bytes() const;
};

}  // namespace trimvl::app
