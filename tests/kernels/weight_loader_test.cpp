#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/io/random_weights.h"
#include "kernels/io/safetensors.h"
#include "kernels/io/weight_loader.h"
#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::io {
namespace {

class WeightLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::manual_seed(3);
    save_safetensors(dir_ / "model.safetensors",
                     {{"model.layers.0.q.weight", at::randn({4, 3}, at::kBFloat16)},
                      {"model.layers.0.norm.weight", at::randn({3}, at::kFloat)},
                      {"model.layers.1.q.weight", at::randn({4, 3}, at::kBFloat16)},
                      {"model.visual.proj.weight", at::randn({2, 2}, at::kBFloat16)}});
    checkpoint_ = std::make_unique<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(dir_ / "model.safetensors"));
  }
  test::TempDir dir_;
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
};

TEST_F(WeightLoaderTest, ScopesNameTensorsLikeTheCheckpointAndConvert) {
  WeightLoader loader(*checkpoint_, at::kFloat, at::kCPU);
  auto layers = loader.root().scope("model").scope("layers");
  for (int i = 0; i < 2; ++i) {
    at::Tensor q = layers.scope(i).scope("q").take("weight", {4, 3});
    EXPECT_EQ(q.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(q, checkpoint_->tensor(fmt::format("model.layers.{}.q.weight", i)).to(at::kFloat)));
  }
  at::Tensor norm = layers.scope(0).scope("norm").take_as_stored("weight", {3});
  EXPECT_EQ(norm.scalar_type(), at::kFloat);
  EXPECT_EQ(layers.scope(0).name("q.weight"), "model.layers.0.q.weight");
  // The vision tensor belongs to another prefix: not this loader's business.
  EXPECT_NO_THROW(loader.finish({"model.layers."}));
}

TEST_F(WeightLoaderTest, ReportsEveryProblemInOneError) {
  WeightLoader loader(*checkpoint_, at::kBFloat16, at::kCPU);
  auto layer0 = loader.root().scope("model.layers").scope(0);
  at::Tensor wrong = layer0.scope("q").take("weight", {3, 4});  // transposed: wrong shape
  EXPECT_EQ(wrong.sizes(), (std::vector<int64_t>{3, 4}));       // placeholder keeps loading going
  at::Tensor missing = layer0.scope("k").take("weight", {4, 3});
  EXPECT_EQ(missing.sizes(), (std::vector<int64_t>{4, 3}));
  try {
    loader.finish({"model."});
    FAIL() << "finish() accepted a mismatching checkpoint";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("model.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("1 missing tensors:\n    model.layers.0.k.weight [4, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("model.layers.0.q.weight: checkpoint has [4, 3], model expects [3, 4]"), std::string::npos) << m;
    EXPECT_NE(m.find("3 unexpected tensors"), std::string::npos) << m;  // norm, layer 1, visual
    EXPECT_NE(m.find("model.visual.proj.weight"), std::string::npos) << m;
  }
}


// Random weights in memory go through the same loader: the model asks by name and shape, gets
// tensors in its dtype, and finish() reports what does not fit, naming the random source.
TEST(RandomWeightsTest, LoadLikeACheckpointWithTheirInitAndSeed) {
  using Init = RandomTensor::Init;
  const std::vector<RandomTensor> spec = {{"m.q.weight", {64, 32}, Init::Normal},
                                          {"m.norm.weight", {32}, Init::Ones},
                                          {"m.q.bias", {64}, Init::Zeros},
                                          {"m.extra", {2}, Init::Normal}};
  const RandomWeights weights(spec, at::kBFloat16, at::kCPU, /*seed=*/7, /*std=*/0.02);
  EXPECT_EQ(weights.numel("m.q."), 64 * 32 + 64);
  EXPECT_EQ(weights.nbytes(), (64 * 32 + 32 + 64 + 2) * 2);
  WeightLoader loader(weights, at::kFloat, at::kCPU);
  const auto m = loader.root().scope("m");
  const at::Tensor q = m.scope("q").take("weight", {64, 32});
  EXPECT_EQ(q.scalar_type(), at::kFloat);
  EXPECT_NEAR(q.std().item<double>(), 0.02, 0.002);
  EXPECT_NEAR(q.mean().item<double>(), 0.0, 0.002);
  EXPECT_TRUE(at::equal(m.scope("norm").take("weight", {32}), at::ones({32})));
  EXPECT_TRUE(at::equal(m.scope("q").take("bias", {64}), at::zeros({64})));
  m.take("absent", {1});
  try {
    loader.finish({"m."});
    FAIL() << "finish() accepted a missing and an unused tensor";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("random weights (4 tensors, bf16, seed 7)"), std::string::npos) << message;
    EXPECT_NE(message.find("m.absent [1]"), std::string::npos) << message;
    EXPECT_NE(message.find("1 unexpected tensors:\n    m.extra"), std::string::npos) << message;
  }
  // Same seed, same order: the same values.
  const RandomWeights again(spec, at::kBFloat16, at::kCPU, 7);
  EXPECT_TRUE(at::equal(again.tensor("m.q.weight").to(at::kFloat), q));
  EXPECT_THROW(RandomWeights({{"a", {1}}, {"a", {2}}}, at::kFloat, at::kCPU, 0), Error);
}

}  // namespace
}  // namespace trimvl::io
