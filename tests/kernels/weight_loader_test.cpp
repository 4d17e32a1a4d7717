#include <ATen/ATen.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace trimvl::io
