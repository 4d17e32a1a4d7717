// RetentionGate on hand-made layers: values that follow from the definition, and the errors a
// layer or an input that does not fit must give. The reference parity is
// retention_gate_golden_test.cpp.
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/retention_gate.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"

namespace trimvl::cache {
namespace {

constexpr int64_t kHidden = 6, kInter = 4, kKv = 2;

GateLayer rg_layer() {
  GateLayer l;
  l.hidden.push_back({at::randn({kInter, kHidden}), at::randn({kInter})});
  l.out_weight = at::randn({kKv, kInter});
  l.out_bias = at::tensor({0.5f, -1.0f});
  return l;
}

template <class F>
void expect_invalid(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// With a zero out projection every token's log β is logsigmoid(bias), whatever the hidden layers do.
TEST(RetentionGate, ZeroOutProjectionGivesLogSigmoidOfTheBias) {
  auto layer = rg_layer();
  layer.out_weight.zero_();
  const RetentionGate gate(layer, at::kFloat, at::kCPU);
  const at::Tensor log_beta = gate(at::randn({5, kHidden}));
  const at::Tensor expected = at::tensor({std::log(1 / (1 + std::exp(-0.5))), std::log(1 / (1 + std::exp(1.0)))},
                                         at::kDouble).to(at::kFloat).expand({5, kKv});
  TRIMVL_EXPECT_CLOSE(log_beta, expected, 1e-6, 0.0);
}

// One hidden layer written out by hand: logsigmoid(W2·silu(W1·x + b1) + b).
TEST(RetentionGate, RgIsOneSiluLayerThenTheBiasedOutProjection) {
  at::manual_seed(3);
  const auto layer = rg_layer();
  const at::Tensor x = at::randn({7, kHidden}, at::kDouble);
  const at::Tensor pre = at::matmul(x, layer.hidden[0].weight.to(at::kDouble).t()) + layer.hidden[0].bias.to(at::kDouble);
  const at::Tensor z = at::matmul(pre * at::sigmoid(pre), layer.out_weight.to(at::kDouble).t()) + layer.out_bias.to(at::kDouble);
  const at::Tensor expected = -at::log1p(at::exp(-z));
  TRIMVL_EXPECT_CLOSE(RetentionGate(layer, at::kDouble, at::kCPU)(x), expected, 1e-12, 1e-12);
  EXPECT_EQ(RetentionGate(layer, at::kBFloat16, at::kCPU)(x.to(at::kBFloat16)).scalar_type(), at::kBFloat16);
}

TEST(RetentionGate, RefusesLayersThatDoNotChain) {
  auto wide = rg_layer();
  wide.out_weight = at::randn({kKv, kInter + 1});
  expect_invalid([&] { RetentionGate(wide, at::kFloat, at::kCPU); }, "does not fit width 4");
  auto bias = rg_layer();
  bias.out_bias = at::randn({kKv + 1});
  expect_invalid([&] { RetentionGate(bias, at::kFloat, at::kCPU); }, "output projection");
  auto second = rg_layer();
  second.hidden.push_back({at::randn({kInter, kInter + 2}), at::randn({kInter})});
  expect_invalid([&] { RetentionGate(second, at::kFloat, at::kCPU); }, "does not take width 4");
  expect_invalid([&] { RetentionGate(GateLayer{}, at::kFloat, at::kCPU); }, "at least one hidden projection");
  expect_invalid([&] { RetentionGate(rg_layer(), at::kLong, at::kCPU); }, "floating dtype");
}

TEST(RetentionGate, RefusesInputsThatDoNotFit) {
  const RetentionGate gate(rg_layer(), at::kFloat, at::kCPU);
  expect_invalid([&] { gate(at::randn({3, kHidden + 1})); }, "[T, 6]");
  expect_invalid([&] { gate(at::randn({kHidden})); }, "[T, 6]");
  expect_invalid([&] { gate(at::randn({3, kHidden}, at::kDouble)); }, "the gate runs in Float");
}

}  // namespace
}  // namespace trimvl::cache
