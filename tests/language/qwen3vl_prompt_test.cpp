// Qwen3-VL prompt assembly with the real Qwen3 tokenizer: placeholder expansion, video timestamps,
// token sources, and one clear error for each kind of bad input. (Parity with transformers'
// processor on whole conversations: qwen3vl_prompt_golden_test.cpp.)
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "language/qwen3vl/prompt.h"
#include "language/tokenizer/tokenizer.h"
#include "tests/support/test_env.h"

namespace trimvl::qwen3vl {
namespace {

const Tokenizer& tokenizer() {
  static const Tokenizer t = Tokenizer::from_dir(test::qwen3_tokenizer_dir());
  return t;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kImage = "<|vision_start|><|image_pad|><|vision_end|>";
const std::string kVideo = "<|vision_start|><|video_pad|><|vision_end|>";

void expect_error(const std::string& rendered, const std::vector<ImageInput>& images,
                  const std::vector<VideoInput>& videos, const std::string& fragment, PromptConfig config = {}) {
  try {
    build_prompt(tokenizer(), rendered, images, videos, config);
    ADD_FAILURE() << "no error; expected one mentioning: " << fragment;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Qwen3VLPrompt, ImagePadBecomesOneTokenPerMergedPatchInRowMajorOrder) {
  const PromptConfig config;
  const Prompt p = build_prompt(tokenizer(), "<|im_start|>user\n" + kImage + "Hi<|im_end|>\n",
                                std::vector<ImageInput>{{{1, 4, 6}}}, {}, config);
  EXPECT_EQ(tokenizer().decode(p.input_ids),
            "<|im_start|>user\n<|vision_start|>" + repeat("<|image_pad|>", 6) + "<|vision_end|>Hi<|im_end|>\n");
  ASSERT_EQ(p.blocks.size(), 1u);
  const VisionBlock& b = p.blocks[0];
  EXPECT_EQ(b.modality, Modality::Image);
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.cols, 3);
  EXPECT_EQ(p.input_ids[b.offset - 1], config.vision_start_token_id);
  EXPECT_EQ(p.input_ids[b.offset + 6], config.vision_end_token_id);
  ASSERT_EQ(p.sources.size(), p.input_ids.size());
  for (int64_t i = 0; i < static_cast<int64_t>(p.sources.size()); ++i) {
    const TokenSource& s = p.sources[i];
    if (i < b.offset || i >= b.offset + 6) {
      EXPECT_EQ(s.modality, Modality::Text);
      EXPECT_EQ(s.media, -1);
      continue;
    }
    EXPECT_EQ(s.modality, Modality::Image);
    EXPECT_EQ(s.media, 0);
    EXPECT_EQ(s.t, 0);
    EXPECT_EQ(s.row, (i - b.offset) / 3);
    EXPECT_EQ(s.col, (i - b.offset) % 3);
  }
}

TEST(Qwen3VLPrompt, VideoBecomesTimestampedGroupsReplacingTheWrapper) {
  // Frames every 0.5 s, 9 of them, make 5 groups (the last frame repeated) timed 0.25, 1.25, 2.25,
  // 3.25 and 4.0, which print half-to-even, as Python's "{:.1f}" does.
  const VideoInput video{{5, 2, 4}, {0.25, 1.25, 2.25, 3.25, 4.0}};
  const Prompt p = build_prompt(tokenizer(), "<|im_start|>user\nWatch:" + kVideo + "Go<|im_end|>\n", {},
                                std::vector<VideoInput>{video}, {});
  std::string expected = "<|im_start|>user\nWatch:";
  for (const char* t : {"0.2", "1.2", "2.2", "3.2", "4.0"})
    expected += std::string("<") + t + " seconds><|vision_start|><|video_pad|><|video_pad|><|vision_end|>";
  expected += "Go<|im_end|>\n";
  // The processor tokenizes the fully expanded text; the timestamp merges with "Watch:" there.
  EXPECT_EQ(p.input_ids, tokenizer().encode(expected, true));
  ASSERT_EQ(p.blocks.size(), 5u);
  const double times[] = {0.25, 1.25, 2.25, 3.25, 4.0};
  for (int g = 0; g < 5; ++g) {
    const VisionBlock& b = p.blocks[g];
    EXPECT_EQ(b.modality, Modality::Video);
    EXPECT_EQ(b.media, 0);
    EXPECT_EQ(b.t, g);
    EXPECT_EQ(b.size(), 2);
    EXPECT_EQ(b.time, times[g]);
    EXPECT_EQ(p.sources[b.offset + 1].t, g);
    EXPECT_EQ(p.sources[b.offset + 1].col, 1);
    EXPECT_EQ(p.sources[b.offset + 1].time, times[g]);  // every token of a group carries its time
  }
}

TEST(Qwen3VLPrompt, MediaAreMatchedToPlaceholdersInTextOrder) {
  const std::vector<ImageInput> images = {{{1, 2, 2}}, {{1, 4, 2}}};
  const std::vector<VideoInput> videos = {{{1, 2, 2}, {1.5}}, {{1, 2, 4}, {7.0}}};
  const Prompt p = build_prompt(tokenizer(), kVideo + kImage + "x" + kVideo + kImage, images, videos, {});
  ASSERT_EQ(p.blocks.size(), 4u);
  const Modality order[] = {Modality::Video, Modality::Image, Modality::Video, Modality::Image};
  const int sizes[] = {1, 1, 2, 2};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p.blocks[i].modality, order[i]) << i;
    EXPECT_EQ(p.blocks[i].media, i / 2) << i;
    EXPECT_EQ(p.blocks[i].size(), sizes[i]) << i;
  }
  EXPECT_EQ(p.blocks[0].time, 1.5);
  EXPECT_EQ(p.blocks[2].time, 7.0);
}

TEST(Qwen3VLPrompt, TextOnlyPromptIsThePlainTokenization) {
  const std::string text = "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n";
  const Prompt p = build_prompt(tokenizer(), text, {}, {}, {});
  EXPECT_EQ(p.input_ids, tokenizer().encode(text, true));
  EXPECT_TRUE(p.blocks.empty());
}

TEST(Qwen3VLPrompt, PlaceholderAndMediaCountsMustAgree) {
  expect_error(kImage + kImage, {{{1, 2, 2}}}, {}, "more <|image_pad|> placeholders than the 1 images given");
  expect_error(kImage, {}, {}, "more <|image_pad|> placeholders than the 0 images given");  // an image part without a grid
  expect_error(kImage, {{{1, 2, 2}}, {{1, 2, 2}}}, {}, "has 1 <|image_pad|> placeholders but 2 images were given");
  expect_error(kVideo, {}, {}, "more <|video_pad|> placeholders than the 0 videos given");
  expect_error("no media", {}, {{{1, 2, 2}, {0.5}}}, "has 0 <|video_pad|> placeholders but 1 videos were given");
}

TEST(Qwen3VLPrompt, PadsOutsideTheVisionWrapperAreRejected) {
  expect_error("typed <|image_pad|> here", {{{1, 2, 2}}}, {}, "image 0: its <|image_pad|> at byte 6");
  expect_error("<|vision_start|><|video_pad|>", {}, {{{1, 2, 2}, {0.5}}}, "video 0: its <|video_pad|> at byte 16");
}

TEST(Qwen3VLPrompt, BadGridsAndTimestampsAreRejected) {
  expect_error(kImage, {{{1, 3, 4}}}, {}, "image 0: grid (1, 3, 4) has rows and columns that the merge size 2");
  expect_error(kImage, {{{1, 0, 4}}}, {}, "image 0: grid (1, 0, 4) must be positive");
  expect_error(kImage, {{{2, 2, 2}}}, {}, "image 0: grid (2, 2, 2) has t = 2");
  expect_error(kVideo, {}, {{{3, 2, 2}, {0.5, 1.5}}}, "video 0: 2 group timestamps for a grid (3, 2, 2) of 3 temporal groups");
  expect_error(kVideo, {}, {{{1, 2, 2}, {}}}, "video 0: 0 group timestamps");
  expect_error(kVideo, {}, {{{1, 2, 2}, {std::numeric_limits<double>::quiet_NaN()}}}, "video 0: timestamp nan is not a finite");
  expect_error(kVideo, {}, {{{1, 2, 2}, {-1}}}, "video 0: timestamp -1 is not a finite, non-negative");
}

TEST(Qwen3VLPrompt, PromptLongerThanTheModelIsRejected) {
  PromptConfig small;
  small.max_position_embeddings = 19;
  // 3 text tokens + 16 image tokens fit; one more text token does not.
  EXPECT_EQ(build_prompt(tokenizer(), kImage + "a", std::vector<ImageInput>{{{1, 8, 8}}}, {}, small).input_ids.size(), 19u);
  expect_error(kImage + "a<|im_end|>", {{{1, 8, 8}}}, {},
               "the prompt is 20 tokens, more than the model's max_position_embeddings (19)", small);
}

TEST(Qwen3VLPrompt, ConfigIdsMustBeTheTokenizers) {
  PromptConfig wrong;
  wrong.image_token_id = 5;
  expect_error(kImage, {{{1, 2, 2}}}, {}, "the tokenizer has <|image_pad|> as id 151655 but config.json's image_token_id is 5",
               wrong);
}

TEST(Qwen3VLPrompt, ConfigReadsTheKeysItNeedsWithHubDefaults) {
  test::TempDir dir;
  test::write_file(dir / "config.json", R"({"image_token_id": 7, "vision_config": {"spatial_merge_size": 4},
                                             "text_config": {"max_position_embeddings": 99}})");
  const PromptConfig c = PromptConfig::from_config_json(dir / "config.json");
  EXPECT_EQ(c.image_token_id, 7);
  EXPECT_EQ(c.video_token_id, 151656);
  EXPECT_EQ(c.vision_start_token_id, 151652);
  EXPECT_EQ(c.spatial_merge_size, 4);
  EXPECT_EQ(c.max_position_embeddings, 99);
  test::write_file(dir / "empty.json", "{}");
  EXPECT_EQ(PromptConfig::from_config_json(dir / "empty.json").max_position_embeddings, 128000);  // Qwen3VLTextConfig's

  auto expect_config_error = [&](const std::string& json, const std::string& fragment) {
    test::write_file(dir / "bad.json", json);
    try {
      PromptConfig::from_config_json(dir / "bad.json");
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    }
  };
  expect_config_error(R"({"video_token_id": "x"})", "video_token_id");
  expect_config_error(R"({"image_token_id": -3})", "-3 is not a token id");
  expect_config_error(R"({"vision_config": {"spatial_merge_size": 0}})", "vision_config.spatial_merge_size");
  expect_config_error(R"({"text_config": {"max_position_embeddings": 0}})", "text_config.max_position_embeddings");
}

}  // namespace
}  // namespace trimvl::qwen3vl
