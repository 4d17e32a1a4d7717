// The paged cache and the real policies on CUDA against the same run on the CPU (the ATen
// reference): identical retained sets after every forward on tie-free inputs, attention outputs
// within float tolerance. With a query group the kernels take (4), CUDA decode forwards run on
// kernels/ops/paged_attention.h — device block tables, re-uploaded after prefills and evictions —
// and are graph-capturable; with one they do not (3), on the ATen path. Skips where no CUDA
// device exists (CI).
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cache/paged_kv_cache.h"
#include "cache/policy.h"
#include "kernels/runtime/dtype.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::cache {
namespace {

constexpr int kLayers = 3, kKvHeads = 2;
constexpr int64_t kDim = 64;

struct Forward {
  std::vector<at::Tensor> q, k, v, log_beta;  // per layer, on the CPU
};

std::vector<Forward> random_stream(at::ScalarType dtype, int heads) {
  at::manual_seed(11);
  std::vector<Forward> stream;
  for (int64_t t : {37, 16, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 1, 1, 1, 1}) {
    Forward f;
    for (int l = 0; l < kLayers; ++l) {
      f.q.push_back(at::randn({t, heads, kDim}).to(dtype));
      f.k.push_back(at::randn({t, kKvHeads, kDim}).to(dtype));
      f.v.push_back(at::randn({t, kKvHeads, kDim}).to(dtype));
      // Continuous log β: scores tie-free with overwhelming probability.
      f.log_beta.push_back((-at::exp(at::rand({t, kKvHeads}) * 8 - 8)).to(dtype));
    }
    stream.push_back(std::move(f));
  }
  return stream;
}

struct Outcome {
  std::vector<at::Tensor> outputs;                 // per forward and layer, on the CPU
  std::vector<std::vector<at::Tensor>> positions;  // per forward, per stream
  int64_t keyed_decodes = 0;                       // one-token forwards the kernels took (graph key)
};

Outcome run(const std::vector<Forward>& stream, const PolicyOptions& o, at::ScalarType dtype, c10::Device device) {
  PagedKvCache cache({.num_layers = kLayers, .num_kv_heads = kKvHeads, .head_dim = kDim, .dtype = dtype,
                      .device = device, .max_forward_tokens = 37},
                     make_policy(o));
  Outcome out;
  for (const Forward& f : stream) {
    ForwardScope scope(cache, ForwardTokens::uniform(f.q.front().size(0), Modality::Text));
    if (cache.graph_key()) ++out.keyed_decodes;
    for (int l = 0; l < kLayers; ++l)
      out.outputs.push_back(cache
                                .attend(l, f.q[l].to(device), f.k[l].to(device), f.v[l].to(device),
                                        f.log_beta[l].to(device), 0.125)
                                .cpu());
    scope.commit();
    std::vector<at::Tensor> held;
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) held.push_back(cache.positions(l, h));
    out.positions.push_back(std::move(held));
  }
  return out;
}

void expect_same(const Outcome& cpu, const Outcome& gpu, double tolerance) {
  ASSERT_EQ(cpu.positions.size(), gpu.positions.size());
  for (size_t f = 0; f < cpu.positions.size(); ++f)
    for (size_t s = 0; s < cpu.positions[f].size(); ++s)
      ASSERT_TRUE(at::equal(cpu.positions[f][s], gpu.positions[f][s])) << "forward " << f << ", stream " << s;
  for (size_t i = 0; i < cpu.outputs.size(); ++i)
    TRIMVL_EXPECT_CLOSE(gpu.outputs[i].to(at::kFloat), cpu.outputs[i].to(at::kFloat), tolerance, tolerance);
}

TEST(PagedKvCacheGpu, PoliciesKeepWhatTheCpuReferenceKeeps) {
  TRIMVL_REQUIRE_CUDA();
  for (const int heads : {6, 8}) {
    for (const auto& [dtype, tolerance] : {std::pair{at::kFloat, 1e-4}, std::pair{at::kBFloat16, 2e-2}}) {
      const auto stream = random_stream(dtype, heads);
      for (PolicyKind kind : {PolicyKind::Full, PolicyKind::TrimKV, PolicyKind::DBTrimKV, PolicyKind::StreamingLLM}) {
        PolicyOptions o;
        o.kind = kind;
        o.budget = kind == PolicyKind::Full ? 0 : 6;
        o.buffer = 3;
        o.min_per_head = kind == PolicyKind::DBTrimKV ? 1 : 0;
        o.sinks = 2;
        SCOPED_TRACE(fmt::format("{} {} heads {}", make_policy(o)->describe(), heads,
                                 dtype == at::kFloat ? "fp32" : "bf16"));
        const Outcome gpu = run(stream, o, dtype, at::kCUDA);
        expect_same(run(stream, o, dtype, at::kCPU), gpu, tolerance);
        // Every one-token forward but the first (the kernels have not yet shown that they take it).
        int64_t decodes = 0;
        for (const Forward& f : stream) decodes += f.q.front().size(0) == 1;
        EXPECT_EQ(gpu.keyed_decodes, heads == 8 ? decodes - 1 : 0);
      }
    }
  }
}

}  // namespace
}  // namespace trimvl::cache
