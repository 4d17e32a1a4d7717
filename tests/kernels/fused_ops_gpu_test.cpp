// The fused CUDA kernels (kernels/ops/rms_norm.h, rotary.h, swiglu.h, gate_head.h, vision_rope.h, gemv.h) against the ATen ops they
// replace — the code of language/qwen3vl's RmsNorm, Rotary::apply and TextMlp, repeated below —
// run on the same device in the same dtype. Skips where no CUDA device exists (CI).
//
// Tolerances. The kernels round every intermediate to the dtype where the separate ATen ops store
// it, so the one freedom left is the order of the fp32 sum of squares inside a norm:
//  - Elementwise results (the residual sum; SiLU·mul) must be bit-identical in bf16 and fp16, and
//    the residual sum in fp32 too (one IEEE add). fp32 SiLU·mul is held to 1e-5 relative, the
//    fp32 bound everywhere here, though it is expected exact as well.
//  - Norms of "exact" rows — multiples of 1/16 of magnitude at most 1 (2 after a residual add),
//    whose squares and every partial sum of them are exact in fp32 for rows up to 16384 — must be
//    bit-identical in every dtype: with the order made irrelevant, nothing may differ.
//  - Norms of generic (normal) rows: the fp32 sums differ by a few fp32 ulps, which moves the
//    normalised value by at most 1 ulp of the dtype; the weight product can carry that to 2 ulps
//    of the output: |Δ| <= 2·u·|expected|, u = 2^-7 (bf16), 2^-10 (fp16). The rotation then adds
//    an ulp per product and one for the sum: |Δ| <= 4·u·(|y·cos| + |rotate_half(y)·sin|), the
//    terms as the reference computed them. fp32: 1e-5 relative to the same magnitudes. Each bound
//    also allows as many of the dtype's subnormal steps, where ulps stop being relative (fp16).
//
// Outputs are checked in memory that was NaN before the op ran (poison_next), so an element a
// kernel fails to write cannot pass by holding a stale value.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/ops/device_graph.h"
#include "kernels/ops/gate_head.h"
#include "kernels/ops/gemv.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rotary.h"
#include "kernels/ops/swiglu.h"
#include "kernels/ops/vision_rope.h"
#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/generator.h"
#include "tests/support/test_env.h"

namespace trimvl::ops {
namespace {

constexpr double kEps = 1e-6;  // Qwen3-VL's rms_norm_eps
constexpr double kFp32Bound = 1e-5;
const std::vector<at::ScalarType> kDtypes = {at::kBFloat16, at::kHalf, at::kFloat};

const c10::Device kCuda(c10::kCUDA, 0);

// The bound on |Δ| of `steps` roundings of bf16/fp16 relative to `scale` (u = the dtype's machine
// epsilon, the most one ulp is relative to a value), plus as many of its smallest subnormal steps,
// where relative bounds stop holding (fp16 below 6e-5); for fp32 the fixed relative bound.
at::Tensor rounding_bound(const at::Tensor& scale, at::ScalarType dtype, int steps) {
  const at::Tensor magnitude = scale.to(at::kDouble).abs();
  if (dtype == at::kBFloat16) return magnitude * (steps * 0x1p-7) + steps * 0x1p-133;
  if (dtype == at::kHalf) return magnitude * (steps * 0x1p-10) + steps * 0x1p-24;
  return magnitude * kFp32Bound;
}

// |actual − expected| <= bound elementwise (bound 0: bit-identical values), compared in float64;
// NaN anywhere fails. The message names the worst element.
::testing::AssertionResult within(const at::Tensor& actual, const at::Tensor& expected, const at::Tensor& bound,
                                  const std::string& what) {
  if (actual.sizes() != expected.sizes() || actual.scalar_type() != expected.scalar_type())
    return ::testing::AssertionFailure() << what << ": got " << describe(actual) << ", expected "
                                         << describe(expected);
  const at::Tensor a = actual.to(at::kCPU, at::kDouble).flatten(), e = expected.to(at::kCPU, at::kDouble).flatten();
  const at::Tensor b = bound.to(at::kCPU, at::kDouble).expand(expected.sizes()).flatten();
  const at::Tensor diff = (a - e).abs();
  const at::Tensor bad = ~(diff <= b);
  const int64_t count = bad.sum().item<int64_t>();
  if (count == 0) return ::testing::AssertionSuccess();
  const int64_t worst = (diff - b).nan_to_num(std::numeric_limits<double>::infinity()).argmax().item<int64_t>();
  return ::testing::AssertionFailure() << fmt::format(
             "{}: {} of {} elements beyond their bound; worst at flat index {}: actual {} expected {} bound {}", what,
             count, a.numel(), worst, a[worst].item<double>(), e[worst].item<double>(), b[worst].item<double>());
}

at::Tensor zero_bound() { return at::zeros({}, at::kDouble); }

// Fills with NaN the memory an op's outputs will get: tensors of the outputs' sizes and dtype,
// allocated in the op's order and freed again, take exactly the blocks the op's own requests take
// next — the caching allocator picks blocks by size from its free list, which these frees restore.
// Nothing may allocate on the device between this and the op (PoisonReachesTheNextAllocations).
void poison_next(std::initializer_list<at::Tensor> outputs_like) {
  std::vector<at::Tensor> held;
  for (const at::Tensor& like : outputs_like)
    held.push_back(at::full(like.sizes(), std::numeric_limits<float>::quiet_NaN(), like.options()));
}

enum class Rows { Exact, Normal };
const char* name(Rows rows) { return rows == Rows::Exact ? "exact" : "normal"; }

class FusedOpsGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_available()) gen_ = seeded_generator(kCuda, 20251123);
  }

  // Fresh values for every call, never zero: normal draws, or ±k/16 with k in 1..16.
  at::Tensor draw(at::IntArrayRef shape, at::ScalarType dtype, Rows rows = Rows::Normal) {
    const auto floats = at::TensorOptions().dtype(at::kFloat).device(kCuda);
    if (rows == Rows::Normal) return at::randn(shape, gen_, floats).to(dtype);
    const at::Tensor k = at::randint(1, 17, shape, gen_, floats);
    const at::Tensor sign = at::randint(0, 2, shape, gen_, floats) * 2 - 1;
    return (k * sign / 16).to(dtype);
  }
  // Norm weights as trained models have them: around 1, never 0 in practice.
  at::Tensor norm_weight(int64_t dim, at::ScalarType dtype) {
    return (1 + at::randn({dim}, gen_, at::TensorOptions().dtype(at::kFloat).device(kCuda)) * 0.2).to(dtype);
  }

  at::Generator gen_;
};

// language/qwen3vl/rms_norm.cpp's reference, op for op.
at::Tensor reference_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(variance + eps)).to(x.scalar_type());
}

// Rotary::apply (language/qwen3vl/rotary.cpp) op for op, with the magnitudes of its two terms.
struct RopeReference {
  at::Tensor out, terms;
};
RopeReference reference_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  const at::Tensor a = x * cos, b = rotated * sin;
  return {a + b, a.to(at::kDouble).abs() + b.to(at::kDouble).abs()};
}

// The harness itself: what poison_next prepares is what the next requests get. Sizes from the
// small pool (up to 1 MiB), its limit, the large pool; one and two outputs; holes left by freed
// temporaries in between, as draw() leaves them.
TEST_F(FusedOpsGpu, PoisonReachesTheNextAllocations) {
  TRIMVL_REQUIRE_CUDA();
  for (const int64_t n : {int64_t{24}, int64_t{1} << 18, int64_t{3} << 20}) {
    const at::Tensor a = draw({n}, at::kBFloat16), b = draw({n / 2 + 8}, at::kFloat);
    poison_next({a, b});
    const at::Tensor first = at::empty(a.sizes(), a.options()), second = at::empty(b.sizes(), b.options());
    EXPECT_TRUE(first.isnan().all().item<bool>()) << n << " bf16";
    EXPECT_TRUE(second.isnan().all().item<bool>()) << n / 2 + 8 << " fp32";
  }
}

// Shapes [rows, dim]: one decode row, prefill rows, a row per vector (fp32 dim 8), dims that are
// not powers of two, and rows long enough for 2 and 4 vectors per thread.
const std::vector<std::vector<int64_t>> kNormShapes = {{1, 2560}, {7, 2560}, {64, 8192}, {3, 24}, {1, 8},
                                                       {5, 4104}, {2, 16384}, {2, 5, 128}};

TEST_F(FusedOpsGpu, RmsNormMatchesAten) {
  TRIMVL_REQUIRE_CUDA();
  for (const auto dtype : kDtypes)
    for (const auto& shape : kNormShapes)
      for (const Rows rows : {Rows::Exact, Rows::Normal}) {
        const std::string what = fmt::format("rms_norm {} {} {}", dtype_name(dtype), shape, name(rows));
        const at::Tensor x = draw(shape, dtype, rows), weight = norm_weight(shape.back(), dtype);
        ASSERT_TRUE(rms_norm_supported(x, weight)) << what;
        poison_next({x});
        const at::Tensor out = rms_norm(x, weight, kEps);
        const at::Tensor expected = reference_rms_norm(x, weight, kEps);
        EXPECT_TRUE(within(out, expected,
                           rows == Rows::Exact ? zero_bound() : rounding_bound(expected, dtype, 2), what));
      }
}

TEST_F(FusedOpsGpu, AddRmsNormMatchesAten) {
  TRIMVL_REQUIRE_CUDA();
  for (const auto dtype : kDtypes)
    for (const auto& shape : kNormShapes)
      for (const Rows rows : {Rows::Exact, Rows::Normal}) {
        const std::string what = fmt::format("add_rms_norm {} {} {}", dtype_name(dtype), shape, name(rows));
        const at::Tensor x = draw(shape, dtype, rows), residual = draw(shape, dtype, rows);
        const at::Tensor weight = norm_weight(shape.back(), dtype);
        ASSERT_TRUE(add_rms_norm_supported(x, residual, weight)) << what;
        poison_next({x, x});  // normed, then sum
        const ResidualNorm out = add_rms_norm(x, residual, weight, kEps);
        const at::Tensor sum = x + residual;
        EXPECT_TRUE(within(out.sum, sum, zero_bound(), what + " sum"));
        const at::Tensor expected = reference_rms_norm(sum, weight, kEps);
        EXPECT_TRUE(within(out.normed, expected,
                           rows == Rows::Exact ? zero_bound() : rounding_bound(expected, dtype, 2),
                           what + " normed"));
        // As a decoder calls it: the stream written two kernels before (here a copy), the block's
        // output by the kernel just before, so x is read before the dependent wait.
        const at::Tensor stream = x.clone(), block_out = residual.clone();
        poison_next({x, x});
        const ResidualNorm early = add_rms_norm(stream, block_out, weight, kEps, LastWriterOfX::kEarlier);
        EXPECT_TRUE(at::equal(early.sum, out.sum)) << what << " sum, x settled";
        EXPECT_TRUE(at::equal(early.normed, out.normed)) << what << " normed, x settled";
      }
}

TEST_F(FusedOpsGpu, RmsNormDeclinesWhatItCannotTake) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = [](at::ScalarType t) { return at::TensorOptions().dtype(t).device(kCuda); };
  const at::Tensor w24 = at::ones({24}, cuda(at::kBFloat16));
  EXPECT_TRUE(rms_norm_supported(at::ones({3, 24}, cuda(at::kBFloat16)), w24));
  // Rows must split into 16-byte vectors: 12 elements are three fp32 vectors but 1.5 bf16 ones.
  EXPECT_TRUE(rms_norm_supported(at::ones({3, 12}, cuda(at::kFloat)), at::ones({12}, cuda(at::kFloat))));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 12}, cuda(at::kBFloat16)), at::ones({12}, cuda(at::kBFloat16))));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 30}, cuda(at::kFloat)), at::ones({30}, cuda(at::kFloat))));
  // At most 4096 vectors a row: 32768 bf16 elements, but not 32768 fp32 ones.
  EXPECT_TRUE(rms_norm_supported(at::ones({1, 32768}, cuda(at::kBFloat16)), at::ones({32768}, cuda(at::kBFloat16))));
  EXPECT_FALSE(rms_norm_supported(at::ones({1, 32768}, cuda(at::kFloat)), at::ones({32768}, cuda(at::kFloat))));
  // Layout, alignment, dtypes, devices.
  EXPECT_FALSE(rms_norm_supported(at::ones({24, 3}, cuda(at::kBFloat16)).t(), w24));
  const at::Tensor shifted = at::ones({1 + 3 * 24}, cuda(at::kBFloat16)).narrow(0, 1, 3 * 24).view({3, 24});
  ASSERT_TRUE(shifted.is_contiguous());
  EXPECT_FALSE(rms_norm_supported(shifted, w24));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 24}, cuda(at::kBFloat16)), at::ones({24}, cuda(at::kFloat))));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 24}, cuda(at::kBFloat16)), at::ones({16}, cuda(at::kBFloat16))));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 24}, cuda(at::kDouble)), at::ones({24}, cuda(at::kDouble))));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 24}, cuda(at::kBFloat16)), at::ones({24}, at::kBFloat16)));
  EXPECT_FALSE(rms_norm_supported(at::ones({3, 24}, at::kBFloat16), at::ones({24}, at::kBFloat16)));
  EXPECT_FALSE(add_rms_norm_supported(at::ones({3, 24}, cuda(at::kBFloat16)), at::ones({2, 24}, cuda(at::kBFloat16)),
                                      w24));
  EXPECT_FALSE(add_rms_norm_supported(at::ones({3, 24}, cuda(at::kBFloat16)), at::ones({3, 24}, cuda(at::kHalf)), w24));
  EXPECT_THROW(rms_norm(at::ones({3, 12}, cuda(at::kBFloat16)), at::ones({12}, cuda(at::kBFloat16)), kEps), Error);
}

TEST_F(FusedOpsGpu, QkNormRopeMatchesAten) {
  TRIMVL_REQUIRE_CUDA();
  struct Heads {
    int64_t q, kv;
  };
  for (const auto dtype : kDtypes)
    for (const int64_t d : {64, 128, 16, 256})
      for (const Heads heads : {Heads{32, 8}, Heads{6, 2}})
        for (const int64_t tokens : {1, 5, 33})
          for (const bool fused_rows : {true, false})
            for (const Rows rows : {Rows::Exact, Rows::Normal}) {
              const std::string what = fmt::format("qk_norm_rope {} D {} heads {}/{} T {} {} {}", dtype_name(dtype), d,
                                                   heads.q, heads.kv, tokens, fused_rows ? "qkv views" : "separate",
                                                   name(rows));
              at::Tensor q, k;
              if (fused_rows) {  // as TextAttention passes them: column blocks of one qkv projection
                const at::Tensor qkv = draw({tokens, (heads.q + 2 * heads.kv) * d}, dtype, rows);
                q = qkv.narrow(1, 0, heads.q * d).view({tokens, heads.q, d});
                k = qkv.narrow(1, heads.q * d, heads.kv * d).view({tokens, heads.kv, d});
              } else {
                q = draw({tokens, heads.q, d}, dtype, rows);
                k = draw({tokens, heads.kv, d}, dtype, rows);
              }
              const at::Tensor q_weight = norm_weight(d, dtype), k_weight = norm_weight(d, dtype);
              // Generic tables rather than real rotary ones, whose two halves are equal and would
              // hide a kernel reading the wrong half.
              const at::Tensor cos = draw({tokens, 1, d}, dtype), sin = draw({tokens, 1, d}, dtype);
              ASSERT_TRUE(qk_norm_rope_supported(q, k, q_weight, k_weight, cos, sin)) << what;
              poison_next({q, k});
              const RotatedQk out = qk_norm_rope(q, k, q_weight, k_weight, kEps, cos, sin);
              for (const auto& [actual, x, weight, label] :
                   {std::tuple{out.q, q, q_weight, "q"}, std::tuple{out.k, k, k_weight, "k"}}) {
                const RopeReference ref = reference_rope(reference_rms_norm(x, weight, kEps), cos, sin);
                EXPECT_TRUE(within(actual, ref.out,
                                   rows == Rows::Exact ? zero_bound() : rounding_bound(ref.terms, dtype, 4),
                                   what + " " + label));
                EXPECT_TRUE(actual.is_contiguous()) << what << " " << label;
              }
            }
}

TEST_F(FusedOpsGpu, QkNormRopeDeclinesWhatItCannotTake) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = [](at::ScalarType t) { return at::TensorOptions().dtype(t).device(kCuda); };
  const auto supported = [&](at::ScalarType t, int64_t d) {
    return qk_norm_rope_supported(at::ones({2, 4, d}, cuda(t)), at::ones({2, 2, d}, cuda(t)), at::ones({d}, cuda(t)),
                                  at::ones({d}, cuda(t)), at::ones({2, 1, d}, cuda(t)), at::ones({2, 1, d}, cuda(t)));
  };
  // Half a head must be 1, 2, 4, 8, 16 or 32 vectors of 16 bytes.
  EXPECT_TRUE(supported(at::kBFloat16, 16));
  EXPECT_TRUE(supported(at::kBFloat16, 512));
  EXPECT_FALSE(supported(at::kBFloat16, 1024));
  EXPECT_FALSE(supported(at::kBFloat16, 8));
  EXPECT_FALSE(supported(at::kBFloat16, 48));
  EXPECT_TRUE(supported(at::kFloat, 8));
  EXPECT_FALSE(supported(at::kFloat, 512));
  EXPECT_FALSE(supported(at::kDouble, 128));

  const at::Tensor w = at::ones({64}, cuda(at::kBFloat16)), table = at::ones({3, 1, 64}, cuda(at::kBFloat16));
  const at::Tensor k = at::ones({3, 2, 64}, cuda(at::kBFloat16));
  // A qkv row of 4 extra elements: token strides that are not whole 16-byte vectors.
  const at::Tensor odd_rows = at::ones({3, 6 * 64 + 4}, cuda(at::kBFloat16));
  EXPECT_FALSE(qk_norm_rope_supported(odd_rows.narrow(1, 0, 4 * 64).view({3, 4, 64}), k, w, w, table, table));
  // Heads not D apart, elements not contiguous.
  EXPECT_FALSE(qk_norm_rope_supported(at::ones({3, 4, 128}, cuda(at::kBFloat16)).narrow(2, 0, 64), k, w, w, table, table));
  EXPECT_FALSE(qk_norm_rope_supported(at::ones({3, 64, 4}, cuda(at::kBFloat16)).transpose(1, 2), k, w, w, table, table));
  const at::Tensor q = at::ones({3, 4, 64}, cuda(at::kBFloat16));
  EXPECT_TRUE(qk_norm_rope_supported(q, k, w, w, table, table));
  EXPECT_FALSE(qk_norm_rope_supported(q, k.to(at::kHalf), w, w, table, table));
  EXPECT_FALSE(qk_norm_rope_supported(q, at::ones({2, 2, 64}, cuda(at::kBFloat16)), w, w, table, table));
  EXPECT_FALSE(qk_norm_rope_supported(q, k, w, w, at::ones({3, 1, 128}, cuda(at::kBFloat16)).narrow(2, 0, 64), table));
  EXPECT_FALSE(qk_norm_rope_supported(q, k, w, w, at::ones({2, 1, 64}, cuda(at::kBFloat16)), table));
  EXPECT_FALSE(qk_norm_rope_supported(q, k, at::ones({64}, at::kBFloat16), w, table, table));
  EXPECT_THROW(qk_norm_rope(q, k.to(at::kHalf), w, w, kEps, table, table), Error);
}

TEST_F(FusedOpsGpu, SiluMulMatchesAten) {
  TRIMVL_REQUIRE_CUDA();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 9728}, {7, 40}, {64, 200}, {3, 4104}, {300, 64}};
  for (const auto dtype : kDtypes)
    for (const auto& [rows, width] : shapes)
      for (const bool fused_rows : {true, false}) {
        const std::string what = fmt::format("silu_mul {} [{}, {}] {}", dtype_name(dtype), rows, width,
                                             fused_rows ? "gate_up halves" : "separate");
        at::Tensor gate, up;
        if (fused_rows) {  // as TextMlp passes them: the halves of one gate_up projection
          const at::Tensor gate_up = draw({rows, 2 * width}, dtype) * 4;
          gate = gate_up.narrow(1, 0, width);
          up = gate_up.narrow(1, width, width);
        } else {
          gate = draw({rows, width}, dtype) * 4;
          up = draw({rows, width}, dtype);
        }
        // Saturated ends too: exp(−g) overflows to inf for g below about −88.
        gate.select(0, 0).narrow(0, 0, 2).copy_(at::tensor({-100.0f, 100.0f}).to(gate.options()));
        ASSERT_TRUE(silu_mul_supported(gate, up)) << what;
        poison_next({gate});
        const at::Tensor out = silu_mul(gate, up);
        const at::Tensor expected = at::silu(gate) * up;
        EXPECT_TRUE(within(out, expected, dtype == at::kFloat ? rounding_bound(expected, dtype, 1) : zero_bound(), what));
        EXPECT_TRUE(out.is_contiguous()) << what;
      }
}

TEST_F(FusedOpsGpu, SiluMulDeclinesWhatItCannotTake) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = [](at::ScalarType t) { return at::TensorOptions().dtype(t).device(kCuda); };
  const at::Tensor bf = at::ones({3, 40}, cuda(at::kBFloat16));
  EXPECT_TRUE(silu_mul_supported(bf, bf));
  EXPECT_TRUE(silu_mul_supported(at::ones({3, 36}, cuda(at::kFloat)), at::ones({3, 36}, cuda(at::kFloat))));
  EXPECT_FALSE(silu_mul_supported(at::ones({3, 36}, cuda(at::kBFloat16)), at::ones({3, 36}, cuda(at::kBFloat16))));
  EXPECT_FALSE(silu_mul_supported(bf, bf.to(at::kHalf)));
  EXPECT_FALSE(silu_mul_supported(bf, at::ones({2, 40}, cuda(at::kBFloat16))));
  EXPECT_FALSE(silu_mul_supported(at::ones({40, 3}, cuda(at::kBFloat16)).t(), bf));
  EXPECT_FALSE(silu_mul_supported(at::ones({3, 88}, cuda(at::kBFloat16)).narrow(1, 4, 40), bf));  // misaligned rows
  EXPECT_FALSE(silu_mul_supported(bf, bf.cpu()));
  EXPECT_FALSE(silu_mul_supported(at::ones({3, 40}, cuda(at::kDouble)), at::ones({3, 40}, cuda(at::kDouble))));
  EXPECT_THROW(silu_mul(bf, bf.to(at::kHalf)), Error);
}

// cache/retention_gate.cpp's ATen tail, op for op, and the magnitude the out projection sums.
struct GateHeadReference {
  at::Tensor out, dot_terms;
};
GateHeadReference reference_gate_head(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& bias) {
  const at::Tensor act = at::silu(hidden);
  return {at::log_sigmoid(at::linear(act, weight) + bias),
          at::linear(act.to(at::kDouble).abs(), weight.to(at::kDouble).abs())};
}

// The gate head sums its dot product in another order than cuBLAS: the fp32 sums differ by a few
// fp32 ulps of Σ|terms|, which can move the rounded product by one ulp of the dtype (u·Σ|terms|).
// The bias add and the log-sigmoid (|d/dz| = σ(−z) ≤ 1) carry that on and add a rounding each:
// |Δ| <= u·(2·Σ|terms| + |bias| + |out|) plus subnormal steps; fp32 1e-5 relative to the same.
TEST_F(FusedOpsGpu, GateHeadMatchesAten) {
  TRIMVL_REQUIRE_CUDA();
  for (const auto dtype : kDtypes) {
    for (const int64_t rows : {1, 7}) {
      for (const int64_t width : {64, 512}) {
        for (const int64_t heads : {1, 8, 32}) {
          const at::Tensor hidden = draw({rows, width}, dtype) * 2;
          const at::Tensor weight = (draw({heads, width}, dtype) * 0.1).to(dtype);
          const at::Tensor bias = draw({heads}, dtype);
          const GateHeadReference want = reference_gate_head(hidden, weight, bias);
          const at::Tensor scale =
              want.dot_terms * 2 + bias.to(at::kDouble).abs() + want.out.to(at::kDouble).abs();
          poison_next({want.out});
          const at::Tensor got = gate_head(hidden, weight, bias);
          EXPECT_TRUE(within(got, want.out, rounding_bound(scale, dtype, 1),
                             fmt::format("gate_head {} rows {} width {} heads {}", c10::toString(dtype), rows, width,
                                         heads)));
        }
      }
    }
  }
}

TEST_F(FusedOpsGpu, GateHeadDeclinesWhatItCannotTake) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = [](at::ScalarType t) { return at::TensorOptions().dtype(t).device(kCuda); };
  const at::Tensor h = at::ones({2, 64}, cuda(at::kBFloat16)), w = at::ones({8, 64}, cuda(at::kBFloat16));
  const at::Tensor b = at::ones({8}, cuda(at::kBFloat16));
  EXPECT_TRUE(gate_head_supported(h, w, b));
  EXPECT_FALSE(gate_head_supported(h, at::ones({33, 64}, cuda(at::kBFloat16)), at::ones({33}, cuda(at::kBFloat16))));
  EXPECT_FALSE(gate_head_supported(h, w, at::ones({7}, cuda(at::kBFloat16))));
  EXPECT_FALSE(gate_head_supported(at::ones({2, 60}, cuda(at::kBFloat16)), at::ones({8, 60}, cuda(at::kBFloat16)), b));
  EXPECT_FALSE(gate_head_supported(h, w.to(at::kHalf), b));
  EXPECT_FALSE(gate_head_supported(h.cpu(), w.cpu(), b.cpu()));
  EXPECT_FALSE(gate_head_supported(at::ones({64, 2}, cuda(at::kBFloat16)).t(), w, b));
  EXPECT_THROW(gate_head(h, w.to(at::kHalf), b), Error);
}

// The one-token projection against x·Wᵀ (+ bias) in float64. The kernel sums in fp32 in
// its own order (each lane a strided share of the row, then a warp tree) and rounds once: at most
// one rounding of the dtype, u·|expected|, plus the fp32 sum's error, bounded here by 2e-5·Σ|terms|
// (K ≤ 9728 terms, about 300 per lane, each add off by at most 2^-24 of the partial sum), plus
// subnormal steps. fp32: the same sum bound plus 1e-5 relative. A missing or misplaced term, of
// the order of one |term| ≈ 1, is far outside either.
TEST_F(FusedOpsGpu, GemvMatchesFloat64) {
  TRIMVL_REQUIRE_CUDA();
  // (N, K): the 4B's q/k/v stack, o and down projections, odd sizes that leave the unrolled loop a
  // tail (K = 24, 4104) or no unrolled pass at all, and the smallest rows per dtype.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{6144, 2560}, {2560, 4096}, {2560, 9728},
                                                           {37, 24},     {513, 4104},  {3, 8}};
  for (const auto dtype : kDtypes) {
    for (const auto& [n, k] : shapes) {
      for (const bool biased : {false, true}) {
        for (const bool batch_dim : {true, false}) {
          const at::Tensor x = batch_dim ? draw({1, k}, dtype) : draw({k}, dtype);
          const at::Tensor weight = draw({n, k}, dtype);
          const at::Tensor bias = biased ? draw({n}, dtype) : at::Tensor();
          const at::Tensor xd = x.to(at::kDouble).view({1, k}), wd = weight.to(at::kDouble);
          at::Tensor want = at::matmul(xd, wd.t());
          const at::Tensor terms = at::matmul(xd.abs(), wd.abs().t());
          if (biased) want = want + bias.to(at::kDouble);
          want = want.view(batch_dim ? std::vector<int64_t>{1, n} : std::vector<int64_t>{n});
          const at::Tensor sum_error = (terms * 2e-5).view(want.sizes());
          const at::Tensor bound = rounding_bound(want, dtype, 1) + sum_error;
          const at::Tensor like = want.to(dtype);  // held, so the op's output takes the poisoned block
          poison_next({like});
          const at::Tensor got = gemv(x, weight, bias);
          EXPECT_TRUE(within(got.to(at::kDouble), want, bound,
                             fmt::format("gemv {} N {} K {}{}{}", c10::toString(dtype), n, k, biased ? " +bias" : "",
                                         batch_dim ? " [1, K]" : " [K]")));
          EXPECT_EQ(got.scalar_type(), dtype);
        }
      }
    }
  }
}

// A grid past one wave of the plain kernel but within one of its light variant (gemv.cu: CTAs of 4
// rows, 8 an SM plain, 12 light; q/k/v's grid on an H100) runs light. Each lane sums its share in
// the same order either way, so the light sums equal the other variants' bit for bit: here the
// same rows in two halves, each grid within one wave of 5 CTAs an SM (whole rows for K = 2560,
// plain for K = 4104).
TEST_F(FusedOpsGpu, GemvOneWaveVariantEqualsPlainBitForBit) {
  TRIMVL_REQUIRE_CUDA();
  const int64_t n = 4 * 10 * multiprocessor_count(kCuda), half = n / 2;  // 10 CTAs an SM, then 5
  for (const auto dtype : kDtypes) {
    for (const int64_t k : {int64_t{2560}, int64_t{4104}}) {
      for (const bool biased : {false, true}) {
        const at::Tensor x = draw({1, k}, dtype), weight = draw({n, k}, dtype);
        const at::Tensor bias = biased ? draw({n}, dtype) : at::Tensor();
        const auto part = [&](const at::Tensor& t, int64_t start) {
          return t.defined() ? t.narrow(0, start, half) : t;
        };
        const at::Tensor want =
            at::cat({gemv(x, part(weight, 0), part(bias, 0)), gemv(x, part(weight, half), part(bias, half))}, -1);
        const at::Tensor like = want.clone();
        poison_next({like});
        const at::Tensor got = gemv(x, weight, bias);
        EXPECT_TRUE(at::equal(got, want)) << "gemv " << c10::toString(dtype) << " N " << n << " K " << k
                                          << (biased ? " +bias" : "");
      }
    }
  }
}

// A grid within one wave of 5 CTAs an SM whose rows are at most 16 pieces a lane (o_proj's on an
// H100) takes its whole rows in one round; the same rows in one grid of 7 CTAs an SM run plain.
// fp32's K = 4096 is 32 pieces a lane, plain both ways.
TEST_F(FusedOpsGpu, GemvWholeRowVariantEqualsPlainBitForBit) {
  TRIMVL_REQUIRE_CUDA();
  const int64_t n = 4 * 7 * multiprocessor_count(kCuda), half = n / 2;
  for (const auto dtype : kDtypes) {
    for (const int64_t k : {int64_t{1000}, int64_t{2560}, int64_t{4096}}) {
      const at::Tensor x = draw({1, k}, dtype), weight = draw({n, k}, dtype), bias = draw({n}, dtype);
      const at::Tensor want = gemv(x, weight, bias);
      const at::Tensor like = want.narrow(-1, 0, half).clone();
      poison_next({like, like});  // the two halves' outputs
      const at::Tensor got =
          at::cat({gemv(x, weight.narrow(0, 0, half), bias.narrow(0, 0, half)),
                   gemv(x, weight.narrow(0, half, n - half), bias.narrow(0, half, n - half))},
                  -1);
      EXPECT_TRUE(at::equal(got, want)) << "gemv " << c10::toString(dtype) << " N " << n << " K " << k;
    }
  }
}

// A decode step's q/k/v with its q/k-norm + RoPE in the projection's launch against the two
// launches it replaces, gemv then qk_norm_rope over the output's q and k views: the same arithmetic
// (norm_rope_head.cuh) on the same rounded projections, so equal bit for bit. Shapes: the 4B's (its
// 1536 CTAs run the light variant on an H100), and small ones of one plain wave with both head
// sizes. Each runs twice on one set of counters, which must be zero again after every launch.
TEST_F(FusedOpsGpu, GemvQkNormRopeEqualsGemvThenQkNormRopeBitForBit) {
  TRIMVL_REQUIRE_CUDA();
  struct Shape {
    int64_t q_heads, kv_heads, d, k;
  };
  for (const auto dtype : kDtypes) {
    for (const Shape s : {Shape{32, 8, 128, 2560}, Shape{4, 2, 64, 96}, Shape{3, 1, 128, 40}}) {
      const std::string what = fmt::format("gemv_qk_norm_rope {} heads {}/{} D {} K {}", dtype_name(dtype), s.q_heads,
                                           s.kv_heads, s.d, s.k);
      const at::Tensor x = draw({1, s.k}, dtype), weight = draw({(s.q_heads + 2 * s.kv_heads) * s.d, s.k}, dtype);
      const at::Tensor q_weight = norm_weight(s.d, dtype), k_weight = norm_weight(s.d, dtype);
      const at::Tensor cos = draw({1, s.d}, dtype), sin = draw({1, s.d}, dtype);
      const at::Tensor qkv = gemv(x, weight);
      const at::Tensor q_raw = qkv.narrow(1, 0, s.q_heads * s.d).view({1, s.q_heads, s.d});
      const at::Tensor k_raw = qkv.narrow(1, s.q_heads * s.d, s.kv_heads * s.d).view({1, s.kv_heads, s.d});
      const RotatedQk want = qk_norm_rope(q_raw, k_raw, q_weight, k_weight, kEps, cos, sin);
      const at::Tensor want_v = qkv.narrow(1, (s.q_heads + s.kv_heads) * s.d, s.kv_heads * s.d);
      const at::Tensor counters =
          at::zeros({s.q_heads + s.kv_heads}, at::TensorOptions().dtype(at::kInt).device(kCuda));
      ASSERT_TRUE(gemv_qk_norm_rope_supported(x, weight, s.q_heads, s.kv_heads, q_weight, k_weight, cos, sin)) << what;
      for (int run = 0; run < 2; ++run) {
        const at::Tensor like = qkv.clone();
        poison_next({like});
        const ProjectedQkv got =
            gemv_qk_norm_rope(x, weight, s.q_heads, s.kv_heads, q_weight, k_weight, kEps, cos, sin, counters);
        EXPECT_TRUE(at::equal(got.q, want.q)) << what << " q, run " << run;
        EXPECT_TRUE(at::equal(got.k, want.k)) << what << " k, run " << run;
        EXPECT_TRUE(at::equal(got.v.reshape({1, -1}), want_v)) << what << " v, run " << run;
        EXPECT_EQ(counters.count_nonzero().item<int64_t>(), 0) << what << " counters after run " << run;
      }
    }
  }
  const at::Tensor x = draw({1, 64}, at::kBFloat16), q_weight = norm_weight(64, at::kBFloat16);
  const at::Tensor weight = draw({4 * 64, 64}, at::kBFloat16), table = draw({1, 64}, at::kBFloat16);
  EXPECT_TRUE(gemv_qk_norm_rope_supported(x, weight, 2, 1, q_weight, q_weight, table, table));
  EXPECT_FALSE(gemv_qk_norm_rope_supported(x, weight, 2, 2, q_weight, q_weight, table, table));  // rows ≠ heads · D
  EXPECT_FALSE(gemv_qk_norm_rope_supported(at::ones({2, 64}, x.options()), weight, 2, 1, q_weight, q_weight, table,
                                           table));  // two tokens
  EXPECT_FALSE(gemv_qk_norm_rope_supported(x, weight, 2, 1, q_weight, q_weight, draw({2, 64}, at::kBFloat16), table));
  const at::Tensor short_counters = at::zeros({2}, at::TensorOptions().dtype(at::kInt).device(kCuda));
  EXPECT_THROW(gemv_qk_norm_rope(x, weight, 2, 1, q_weight, q_weight, kEps, table, table, short_counters), Error);
}

// SwiGLU's projection in one launch against its steps, the plain gemv into a stacked output and
// ATen's silu(gate) * up over its halves: the same sums in the same order and the same roundings,
// so equal bit for bit (the products are gemv's, tested against float64 above). Shapes: the 4B's,
// and odd ones, with a tail of K and a partly filled last CTA.
TEST_F(FusedOpsGpu, GemvSiluMulEqualsGemvThenSiluMulBitForBit) {
  TRIMVL_REQUIRE_CUDA();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{9728, 2560}, {37, 24}, {513, 4104}, {3, 8}};
  for (const auto dtype : kDtypes) {
    for (const auto& [n, k] : shapes) {
      for (const bool batch_dim : {true, false}) {
        const at::Tensor x = batch_dim ? draw({1, k}, dtype) : draw({k}, dtype);
        const at::Tensor gate_up = draw({2 * n, k}, dtype);
        const at::Tensor stacked = gemv(x, gate_up);
        const at::Tensor want = at::silu(stacked.narrow(-1, 0, n)) * stacked.narrow(-1, n, n);
        const at::Tensor like = want.clone();
        poison_next({like});
        const at::Tensor got = gemv_silu_mul(x, gate_up);
        EXPECT_TRUE(at::equal(got, want)) << "gemv_silu_mul " << c10::toString(dtype) << " I " << n << " K " << k
                                          << (batch_dim ? " [1, K]" : " [K]");
      }
    }
  }
  const at::Tensor x = draw({1, 64}, at::kBFloat16);
  EXPECT_FALSE(gemv_silu_mul_supported(x, draw({7, 64}, at::kBFloat16)));  // odd rows: no halves
  EXPECT_THROW(gemv_silu_mul(x, draw({7, 64}, at::kBFloat16)), Error);
}

// ops::linear takes one token through gemv, anything else through at::linear: it follows
// gemv_supported, and its values are the chosen path's.
TEST_F(FusedOpsGpu, LinearRoutesOneTokenThroughGemv) {
  TRIMVL_REQUIRE_CUDA();
  const at::Tensor w = draw({96, 64}, at::kBFloat16), b = draw({96}, at::kBFloat16);
  const at::Tensor one = draw({1, 64}, at::kBFloat16), two = draw({2, 64}, at::kBFloat16);
  EXPECT_TRUE(at::equal(ops::linear(one, w, b), gemv(one, w, b)));
  EXPECT_TRUE(at::equal(ops::linear(two, w, b), at::linear(two, w, b)));
  EXPECT_TRUE(at::equal(ops::linear(one.cpu(), w.cpu()), at::linear(one.cpu(), w.cpu())));
}

TEST_F(FusedOpsGpu, GemvDeclinesWhatItCannotTake) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = [](at::ScalarType t) { return at::TensorOptions().dtype(t).device(kCuda); };
  const at::Tensor x = at::ones({1, 64}, cuda(at::kBFloat16)), w = at::ones({8, 64}, cuda(at::kBFloat16));
  const at::Tensor b = at::ones({8}, cuda(at::kBFloat16));
  EXPECT_TRUE(gemv_supported(x, w, b));
  EXPECT_TRUE(gemv_supported(x.view({64}), w));
  EXPECT_FALSE(gemv_supported(at::ones({2, 64}, cuda(at::kBFloat16)), w));              // two tokens
  EXPECT_FALSE(gemv_supported(at::ones({1, 12}, cuda(at::kBFloat16)), at::ones({8, 12}, cuda(at::kBFloat16))));  // K
  EXPECT_FALSE(gemv_supported(x, at::ones({64, 8}, cuda(at::kBFloat16)).t()));          // not contiguous
  EXPECT_FALSE(gemv_supported(at::ones({72}, cuda(at::kBFloat16)).narrow(0, 1, 64), w));  // misaligned x
  EXPECT_FALSE(gemv_supported(x, w, at::ones({7}, cuda(at::kBFloat16))));
  EXPECT_FALSE(gemv_supported(x, w, at::ones({8}, cuda(at::kHalf))));
  EXPECT_FALSE(gemv_supported(x.to(at::kHalf), w));
  EXPECT_FALSE(gemv_supported(x.cpu(), w.cpu()));
  EXPECT_THROW(gemv(x.to(at::kHalf), w), Error);
}

// vision/qwen3vl/vision_rotary.cpp's VisionRotary::apply, op for op.
at::Tensor reference_vision_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const at::Tensor xf = x.to(at::kFloat);
  const int64_t half = xf.size(-1) / 2;
  const at::Tensor rotated = at::cat({-xf.narrow(-1, half, half), xf.narrow(-1, 0, half)}, -1);
  return (xf * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)).to(x.scalar_type());
}

// Every product and the sum round where the ATen ops round them: bit-identical in every dtype, on
// q and k as views of one fused qkv row (the vision block's layout) and on contiguous tensors.
TEST_F(FusedOpsGpu, VisionRopeMatchesAtenBitForBit) {
  TRIMVL_REQUIRE_CUDA();
  for (const auto dtype : kDtypes) {
    for (const int64_t d : {64, 80}) {
      const int64_t tokens = 37, heads = 16;
      const at::Tensor qkv = draw({tokens, 3, heads, d}, dtype) * 4;
      const at::Tensor angles = at::rand({tokens, d}, gen_, at::TensorOptions().device(kCuda)) * 100;
      const at::Tensor cos = angles.cos(), sin = angles.sin();
      for (const bool views : {true, false}) {
        const at::Tensor q = views ? qkv.select(1, 0) : qkv.select(1, 0).contiguous();
        const at::Tensor k = views ? qkv.select(1, 1) : qkv.select(1, 1).contiguous();
        ASSERT_TRUE(vision_rope_supported(q, k, cos, sin));
        const at::Tensor want_q = reference_vision_rope(q, cos, sin), want_k = reference_vision_rope(k, cos, sin);
        poison_next({want_q, want_k});
        const RotatedPair got = vision_rope(q, k, cos, sin);
        const std::string what = fmt::format("vision_rope {} d {} {}", c10::toString(dtype), d, views ? "views" : "contiguous");
        EXPECT_TRUE(within(got.q, want_q, zero_bound(), what + " q"));
        EXPECT_TRUE(within(got.k, want_k, zero_bound(), what + " k"));
      }
    }
  }
}

TEST_F(FusedOpsGpu, VisionRopeDeclinesWhatItCannotTake) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = [](at::ScalarType t) { return at::TensorOptions().dtype(t).device(kCuda); };
  const at::Tensor q = at::ones({4, 2, 8}, cuda(at::kBFloat16)), table = at::ones({4, 8}, cuda(at::kFloat));
  EXPECT_TRUE(vision_rope_supported(q, q, table, table));
  EXPECT_FALSE(vision_rope_supported(q, q, table.to(at::kBFloat16), table));        // tables are float32
  EXPECT_FALSE(vision_rope_supported(q, q.to(at::kHalf), table, table));
  EXPECT_FALSE(vision_rope_supported(q, at::ones({4, 3, 8}, cuda(at::kBFloat16)), table, table));
  EXPECT_FALSE(vision_rope_supported(at::ones({4, 2, 7}, cuda(at::kBFloat16)), at::ones({4, 2, 7}, cuda(at::kBFloat16)),
                                     at::ones({4, 7}, cuda(at::kFloat)), at::ones({4, 7}, cuda(at::kFloat))));
  EXPECT_FALSE(vision_rope_supported(q.cpu(), q.cpu(), table.cpu(), table.cpu()));
  EXPECT_FALSE(vision_rope_supported(q.transpose(0, 1).contiguous().transpose(0, 1), q, table, table));
  EXPECT_THROW(vision_rope(q, q, table.to(at::kBFloat16), table), Error);
}

// A decode step will run these inside a CUDA graph: captured once (no host synchronisation, no
// allocation outside the graph's pool), replays recompute the outputs from whatever the static
// inputs hold.
TEST_F(FusedOpsGpu, OpsReplayInACudaGraph) {
  TRIMVL_REQUIRE_CUDA();
  const auto dtype = at::kBFloat16;
  const int64_t hidden = 256, heads = 4, kv_heads = 2, d = 64, inter = 96, tokens = 1;
  const at::Tensor x = draw({tokens, hidden}, dtype, Rows::Exact), residual = draw({tokens, hidden}, dtype, Rows::Exact);
  const at::Tensor weight = norm_weight(hidden, dtype), q_weight = norm_weight(d, dtype), k_weight = norm_weight(d, dtype);
  const at::Tensor qkv = draw({tokens, (heads + 2 * kv_heads) * d}, dtype, Rows::Exact);
  const at::Tensor cos = draw({tokens, 1, d}, dtype), sin = draw({tokens, 1, d}, dtype);
  const at::Tensor gate_up = draw({tokens, 2 * inter}, dtype);
  const at::Tensor q = qkv.narrow(1, 0, heads * d).view({tokens, heads, d});
  const at::Tensor k = qkv.narrow(1, heads * d, kv_heads * d).view({tokens, kv_heads, d});
  const at::Tensor gate = gate_up.narrow(1, 0, inter), up = gate_up.narrow(1, inter, inter);

  const at::Tensor proj_weight = draw({48, hidden}, dtype, Rows::Exact);

  at::Tensor normed, added, added_normed, q_out, k_out, act, projected;
  DeviceGraph graph(kCuda);
  graph.capture([&] {
    normed = rms_norm(x, weight, kEps);
    ResidualNorm r = add_rms_norm(x, residual, weight, kEps);
    added = r.sum;
    added_normed = r.normed;
    RotatedQk rotated = qk_norm_rope(q, k, q_weight, k_weight, kEps, cos, sin);
    q_out = rotated.q;
    k_out = rotated.k;
    act = silu_mul(gate, up);
    projected = gemv(x, proj_weight);
  });
  for (int step = 0; step < 3; ++step) {
    for (const at::Tensor& input : {x, residual, qkv}) input.copy_(draw(input.sizes(), dtype, Rows::Exact));
    for (const at::Tensor& input : {cos, sin, gate_up}) input.copy_(draw(input.sizes(), dtype));
    graph.replay();
    const std::string what = fmt::format("replay {}", step);
    EXPECT_TRUE(within(normed, reference_rms_norm(x, weight, kEps), zero_bound(), what + " rms_norm"));
    EXPECT_TRUE(within(added, x + residual, zero_bound(), what + " sum"));
    EXPECT_TRUE(within(added_normed, reference_rms_norm(x + residual, weight, kEps), zero_bound(), what + " normed"));
    EXPECT_TRUE(within(q_out, reference_rope(reference_rms_norm(q, q_weight, kEps), cos, sin).out, zero_bound(),
                       what + " q"));
    EXPECT_TRUE(within(k_out, reference_rope(reference_rms_norm(k, k_weight, kEps), cos, sin).out, zero_bound(),
                       what + " k"));
    EXPECT_TRUE(within(act, at::silu(gate) * up, zero_bound(), what + " silu_mul"));
    // Exact rows: every product and partial sum is exact in fp32, so the one rounding is the
    // reference's.
    EXPECT_TRUE(within(projected, at::matmul(x.to(at::kDouble), proj_weight.to(at::kDouble).t()).to(dtype),
                       zero_bound(), what + " gemv"));
  }
}

// The kernels are launched as programmatic dependents (kernels/cuda/dependent_launch.cuh): each may
// start while the kernel before it runs, and must wait for it before reading what it writes. A
// chain in which every kernel reads its predecessor's output — the first a projection long enough
// (32 MB of weights) that its successor is scheduled while it still streams — gives, eagerly and
// replayed as a graph, bit for bit what the same ops give when the host waits for each one (a copy
// to the host) before launching the next.
TEST_F(FusedOpsGpu, DependentLaunchesReadTheirProducersFinishedOutput) {
  TRIMVL_REQUIRE_CUDA();
  const auto dtype = at::kBFloat16;
  const int64_t hidden = 4096, inter = 2048;
  const at::Tensor x = draw({1, hidden}, dtype), norm = norm_weight(hidden, dtype);
  const at::Tensor first = draw({hidden, hidden}, dtype) * 0.02, gate_up = draw({2 * inter, hidden}, dtype) * 0.02;
  const at::Tensor down = draw({hidden, inter}, dtype) * 0.02;
  const auto chain = [&](bool host_waits) {
    const auto step = [&](at::Tensor t) {
      if (host_waits) (void)t.to(at::kCPU);
      return t;
    };
    at::Tensor h = step(gemv(x, first));
    h = step(rms_norm(h, norm, kEps));
    h = step(gemv_silu_mul(h, gate_up));
    h = step(gemv(h, down));
    return add_rms_norm(h, x, norm, kEps).normed;
  };
  const at::Tensor want = chain(true);
  EXPECT_TRUE(at::equal(chain(false), want)) << "eager";
  at::Tensor replayed;
  DeviceGraph graph(kCuda);
  graph.capture([&] { replayed = chain(false); });
  for (int replay = 0; replay < 3; ++replay) {
    replayed.fill_(std::numeric_limits<float>::quiet_NaN());
    graph.replay();
    EXPECT_TRUE(at::equal(replayed, want)) << "replay " << replay;
  }
}

}  // namespace
}  // namespace trimvl::ops
