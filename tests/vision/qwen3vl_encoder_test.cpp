// The Qwen3-VL vision encoder on random checkpoints: configuration, loading, input checks, and the
// properties parity alone would not pin down (attention confined to each image and temporal group,
// DeepStack ordering, exact position resampling on the table's own grid, token sources, dtypes).
// Parity with transformers is qwen3vl_golden_test.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/io/safetensors.h"
#include "kernels/io/weight_loader.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"
#include "tests/vision/qwen3vl_checkpoint.h"
#include "vision/qwen3vl/position_embedding.h"
#include "vision/qwen3vl/vision_config.h"
#include "vision/qwen3vl/vision_model.h"
#include "vision/qwen3vl/vision_rotary.h"

namespace trimvl::vision::qwen3vl {
namespace {

using nlohmann::json;
using test::small_vision_config;

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool mentions(const std::string& text, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts)
    if (text.find(p) == std::string::npos) return false;
  return true;
}

struct RandomTower {
  trimvl::test::TempDir dir;
  json config;
  VisionConfig parsed;
  test::NamedTensors weights;

  explicit RandomTower(json vision = small_vision_config(), uint64_t seed = 1)
      : config(std::move(vision)), parsed(test::vision_config_from(config)),
        weights(test::random_vision_weights(parsed, seed)) {
    write();
  }
  void write() const { test::write_vision_checkpoint(dir.path(), config, weights); }
  VisionModel load(c10::ScalarType dtype = at::kFloat) const { return VisionModel::load(dir.path(), dtype, at::kCPU); }
  at::Tensor& weight(const std::string& name) {
    for (auto& [n, t] : weights)
      if (n == name) return t;
    throw std::runtime_error("no tensor " + name);
  }
};

at::Tensor random_pixels(int64_t patches, const VisionConfig& c, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::rand({patches, c.patch_dim()}, gen) * 2 - 1;
}

// ---- configuration --------------------------------------------------------------------------------

VisionConfig parse(const json& j) { return parse_vision_config(ConfigObject(j, "config.json", "vision_config")); }

TEST(VisionConfig, DefaultsAreTransformers457) {
  const VisionConfig c = parse(json::object());
  EXPECT_EQ(c.depth, 27);
  EXPECT_EQ(c.hidden_size, 1152);
  EXPECT_EQ(c.head_dim(), 72);
  EXPECT_EQ(c.out_hidden_size, 3584);
  EXPECT_EQ(c.position_grid_side(), 48);
  EXPECT_EQ(c.patch_dim(), 1536);
  EXPECT_EQ(c.deepstack_visual_indexes, (std::vector<int64_t>{8, 16, 24}));
}

TEST(VisionConfig, RefusesWhatTheEncoderCannotRun) {
  const auto fails = [](const json& j, std::initializer_list<std::string_view> parts) {
    const std::string what = error_of([&] { parse(j); });
    EXPECT_TRUE(mentions(what, parts)) << what;
  };
  fails({{"hidden_size", 100}, {"num_heads", 3}}, {"config.json", "'vision_config.num_heads'", "does not divide"});
  fails({{"hidden_size", 40}, {"num_heads", 4}}, {"head_dim", "multiple of 4"});
  fails({{"num_position_embeddings", 2300}}, {"'vision_config.num_position_embeddings'", "not a square"});
  fails({{"deepstack_visual_indexes", {3, 27}}}, {"index 27", "depth-27"});
  fails({{"deepstack_visual_indexes", {3, 3}}}, {"listed twice"});
  fails({{"depth", 0}}, {"'vision_config.depth'", "positive"});
  fails({{"hidden_act", "quick_gelu"}}, {"'quick_gelu' is not supported"});
  trimvl::test::TempDir dir;
  trimvl::test::write_file(dir / "config.json", R"({"model_type": "llava"})");
  EXPECT_TRUE(mentions(error_of([&] { load_vision_config(dir / "config.json"); }), {"'llava'", "not a Qwen3-VL"}));
}

// ---- loading ---------------------------------------------------------------------------------------

TEST(VisionModel, ReportsEveryCheckpointMismatchAtOnce) {
  RandomTower tower;
  tower.weights.erase(tower.weights.begin() + 3);  // blocks.0.norm1.weight
  tower.weight("model.visual.merger.linear_fc2.weight") = at::zeros({7, 512});
  tower.weights.emplace_back("model.visual.blocks.3.norm1.weight", at::ones({128}));
  tower.weights.emplace_back("model.language_model.norm.weight", at::ones({24}));  // not the encoder's business
  tower.write();
  const std::string what = error_of([&] { tower.load(); });
  EXPECT_TRUE(mentions(what, {tower.dir.path().string(), "1 missing tensors", "model.visual.blocks.0.norm1.weight [128]",
                              "model.visual.merger.linear_fc2.weight: checkpoint has [7, 512], model expects [24, 512]",
                              "1 unexpected tensors", "model.visual.blocks.3.norm1.weight"}))
      << what;
  EXPECT_FALSE(mentions(what, {"language_model"})) << what;
}

// ---- forward -----------------------------------------------------------------------------------------

TEST(VisionModel, OutputsTokensDeepStackAndSources) {
  const RandomTower tower;
  const VisionModel model = tower.load();
  const std::vector<GridThw> grids = {{1, 4, 6}, {2, 2, 2}};
  const VisionOutput out = model.forward(random_pixels(32, tower.parsed, 3), grids);
  EXPECT_EQ(out.embeds.sizes(), (at::IntArrayRef{8, 24}));
  ASSERT_EQ(out.deepstack.size(), 2u);
  for (const at::Tensor& d : out.deepstack) EXPECT_EQ(d.sizes(), (at::IntArrayRef{8, 24}));
  EXPECT_EQ(out.grids, grids);
  EXPECT_EQ(out.sources, (std::vector<TokenSource>{{0, 0, 0, 0}, {0, 0, 0, 1}, {0, 0, 0, 2}, {0, 0, 1, 0},
                                                   {0, 0, 1, 1}, {0, 0, 1, 2}, {1, 0, 0, 0}, {1, 1, 0, 0}}));
  EXPECT_TRUE(at::isfinite(out.embeds).all().item<bool>());
}

TEST(VisionModel, AttentionStaysInsideEachImageAndTemporalGroup) {
  const RandomTower tower;
  const VisionModel model = tower.load();
  const VisionConfig& c = tower.parsed;
  // Two images of one size (attended in one batched call), then a 3-group video.
  const std::vector<GridThw> grids = {{1, 4, 4}, {1, 4, 4}, {3, 2, 4}};
  const at::Tensor pixels = random_pixels(16 + 16 + 24, c, 5);
  const VisionOutput together = model.forward(pixels, grids);
  const VisionOutput first = model.forward(pixels.slice(0, 0, 16), {{1, 4, 4}});
  const VisionOutput video = model.forward(pixels.slice(0, 32, 56), {{3, 2, 4}});
  TRIMVL_EXPECT_CLOSE(together.embeds.slice(0, 0, 4), first.embeds, 1e-5, 1e-5);
  TRIMVL_EXPECT_CLOSE(together.embeds.slice(0, 8, 14), video.embeds, 1e-5, 1e-5);
  TRIMVL_EXPECT_CLOSE(together.deepstack[1].slice(0, 8, 14), video.deepstack[1], 1e-5, 1e-5);

  // Changing the video's last temporal group changes its tokens and nothing else.
  at::Tensor changed = pixels.clone();
  changed.slice(0, 48, 56).neg_();
  const VisionOutput after = model.forward(changed, grids);
  EXPECT_TRUE(at::equal(after.embeds.slice(0, 0, 12), together.embeds.slice(0, 0, 12)));
  EXPECT_FALSE(at::allclose(after.embeds.slice(0, 12, 14), together.embeds.slice(0, 12, 14)));
}

TEST(VisionModel, DeepStackFeaturesComeInBlockOrder) {
  // HF appends a feature after each listed block, in block order, through the merger at the
  // block's position in the list. So [2, 0] with mergers (A, B) equals [0, 2] with mergers (B, A).
  json listed = small_vision_config();
  listed["deepstack_visual_indexes"] = {2, 0};
  RandomTower reversed(listed, 9);
  RandomTower sorted(small_vision_config(), 9);
  for (const std::string leaf : {"norm.weight", "norm.bias", "linear_fc1.weight", "linear_fc1.bias",
                                 "linear_fc2.weight", "linear_fc2.bias"})
    std::swap(sorted.weight("model.visual.deepstack_merger_list.0." + leaf),
              sorted.weight("model.visual.deepstack_merger_list.1." + leaf));
  sorted.write();
  const at::Tensor pixels = random_pixels(24, sorted.parsed, 2);
  const VisionOutput a = reversed.load().forward(pixels, {{1, 4, 6}});
  const VisionOutput b = sorted.load().forward(pixels, {{1, 4, 6}});
  ASSERT_EQ(a.deepstack.size(), 2u);
  EXPECT_TRUE(at::equal(a.deepstack[0], b.deepstack[0]));
  EXPECT_TRUE(at::equal(a.deepstack[1], b.deepstack[1]));
  EXPECT_FALSE(at::equal(a.deepstack[0], a.deepstack[1]));
}

TEST(VisionModel, RefusesInputsThatDoNotFit) {
  const RandomTower tower;
  const VisionModel model = tower.load();
  const at::Tensor pixels = random_pixels(24, tower.parsed, 1);
  const auto fails = [&](const at::Tensor& p, std::vector<GridThw> g, std::initializer_list<std::string_view> parts) {
    const std::string what = error_of([&] { model.forward(p, g); });
    EXPECT_TRUE(mentions(what, parts)) << what;
  };
  fails(pixels, {{1, 4, 4}}, {"24 patches", "add up to 16"});
  fails(pixels, {{1, 3, 8}}, {"multiples of the merge size 2"});
  fails(pixels, {}, {"no images or videos"});
  fails(at::zeros({24, 1536}), {{1, 4, 6}}, {"1536 values", "hold 384", "another model"});
  fails(pixels.to(at::kInt), {{1, 4, 6}}, {"floating-point"});
}

TEST(VisionModel, ReducedPrecisionOnTheCpuTracksFloat32) {
  const RandomTower tower;
  const at::Tensor pixels = random_pixels(40, tower.parsed, 4);
  const std::vector<GridThw> grids = {{1, 4, 6}, {2, 2, 4}};
  const VisionOutput reference = tower.load(at::kFloat).forward(pixels, grids);
  for (const auto dtype : {at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(dtype));
    const VisionOutput out = tower.load(dtype).forward(pixels, grids);
    EXPECT_EQ(out.embeds.scalar_type(), dtype);
    // bf16 keeps 8 significant bits (fp16 11): a few percent of the output's scale after 3 blocks.
    const double scale = reference.embeds.abs().max().item<double>();
    TRIMVL_EXPECT_CLOSE(out.embeds, reference.embeds, 0.05, 0.05 * scale);
    for (size_t j = 0; j < out.deepstack.size(); ++j)
      TRIMVL_EXPECT_CLOSE(out.deepstack[j], reference.deepstack[j], 0.05,
                          0.05 * reference.deepstack[j].abs().max().item<double>());
  }
}

// ---- the pieces -------------------------------------------------------------------------------------

TEST(PositionEmbedding, OnTheTablesOwnGridIsTheTableInBlockOrder) {
  // Resampling a G x G table to G x G hits table rows exactly (weights 1, 0, 0, 0).
  RandomTower tower;
  const auto checkpoint = io::SafetensorsCheckpoint::open(tower.dir.path());
  io::WeightLoader weights(checkpoint, at::kFloat, at::kCPU);
  const PositionEmbedding pos(tower.parsed, weights.root().scope("model.visual.pos_embed"));
  const at::Tensor table = tower.weight("model.visual.pos_embed.weight");  // 6 x 6 grid of positions
  const at::Tensor out = pos.forward(std::vector<GridThw>{{2, 6, 6}});
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{72, 128}));
  // Block order: 2 x 2 blocks row-major, patches row-major inside.
  const at::Tensor order = at::arange(36).view({3, 2, 3, 2}).permute({0, 2, 1, 3}).reshape({-1});
  EXPECT_TRUE(at::equal(out.slice(0, 0, 36), table.index_select(0, order)));
  EXPECT_TRUE(at::equal(out.slice(0, 36, 72), out.slice(0, 0, 36)));  // the same for every temporal group
}

TEST(VisionRotary, RotatesByRowAndColumnAngles) {
  const VisionConfig c = parse({{"hidden_size", 16}, {"num_heads", 2}});  // head_dim 8: 2 frequencies per axis
  const VisionRotary rotary(c);
  const RotaryTables tables = rotary.forward(std::vector<GridThw>{{1, 2, 4}}, at::kCPU);
  ASSERT_EQ(tables.cos.sizes(), (at::IntArrayRef{8, 8}));
  // Patch 5 is the second block's (row 0, col 3): angles [0, 0, 3, 3/100] twice (inv_freq = 1, 1/100).
  const at::Tensor expected = at::tensor({0.f, 0.f, 3.f, 0.03f, 0.f, 0.f, 3.f, 0.03f});
  TRIMVL_EXPECT_CLOSE(tables.cos[5], expected.cos(), 1e-6, 1e-6);
  TRIMVL_EXPECT_CLOSE(tables.sin[5], expected.sin(), 1e-6, 1e-6);
  // Rotation keeps each (x_i, x_{i + d/2}) pair's length.
  const at::Tensor x = at::randn({8, 2, 8}, at::kBFloat16);
  const at::Tensor y = VisionRotary::apply(x, tables);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  const auto pair_norm = [](const at::Tensor& t) {
    const at::Tensor f = t.to(at::kFloat);
    return f.narrow(-1, 0, 4).pow(2) + f.narrow(-1, 4, 4).pow(2);
  };
  TRIMVL_EXPECT_CLOSE(pair_norm(y), pair_norm(x), 0.02, 0.02);
}

TEST(Grid, TokenSourcesAndSegments) {
  const std::vector<GridThw> grids = {{1, 2, 4}, {1, 2, 4}, {2, 4, 2}, {1, 2, 2}};
  EXPECT_EQ(total_patches(grids), 8 + 8 + 16 + 4);
  EXPECT_EQ(attention_segments(grids), (std::vector<SegmentRun>{{8, 4}, {4, 1}}));
  const std::vector<TokenSource> sources = token_sources(grids, 2);
  ASSERT_EQ(sources.size(), 9u);
  EXPECT_EQ(sources[1], (TokenSource{0, 0, 0, 1}));
  EXPECT_EQ(sources[5], (TokenSource{2, 0, 1, 0}));
  EXPECT_EQ(sources[7], (TokenSource{2, 1, 1, 0}));
  EXPECT_EQ(sources[8], (TokenSource{3, 0, 0, 0}));
}

}  // namespace
}  // namespace trimvl::vision::qwen3vl
