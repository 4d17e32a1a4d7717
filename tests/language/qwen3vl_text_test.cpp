// The Qwen3-VL text decoder without a reference: config parsing and its errors, the M-RoPE layout,
// every bad input a checkpoint or a caller can hand the model — one clear Error each — and where
// retention gates read and what reaches the cache. Parity with transformers is
// qwen3vl_text_golden_test.cpp; with trimkv, trimkv_e2e_golden_test.cpp.
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache/full_cache.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "language/qwen3vl/rotary.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_decoder.h"
#include "tests/language/qwen3vl_tiny_checkpoint.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::qwen3vl {
namespace {

namespace fs = std::filesystem;

at::Tensor mask(std::vector<int64_t> flags) { return at::tensor(flags, at::kLong).to(at::kBool); }

// Runs `f`, which must throw one trimvl::Error of `kind` whose message contains every fragment.
template <typename F>
void expect_error(F&& f, Error::Kind kind, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "'" << fragment << "' not in: " << e.what();
  }
}

// ---- config ---------------------------------------------------------------------------------

class TextConfigTest : public ::testing::Test {
 protected:
  test::TempDir tmp;
  fs::path path = tmp / "config.json";

  TextConfig load(const nlohmann::json& config) {
    test::write_file(path, config.dump());
    return TextConfig::load(path);
  }
};

// Qwen3VLTextConfig's class defaults in transformers 4.57.1 (configuration_qwen3_vl.py), for a
// text_config that gives nothing but the M-RoPE object 4.57 cannot do without.
TEST_F(TextConfigTest, AbsentKeysTakeTheTransformers457Defaults) {
  const TextConfig c = load({{"model_type", "qwen3_vl"}, {"text_config", {{"rope_scaling", nlohmann::json::object()}}}});
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 22016);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_EQ(c.max_position_embeddings, 128000);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.rope_theta, 5000000.0);
  EXPECT_EQ(c.rope_type, "default");
  EXPECT_EQ(c.mrope_section, (std::vector<int64_t>{24, 20, 20}));
  EXPECT_EQ(c.source, path.string());
}

TEST_F(TextConfigTest, NullKeysTakeTheFallbacksForNone) {
  auto config = test::tiny_qwen3vl_config();
  config["text_config"]["num_key_value_heads"] = nullptr;
  config["text_config"]["rope_scaling"]["mrope_section"] = {2, 1, 0};  // head_dim null: 24 / 4 = 6
  config["text_config"]["head_dim"] = nullptr;
  const TextConfig c = load(config);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 6);
}

// The lm_head tie is text_config's flag in 4.57; the top-level key does not decide it.
TEST_F(TextConfigTest, TieIsReadFromTextConfig) {
  auto config = test::tiny_qwen3vl_config();
  config["tie_word_embeddings"] = true;
  EXPECT_FALSE(load(config).tie_word_embeddings);
  config["text_config"]["tie_word_embeddings"] = true;
  config["tie_word_embeddings"] = false;
  EXPECT_TRUE(load(config).tie_word_embeddings);
}

TEST_F(TextConfigTest, AcceptsTransformers5RopeParameters) {
  auto config = test::tiny_qwen3vl_config();
  auto& text = config["text_config"];
  text.erase("rope_scaling");
  text.erase("rope_theta");
  text["rope_parameters"] = {{"rope_type", "default"}, {"mrope_section", {2, 3, 3}}, {"rope_theta", 7.5}};
  const TextConfig c = load(config);
  EXPECT_EQ(c.rope_theta, 7.5);
  EXPECT_EQ(c.mrope_section, (std::vector<int64_t>{2, 3, 3}));
}

TEST_F(TextConfigTest, BrokenConfigsNameFileAndKey) {
  const auto broken = [&](auto&& edit, Error::Kind kind, std::vector<std::string> fragments) {
    auto config = test::tiny_qwen3vl_config();
    edit(config);
    fragments.push_back(path.string());
    expect_error([&] { load(config); }, kind, fragments);
  };
  broken([](auto& c) { c.erase("text_config"); }, Error::Kind::InvalidInput, {"missing key 'text_config'"});
  broken([](auto& c) { c["text_config"].erase("rope_scaling"); }, Error::Kind::InvalidInput,
         {"missing key 'text_config.rope_scaling'", "M-RoPE"});
  broken([](auto& c) { c["text_config"]["rope_scaling"]["mrope_section"] = {4, 2, 3}; }, Error::Kind::InvalidInput,
         {"key 'text_config.rope_scaling.mrope_section'", "[4, 2, 3]", "head_dim / 2 = 8"});
  broken([](auto& c) { c["text_config"]["rope_scaling"]["mrope_section"] = {4, 4}; }, Error::Kind::InvalidInput,
         {"three counts"});
  broken([](auto& c) { c["text_config"]["head_dim"] = 20; }, Error::Kind::InvalidInput,
         {"mrope_section", "head_dim / 2 = 10"});
  broken([](auto& c) { c["text_config"]["num_key_value_heads"] = 3; }, Error::Kind::InvalidInput,
         {"key 'text_config.num_key_value_heads': 3 does not divide num_attention_heads 4"});
  broken([](auto& c) { c["text_config"]["hidden_size"] = "24"; }, Error::Kind::InvalidInput,
         {"key 'text_config.hidden_size': expected an integer"});
  broken([](auto& c) { c["text_config"]["max_position_embeddings"] = 0; }, Error::Kind::InvalidInput,
         {"key 'text_config.max_position_embeddings': must be positive"});
  broken([](auto& c) { c["model_type"] = "llava"; }, Error::Kind::Unsupported, {"'llava' is not a Qwen3-VL config"});
}

// ---- M-RoPE layout ---------------------------------------------------------------------------

// Frequency pair j reads the h row at j = 1, 4, ... below 3·section[1], the w row at j = 2, 5, ...
// below 3·section[2], the t row elsewhere; written out here in float64 for section [3, 2, 1].
TEST(Rotary, InterleavesTheThreeAxes) {
  TextConfig c;
  c.head_dim = 12;
  c.mrope_section = {3, 2, 1};
  c.rope_theta = 100.0;
  const Rotary rotary(c, at::kCPU);
  const at::Tensor positions = at::tensor({5, 7, 3, 2, 11, 13}, at::kLong).view({3, 2});  // rows t, h, w
  const RotaryTables tables = rotary.tables(positions, at::kFloat);
  ASSERT_EQ(tables.cos.sizes(), (std::vector<int64_t>{2, 1, 12}));
  const int axis[6] = {0, 1, 2, 0, 1, 0};  // pairs 0..5: t h w t h t
  for (int64_t token = 0; token < 2; ++token)
    for (int64_t j = 0; j < 6; ++j) {
      const double angle = positions[axis[j]][token].item<double>() * std::pow(100.0, -2.0 * j / 12);
      for (int64_t half : {0, 6}) {
        EXPECT_NEAR(tables.cos[token][0][j + half].item<double>(), std::cos(angle), 1e-6) << token << " " << j;
        EXPECT_NEAR(tables.sin[token][0][j + half].item<double>(), std::sin(angle), 1e-6) << token << " " << j;
      }
    }
  // apply(): x·cos + rotate_half(x)·sin, rotate_half(x) = (-x[6:], x[:6]).
  const at::Tensor x = at::randn({2, 3, 12});
  const at::Tensor rotated = at::cat({-x.narrow(-1, 6, 6), x.narrow(-1, 0, 6)}, -1);
  EXPECT_TRUE(at::allclose(Rotary::apply(x, tables), x * tables.cos + rotated * tables.sin));
}

// ---- checkpoints and inputs -------------------------------------------------------------------

class TextDecoderTest : public ::testing::Test {
 protected:
  test::TempDir tmp;
  nlohmann::json config = test::tiny_qwen3vl_config();
  test::NamedTensors tensors = test::tiny_qwen3vl_tensors(config, 5);

  TextDecoder load(at::ScalarType dtype = at::kFloat) {
    test::write_tiny_qwen3vl(tmp.path(), config, tensors);
    const auto ckpt = io::SafetensorsCheckpoint::open(tmp.path());
    return TextDecoder::load(ckpt, TextConfig::load(tmp / "config.json"), dtype, at::kCPU);
  }
  void drop(const std::string& name) {
    std::erase_if(tensors, [&](const auto& t) { return t.first == name; });
  }
};

TEST_F(TextDecoderTest, ReportsMissingAndUnexpectedTensorsTogether) {
  drop("model.language_model.layers.1.self_attn.k_norm.weight");
  drop("lm_head.weight");
  tensors.emplace_back("model.language_model.layers.2.mlp.up_proj.weight", at::zeros({40, 24}));
  tensors.emplace_back("model.language_model.layers.0.self_attn.q_proj.bias", at::zeros({64}));
  expect_error([&] { load(); }, Error::Kind::InvalidInput,
               {tmp.path().string(), "2 missing tensors", "model.language_model.layers.1.self_attn.k_norm.weight [16]",
                "lm_head.weight [97, 24]", "2 unexpected tensors", "model.language_model.layers.2.mlp.up_proj.weight",
                "model.language_model.layers.0.self_attn.q_proj.bias"});
}

TEST_F(TextDecoderTest, ReportsMisshapenTensors) {
  for (auto& [name, t] : tensors)
    if (name == "model.language_model.layers.0.self_attn.o_proj.weight") t = t.t().contiguous();
  expect_error([&] { load(); }, Error::Kind::InvalidInput,
               {"model.language_model.layers.0.self_attn.o_proj.weight: checkpoint has [64, 24], model expects [24, 64]"});
}

// A tied config uses embed_tokens whatever the file holds, as transformers does; an untied one
// needs lm_head.weight.
TEST_F(TextDecoderTest, TiedHeadIsTheEmbedding) {
  config["text_config"]["tie_word_embeddings"] = true;
  const TextDecoder tied = load();  // the file still has lm_head.weight: ignored, with a warning
  EXPECT_TRUE(tied.lm_head.weight().is_same(tied.model.embed_tokens()));
  drop("lm_head.weight");
  EXPECT_NO_THROW(load());
}

TEST_F(TextDecoderTest, UnsupportedConfigsAndDtypes) {
  config["text_config"]["rope_scaling"]["rope_type"] = "yarn";
  expect_error([&] { load(); }, Error::Kind::Unsupported, {"rope_type 'yarn'", "config.json"});
  config = test::tiny_qwen3vl_config();
  config["text_config"]["hidden_act"] = "gelu";
  expect_error([&] { load(); }, Error::Kind::Unsupported, {"hidden_act 'gelu'"});
  config = test::tiny_qwen3vl_config();
  config["text_config"]["attention_bias"] = true;
  expect_error([&] { load(); }, Error::Kind::Unsupported, {"attention_bias"});
  config = test::tiny_qwen3vl_config();
  expect_error([&] { load(at::kDouble); }, Error::Kind::Unsupported, {"bf16, fp16 or fp32"});
}

TEST_F(TextDecoderTest, BadForwardInputsAreRejectedBeforeTheCacheChanges) {
  const TextDecoder d = load();
  const TextModel& m = d.model;
  cache::FullCache cache(2);
  const auto text = [](int64_t n) { return cache::ForwardTokens::uniform(n, cache::Modality::Text); };
  const auto positions = [](int64_t from, int64_t n) { return at::arange(from, from + n).expand({3, n}).contiguous(); };
  const at::Tensor embeds = m.embed(at::arange(5));
  const auto rejected = [&](auto&& f, std::vector<std::string> fragments) {
    expect_error(f, Error::Kind::InvalidInput, fragments);
    EXPECT_EQ(cache.seen_tokens(), 0);
  };

  rejected([&] { m.embed(at::tensor({3, 97}, at::kLong)); }, {"token id 97 is outside the vocabulary [0, 97)"});
  rejected([&] { m.embed(at::tensor({-1}, at::kLong)); }, {"token id -1"});
  rejected([&] { m.embed(at::ones({2}, at::kInt)); }, {"1-D int64"});
  rejected([&] { m.forward(embeds.narrow(1, 0, 20), positions(0, 5), text(5), cache); }, {"[T, 24]"});
  rejected([&] { m.forward(embeds.to(at::kBFloat16), positions(0, 5), text(5), cache); }, {"BFloat16", "Float"});
  rejected([&] { m.forward(embeds, positions(0, 4), text(5), cache); }, {"position_ids must be [3, 5]"});
  rejected([&] { m.forward(embeds, positions(0, 5).narrow(0, 0, 2), text(5), cache); }, {"[3, 5]"});
  rejected([&] { m.forward(embeds, positions(0, 5), text(4), cache); }, {"4 token metadata entries for 5 tokens"});
  cache::FullCache wrong_layers(3);
  rejected([&] { m.forward(embeds, positions(0, 5), text(5), wrong_layers); }, {"the KV cache has 3 layers"});
  rejected([&] { m.forward(embeds, positions(-1, 5), text(5), cache); }, {"negative position id -1"});

  // A prompt longer than max_position_embeddings (64).
  const at::Tensor long_prompt = m.embed(at::arange(65) % 97);
  expect_error([&] { m.forward(long_prompt, positions(0, 65), text(65), cache); }, Error::Kind::InvalidInput,
               {"position 64 is beyond text_config.max_position_embeddings 64", "too long", "config.json"});
  EXPECT_EQ(cache.seen_tokens(), 0);

  DeepstackInputs deepstack{mask({0, 1, 1, 0, 0}), {at::zeros({2, 24})}};
  EXPECT_NO_THROW(m.forward(embeds, positions(0, 5), text(5), cache, &deepstack));
  cache.reset();
  deepstack.features = {at::zeros({3, 24})};
  rejected([&] { m.forward(embeds, positions(0, 5), text(5), cache, &deepstack); },
           {"DeepStack level 0 must be [2, 24]", "got [3, 24]"});
  deepstack.features = {at::zeros({2, 24}), at::zeros({2, 24}), at::zeros({2, 24})};
  rejected([&] { m.forward(embeds, positions(0, 5), text(5), cache, &deepstack); },
           {"3 DeepStack levels for 2 decoder layers"});
  deepstack = {at::tensor({0, 1, 1, 0, 0}), {at::zeros({2, 24})}};
  rejected([&] { m.forward(embeds, positions(0, 5), text(5), cache, &deepstack); }, {"visual mask must be [5] bool"});
}

// Token by token through the cache gives what one pass gives; DeepStack adds exactly its features.
TEST_F(TextDecoderTest, IncrementalForwardMatchesOnePass) {
  const TextDecoder d = load();
  const at::Tensor ids = at::tensor({3, 14, 15, 92, 65, 35}, at::kLong);
  const at::Tensor positions =
      at::tensor({0, 1, 2, 2, 3, 4, 0, 1, 1, 2, 3, 4, 0, 1, 2, 2, 3, 4}, at::kLong).view({3, 6});
  const at::Tensor embeds = d.model.embed(ids);
  cache::FullCache one(2), steps(2);
  const at::Tensor all = d.lm_head(d.model.forward(embeds, positions, cache::ForwardTokens::uniform(6, cache::Modality::Text), one));
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < 6; ++i)
    parts.push_back(d.lm_head(d.model.forward(embeds.narrow(0, i, 1), positions.narrow(1, i, 1),
                                              cache::ForwardTokens::uniform(1, cache::Modality::Text), steps)));
  TRIMVL_EXPECT_CLOSE(at::cat(parts), all, 1e-5, 1e-5);
  EXPECT_EQ(steps.seen_tokens(), 6);

  // A zero DeepStack feature changes nothing; a non-zero one changes the visual tokens and
  // everything after them, and nothing before.
  cache::FullCache a(2), b(2);
  const auto tokens = cache::ForwardTokens::uniform(6, cache::Modality::Image);
  DeepstackInputs zero{mask({0, 0, 1, 1, 0, 0}), {at::zeros({2, 24})}};
  TRIMVL_EXPECT_CLOSE(d.lm_head(d.model.forward(embeds, positions, tokens, a, &zero)), all, 0.0, 0.0);
  DeepstackInputs some{zero.visual_mask, {at::ones({2, 24})}};
  const at::Tensor changed = d.lm_head(d.model.forward(embeds, positions, tokens, b, &some));
  TRIMVL_EXPECT_CLOSE(changed.narrow(0, 0, 2), all.narrow(0, 0, 2), 0.0, 0.0);
  EXPECT_FALSE(at::allclose(changed.narrow(0, 2, 4), all.narrow(0, 2, 4)));
}


// Reduced precision on the CPU: fp16 and bf16 models follow the fp32 one within 2e-2 of the fp32
// logits' scale (the bound the bf16 golden test holds against transformers), prefill then decode.
TEST_F(TextDecoderTest, ReducedPrecisionFollowsFloat32) {
  const at::Tensor ids = at::tensor({3, 14, 15, 92, 65, 35, 89, 79}, at::kLong);
  const at::Tensor positions = at::arange(8, at::kLong).expand({3, 8}).contiguous();
  const auto logits = [&](at::ScalarType dtype) {
    const TextDecoder d = load(dtype);
    cache::FullCache cache(2);
    std::vector<at::Tensor> out;
    for (const auto& [start, size] : {std::pair<int64_t, int64_t>{0, 6}, {6, 1}, {7, 1}})
      out.push_back(d.lm_head(d.model.forward(d.model.embed(ids.narrow(0, start, size)), positions.narrow(1, start, size),
                                              cache::ForwardTokens::uniform(size, cache::Modality::Text), cache))
                        .to(at::kFloat));
    return at::cat(out);
  };
  const at::Tensor expected = logits(at::kFloat);
  const double scale = expected.abs().max().item<double>();
  for (const at::ScalarType dtype : {at::kHalf, at::kBFloat16}) {
    const at::Tensor actual = logits(dtype);
    EXPECT_TRUE(test::all_close(actual, expected, 0.0, 2e-2 * scale, c10::toString(dtype)));
    EXPECT_GT((actual - expected).abs().max().item<double>(), 0.0) << c10::toString(dtype) << " ran in fp32";
  }
}

// ---- retention gates ----------------------------------------------------------------------------

// A KvCache that attends like FullCache and records the log β each layer hands it.
class RecordingCache final : public cache::KvCache {
 public:
  explicit RecordingCache(int layers) : log_beta(static_cast<size_t>(layers)), inner_(layers) {}
  int num_layers() const override { return inner_.num_layers(); }
  int64_t seen_tokens() const override { return inner_.seen_tokens(); }
  void begin_forward(const cache::ForwardTokens& tokens) override { inner_.begin_forward(tokens); }
  at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& lb,
                    double scale) override {
    log_beta[static_cast<size_t>(layer)].push_back(lb);
    ++calls;
    return inner_.attend(layer, q, k, v, lb, scale);
  }
  void end_forward() override { inner_.end_forward(); }
  void abort_forward() noexcept override { inner_.abort_forward(); }
  void reset() override { inner_.reset(); }

  std::vector<std::vector<at::Tensor>> log_beta;  // [layer][forward]
  int calls = 0;

 private:
  cache::FullCache inner_;
};

class TextGatesTest : public TextDecoderTest {
 protected:
  static constexpr int64_t kKv = 2, kInter = 8;

  // rg gates for the tiny model's 2 layers, distinct per layer.
  cache::GateCheckpoint gates(int64_t layers = 2, int64_t hidden = 24, int64_t kv = kKv) const {
    cache::GateCheckpoint g;
    g.path = "/gates/trimkv_weights.pth";
    g.layer_prefix = "model.language_model.layers.";
    g.hidden_size = hidden;
    g.intermediate_size = kInter;
    g.num_kv_heads = kv;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(9);
    for (int64_t i = 0; i < layers; ++i) {
      cache::GateLayer layer;
      layer.hidden.push_back({at::normal(0.0, 0.5, {kInter, hidden}, gen), at::normal(0.0, 0.5, {kInter}, gen)});
      layer.out_weight = at::normal(0.0, 0.5, {kv, kInter}, gen);
      layer.out_bias = at::normal(2.0, 1.0, {kv}, gen);
      g.layers.push_back(std::move(layer));
    }
    return g;
  }

  TextDecoder load_with(const cache::GateCheckpoint& g, at::ScalarType dtype = at::kFloat) {
    test::write_tiny_qwen3vl(tmp.path(), config, tensors);
    const auto ckpt = io::SafetensorsCheckpoint::open(tmp.path());
    return TextDecoder::load(ckpt, TextConfig::load(tmp / "config.json"), dtype, at::kCPU, &g);
  }

  at::Tensor tensor(const std::string& name) const {
    for (const auto& [n, t] : tensors)
      if (n == name) return t;
    throw std::runtime_error("no tensor " + name);
  }
};

TEST_F(TextGatesTest, WithoutGatesTheCacheGetsNoLogBeta) {
  const TextDecoder d = load();
  EXPECT_FALSE(d.model.has_gates());
  RecordingCache cache(2);
  d.model.forward(d.model.embed(at::arange(4)), at::arange(4).expand({3, 4}).contiguous(),
                  cache::ForwardTokens::uniform(4, cache::Modality::Text), cache);
  ASSERT_EQ(cache.calls, 2);
  for (const auto& layer : cache.log_beta) EXPECT_FALSE(layer.at(0).defined());
}

// Layer 0's log β is the gate applied to input_layernorm(embeddings), computed here by hand, for
// all of a forward's tokens at once.
TEST_F(TextGatesTest, LayerZeroGateReadsTheNormalisedInput) {
  const auto g = gates();
  const TextDecoder d = load_with(g);
  EXPECT_TRUE(d.model.has_gates());
  RecordingCache cache(2);
  const at::Tensor embeds = d.model.embed(at::arange(5) * 7);
  d.model.forward(embeds, at::arange(5).expand({3, 5}).contiguous(), cache::ForwardTokens::uniform(5, cache::Modality::Text),
                  cache);
  const at::Tensor normed = embeds * at::rsqrt(embeds.pow(2).mean(-1, true) + 1e-6) *
                            tensor("model.language_model.layers.0.input_layernorm.weight");
  const auto& l0 = g.layers[0];
  const at::Tensor expected = at::log_sigmoid(
      at::matmul(at::silu(at::matmul(normed, l0.hidden[0].weight.t()) + l0.hidden[0].bias), l0.out_weight.t()) + l0.out_bias);
  ASSERT_EQ(cache.log_beta[0].size(), 1u);
  ASSERT_EQ(cache.log_beta[0][0].sizes(), (std::vector<int64_t>{5, kKv}));
  TRIMVL_EXPECT_CLOSE(cache.log_beta[0][0], expected, 1e-5, 1e-6);
  EXPECT_TRUE(cache.log_beta[1][0].defined());
  EXPECT_FALSE(at::allclose(cache.log_beta[1][0], cache.log_beta[0][0]));
}

// DeepStack adds after layer 0, so layer 1's gate sees the enriched visual rows: its log β changes
// there and nowhere else, and layer 0's does not change at all.
TEST_F(TextGatesTest, LaterLayersGateTheDeepStackEnrichedState) {
  const TextDecoder d = load_with(gates());
  const at::Tensor embeds = d.model.embed(at::arange(6) * 5);
  const at::Tensor positions = at::arange(6).expand({3, 6}).contiguous();
  const auto tokens = cache::ForwardTokens::uniform(6, cache::Modality::Image);
  const auto run = [&](const at::Tensor& feature) {
    RecordingCache cache(2);
    DeepstackInputs deepstack{mask({0, 0, 1, 1, 0, 0}), {feature}};
    d.model.forward(embeds, positions, tokens, cache, &deepstack);
    return cache.log_beta;
  };
  const auto plain = run(at::zeros({2, 24})), enriched = run(at::ones({2, 24}));
  TRIMVL_EXPECT_CLOSE(enriched[0][0], plain[0][0], 0.0, 0.0);
  const at::Tensor changed = (enriched[1][0] - plain[1][0]).abs().amax(1).gt(1e-6);
  EXPECT_TRUE(at::equal(changed, mask({0, 0, 1, 1, 0, 0}))) << changed;
}

// Decode steps gate their one token; the gate runs in the model dtype.
TEST_F(TextGatesTest, GatesRunInTheModelDtypeEveryForward) {
  const TextDecoder d = load_with(gates(), at::kBFloat16);
  RecordingCache cache(2);
  for (const auto& [start, size] : {std::pair<int64_t, int64_t>{0, 3}, {3, 1}, {4, 1}})
    d.model.forward(d.model.embed(at::arange(start, start + size)), at::arange(start, start + size).expand({3, size}).contiguous(),
                    cache::ForwardTokens::uniform(size, cache::Modality::Text), cache);
  for (const auto& layer : cache.log_beta) {
    ASSERT_EQ(layer.size(), 3u);
    EXPECT_EQ(layer[0].size(0), 3);
    EXPECT_EQ(layer[2].sizes(), (std::vector<int64_t>{1, kKv}));
    EXPECT_EQ(layer[2].scalar_type(), at::kBFloat16);
    EXPECT_TRUE(layer[2].lt(0).all().item<bool>());
  }
}

// Gates loaded for another model are refused before the model is built, naming both files.
TEST_F(TextGatesTest, GatesForAnotherModelAreRefused) {
  const std::string gate_file = "/gates/trimkv_weights.pth", base = (tmp / "config.json").string();
  expect_error([&] { load_with(gates(3)); }, Error::Kind::InvalidInput,
               {"retention gates for 3 layers", "num_hidden_layers 2", gate_file, base});
  expect_error([&] { load_with(gates(2, 32)); }, Error::Kind::InvalidInput,
               {"for hidden size 32", "hidden_size 24", gate_file, base});
  expect_error([&] { load_with(gates(2, 24, 4)); }, Error::Kind::InvalidInput,
               {"scoring 4 KV heads", "num_key_value_heads 2", gate_file, base});
  auto llm = gates();
  llm.layer_prefix = "model.layers.";
  expect_error([&] { load_with(llm); }, Error::Kind::InvalidInput,
               {"named 'model.layers.{i}...'", "'model.language_model.layers.{i}...'", gate_file});
}

// set_gates on a loaded model: the log β a model loaded with those gates computes (bit for bit),
// none after set_gates(nullptr), gates that do not fit refused with the model left as it was, and
// gates placed once (place_gates) installed again after a switch.
TEST_F(TextGatesTest, GatesCanBeSwappedOnALoadedModel) {
  const auto g = gates();
  const at::Tensor ids = at::arange(4) * 3, positions = at::arange(4).expand({3, 4}).contiguous();
  const auto log_beta = [&](const TextDecoder& d) {
    RecordingCache cache(2);
    d.model.forward(d.model.embed(ids), positions, cache::ForwardTokens::uniform(4, cache::Modality::Text), cache);
    return cache.log_beta;
  };
  const auto expected = log_beta(load_with(g));
  TextDecoder d = load();
  d.model.set_gates(&g);
  EXPECT_TRUE(d.model.has_gates());
  const auto swapped = log_beta(d);
  for (size_t layer = 0; layer < expected.size(); ++layer)
    EXPECT_TRUE(at::equal(swapped[layer][0], expected[layer][0])) << "layer " << layer;

  const auto three_layers = gates(3);
  expect_error([&] { d.model.set_gates(&three_layers); }, Error::Kind::InvalidInput, {"retention gates for 3 layers"});
  EXPECT_TRUE(d.model.has_gates());
  EXPECT_TRUE(at::equal(log_beta(d)[1][0], expected[1][0]));

  d.model.set_gates(nullptr);
  EXPECT_FALSE(d.model.has_gates());
  for (const auto& layer : log_beta(d)) EXPECT_FALSE(layer.at(0).defined());

  // Placed once, installed again after other gates and none: still the loaded model's log β.
  const auto placed = d.model.place_gates(g);
  ASSERT_EQ(placed->size(), 2u);
  d.model.set_gates(placed);
  d.model.set_gates(nullptr);
  d.model.set_gates(placed);
  EXPECT_TRUE(d.model.has_gates());
  const auto again = log_beta(d);
  for (size_t layer = 0; layer < expected.size(); ++layer)
    EXPECT_TRUE(at::equal(again[layer][0], expected[layer][0])) << "layer " << layer;
  expect_error([&] { (void)d.model.place_gates(three_layers); }, Error::Kind::InvalidInput,
               {"retention gates for 3 layers"});
}

TEST_F(TextGatesTest, GateSpecIsTheModelsSizes) {
  test::write_tiny_qwen3vl(tmp.path(), config, tensors);
  const auto spec = TextModel::gate_spec(TextConfig::load(tmp / "config.json"));
  EXPECT_EQ(spec.layer_prefix, "model.language_model.layers.");
  EXPECT_EQ(spec.num_layers, 2);
  EXPECT_EQ(spec.hidden_size, 24);
  EXPECT_EQ(spec.num_kv_heads, 2);
  EXPECT_EQ(spec.base_source, (tmp / "config.json").string());
  EXPECT_FALSE(spec.type.has_value());
}

}  // namespace
}  // namespace trimvl::qwen3vl
