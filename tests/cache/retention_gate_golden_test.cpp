// The retention gate against trimkv 0.1.5's own RetentionGate / RetentionGate10 modules
// (tests/golden/gen_retention_gate.py), on random weights whose log β spans about [−3, −2e-3] (rg)
// and [−6, −6e-4] (rg10).
//
// Tolerances, measured: fp32 is bit-identical (we allow 1e-6 abs: both sides run the same ATen
// ops on the same shapes, but a BLAS may pick another kernel); bf16 is bit-identical (we allow
// 1 ulp, for the same reason). The test prints the measured worst case.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/retention_gate.h"
#include "kernels/io/safetensors.h"
#include "tests/support/golden.h"

namespace trimvl::cache {
namespace {

struct Case {
  std::string variant, dtype;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.variant << "." << c.dtype; }

class RetentionGateGolden : public ::testing::TestWithParam<Case> {
 protected:
  io::SafetensorsFile file = io::SafetensorsFile::open(test::golden_dir("retention_gate") / "gates.safetensors");

  at::Tensor get(const std::string& name) const {
    return file.tensor(GetParam().variant + "." + GetParam().dtype + "." + name);
  }

  // The module's parameters as a checkpoint layer: rg's out projection is linear2, rg10's linear3.
  GateLayer layer() const {
    GateLayer l;
    l.hidden.push_back({get("linear1.weight"), get("linear1.bias")});
    if (GetParam().variant == "rg10") {
      l.hidden.push_back({get("linear2.weight"), get("linear2.bias")});
      l.out_weight = get("linear3.weight");
    } else {
      l.out_weight = get("linear2.weight");
    }
    l.out_bias = get("bias");
    return l;
  }
};

// Units in the last place between two bf16 tensors of one sign (log β < 0 on both sides).
int64_t max_ulps(const at::Tensor& a, const at::Tensor& b) {
  return (a.view(at::kShort).to(at::kInt) - b.view(at::kShort).to(at::kInt)).abs().max().item<int64_t>();
}

TEST_P(RetentionGateGolden, MatchesTheReferenceModule) {
  const at::ScalarType dtype = GetParam().dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const RetentionGate gate(layer(), dtype, at::kCPU);
  EXPECT_EQ(gate.num_kv_heads(), 3);
  for (const std::string c : {"prefill", "decode"}) {
    SCOPED_TRACE(c);
    const at::Tensor x = get(c + ".x"), expected = get(c + ".log_beta");
    ASSERT_EQ(x.scalar_type(), dtype);
    const at::Tensor actual = gate(x);
    ASSERT_EQ(actual.scalar_type(), dtype);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    ASSERT_TRUE(expected.lt(0).all().item<bool>());
    if (dtype == at::kFloat) {
      const double err = (actual - expected).abs().max().item<double>();
      std::cout << "[ measured ] " << GetParam().variant << " fp32 " << c << ": max |Δ| " << err << "\n";
      TRIMVL_EXPECT_CLOSE(actual, expected, 0.0, 1e-6);
    } else {
      const int64_t ulps = max_ulps(actual, expected);
      std::cout << "[ measured ] " << GetParam().variant << " bf16 " << c << ": max " << ulps << " ulp\n";
      EXPECT_LE(ulps, 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, RetentionGateGolden,
                         ::testing::Values(Case{"rg", "fp32"}, Case{"rg", "bf16"}, Case{"rg10", "fp32"},
                                           Case{"rg10", "bf16"}),
                         [](const auto& info) { return info.param.variant + "_" + info.param.dtype; });

}  // namespace
}  // namespace trimvl::cache
