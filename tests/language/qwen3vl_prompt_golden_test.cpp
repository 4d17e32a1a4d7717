// Parity with transformers 4.57.1 (tests/golden/gen_qwen3vl_prompt.py):
//  - prompts: the same messages rendered natively must give apply_chat_template's text with the
//    real Instruct/Thinking templates; with the processor's grids and video timestamps, the
//    processor's input_ids; and get_rope_index's position ids and rope delta;
//  - sampling: from the same generation_config.json, seed and raw logits, the processed scores of
//    every step bit for bit and the tokens generate() produced, stopping where it stopped.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/io/safetensors.h"
#include "language/qwen3vl/chat_format.h"
#include "language/qwen3vl/prompt.h"
#include "language/qwen3vl/rope_index.h"
#include "language/sampling/generation_config.h"
#include "language/sampling/sampler.h"
#include "language/sampling/stop_criteria.h"
#include "language/tokenizer/tokenizer.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::qwen3vl {
namespace {

using nlohmann::json;

json load(const std::string& name) { return json::parse(test::read_file(test::golden_dir("qwen3vl_prompt") / name)); }

// The generator's messages use HF's shape: content a string or a list of {"type": ...} items.
std::vector<Message> messages_of(const json& list) {
  std::vector<Message> out;
  for (const json& m : list) {
    Message message;
    const std::string role = m.at("role");
    message.role = role == "system" ? Role::System : role == "user" ? Role::User : Role::Assistant;
    const json& content = m.at("content");
    if (content.is_string()) {
      message.parts.push_back(Part::of_text(content.get<std::string>()));
    } else {
      for (const json& item : content) {
        const std::string type = item.at("type");
        message.parts.push_back(type == "image"   ? Part::image()
                                : type == "video" ? Part::video()
                                                  : Part::of_text(item.at("text").get<std::string>()));
      }
    }
    if (m.contains("reasoning_content")) message.reasoning = m.at("reasoning_content").get<std::string>();
    out.push_back(std::move(message));
  }
  return out;
}

Grid grid_of(const json& g) { return {g.at(0).get<int64_t>(), g.at(1).get<int64_t>(), g.at(2).get<int64_t>()}; }

TEST(Qwen3VLPromptGolden, RenderedTextIdsAndPositionsMatchTransformers) {
  const Tokenizer tokenizer = Tokenizer::from_dir(test::qwen3_tokenizer_dir());
  const PromptConfig config = PromptConfig::from_config_json(test::golden_dir("qwen3vl_prompt") / "config.json");
  const json cases = load("prompts.json").at("cases");
  ASSERT_GE(cases.size(), 10u);
  for (const json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    ChatOptions options;
    options.style = c.at("style") == "thinking" ? ChatStyle::Thinking : ChatStyle::Instruct;
    options.add_generation_prompt = c.at("add_generation_prompt");
    options.add_vision_id = c.at("add_vision_id");
    const std::string text = render_chat(messages_of(c.at("messages")), options);
    EXPECT_EQ(text, c.at("text").get<std::string>());

    std::vector<ImageInput> images;
    for (const json& g : c.at("image_grids")) images.push_back({grid_of(g)});
    std::vector<VideoInput> videos;
    for (const json& v : c.at("videos"))
      videos.push_back({grid_of(v.at("grid")), v.at("group_times").get<std::vector<double>>()});
    const Prompt prompt = build_prompt(tokenizer, text, images, videos, config);
    EXPECT_EQ(prompt.input_ids, c.at("input_ids").get<std::vector<int32_t>>());

    const MropePositions positions = mrope_positions(prompt);
    const auto expected = c.at("position_ids").get<std::vector<std::vector<int64_t>>>();
    ASSERT_EQ(positions.ids.size(1), static_cast<int64_t>(expected.at(0).size()));
    for (int64_t row = 0; row < 3; ++row)
      EXPECT_TRUE(at::equal(positions.ids[row], at::tensor(expected[static_cast<std::size_t>(row)], at::kLong)))
          << "row " << row << ": " << positions.ids[row];
    EXPECT_EQ(positions.delta, c.at("rope_delta").get<int64_t>());
  }
}

TEST(Qwen3VLPromptGolden, SamplerReproducesGenerate) {
  const json runs = load("sampling.json");
  const io::SafetensorsFile tensors = io::SafetensorsFile::open(test::golden_dir("qwen3vl_prompt") / "sampling.safetensors");
  test::TempDir dir;
  for (const json& run : runs.at("cases")) {
    const std::string name = run.at("name");
    SCOPED_TRACE(name);
    test::write_file(dir / "generation_config.json", run.at("generation_config").dump());
    GenerationConfig config = GenerationConfig::from_file(dir / "generation_config.json");
    config.sampling.seed = run.at("seed").get<uint64_t>();
    config.stop.max_new_tokens = runs.at("max_new_tokens").get<int64_t>();

    const auto prompt = run.at("prompt_ids").get<std::vector<int32_t>>();
    const auto generated = run.at("generated_ids").get<std::vector<int32_t>>();
    const at::Tensor logits = tensors.tensor(name + ".logits");
    const at::Tensor scores = tensors.tensor(name + ".scores");
    ASSERT_EQ(logits.size(0), static_cast<int64_t>(generated.size()));

    Sampler sampler(config.sampling);
    sampler.observe(prompt);
    StopCriteria stop(config.stop, static_cast<int64_t>(prompt.size()));
    for (std::size_t i = 0; i < generated.size(); ++i) {
      const at::Tensor step_logits = logits[static_cast<int64_t>(i)];
      EXPECT_TRUE(at::equal(sampler.process(step_logits), scores[static_cast<int64_t>(i)])) << "scores of step " << i;
      const int32_t token = sampler.sample(step_logits);
      ASSERT_EQ(token, generated[i]) << "step " << i;
      const StopStep step = stop.step(token, "");
      EXPECT_EQ(step.reason.has_value(), i + 1 == generated.size()) << "step " << i;
    }
  }
}

}  // namespace
}  // namespace trimvl::qwen3vl
