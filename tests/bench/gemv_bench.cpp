// A decode step's matrix products at Qwen3-VL-4B shape, batch 1, bf16: 36 layers of the stacked
// q/k/v [6144, 2560], o [2560, 4096], stacked gate/up [19456, 2560] with SwiGLU's activation (cuBLAS
// then ops::silu_mul against ops::gemv_silu_mul) and down [2560, 9728], then
// lm_head [151936, 2560] — 8.04 GB of weights, each layer its own so nothing is served from L2 —
// as one CUDA graph, through at::linear (cuBLAS, what the model ran before its decode step took
// ops::linear) and through ops::gemv.
// Then each shape alone (its 36 copies in turn). Prints time, the weights' read rate and its
// fraction of the copy bandwidth measured in the same run. A benchmark, not a test: no pass/fail
// (tests/kernels/fused_ops_gpu_test.cpp checks the kernel's values).
//
//   gemv_bench
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "kernels/ops/device_graph.h"
#include "kernels/ops/gemv.h"
#include "kernels/ops/swiglu.h"
#include "tests/bench/device_timing.h"

namespace {

namespace ops = trimvl::ops;

constexpr int64_t kLayers = 36, kHidden = 2560;

struct Projection {
  const char* name;
  int64_t rows, cols, copies;
  bool swiglu;  // gate/up: the product, then SwiGLU's activation over its halves
  std::vector<at::Tensor> weights;
};

using Linear = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, bool)>;

// Seconds per replay of a graph that runs `body` once. One eager run first: cuBLAS creates its
// handle and workspace on first use, which a graph capture refuses.
double graph_seconds(const std::function<void()>& body) {
  body();
  ops::DeviceGraph graph(c10::Device(c10::kCUDA, 0));
  graph.capture(body);
  return trimvl::bench::seconds_per_call([&] { graph.replay(); }, 10);
}

void report(const std::string& what, double bytes, double cublas_s, double ours_s, double copy) {
  const auto cell = [&](double s) {
    return fmt::format("{:7.3f} ms {:5.2f} TB/s {:5.1f}%", s * 1e3, bytes / s / 1e12, 100.0 * bytes / s / copy);
  };
  fmt::print("{:<30} {:<28} {:<28} {:5.2f}x\n", what, cell(cublas_s), cell(ours_s), cublas_s / ours_s);
}

}  // namespace

int main() {
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "gemv_bench: no CUDA device\n");
    return 1;
  }
  const double copy = trimvl::bench::copy_bandwidth();
  std::printf("copy bandwidth %.2f TB/s (read + write of 1 GiB); bf16, batch 1\n", copy / 1e12);
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  std::vector<Projection> projections = {{"q/k/v", 6144, kHidden, kLayers, false, {}},
                                         {"o", kHidden, 4096, kLayers, false, {}},
                                         {"gate/up + SwiGLU", 19456, kHidden, kLayers, true, {}},
                                         {"down", kHidden, 9728, kLayers, false, {}},
                                         {"lm_head", 151936, kHidden, 1, false, {}}};
  for (Projection& p : projections)
    for (int64_t i = 0; i < p.copies; ++i) p.weights.push_back(at::randn({p.rows, p.cols}, bf16) * 0.02);
  std::vector<at::Tensor> inputs;  // one activation per projection, [1, K]
  for (const Projection& p : projections) inputs.push_back(at::randn({1, p.cols}, bf16));

  // cuBLAS then ops::silu_mul for SwiGLU, as the model ran before; ours: ops::gemv_silu_mul.
  const Linear cublas = [](const at::Tensor& x, const at::Tensor& w, bool swiglu) {
    const at::Tensor y = at::linear(x, w);
    const int64_t half = w.size(0) / 2;
    return swiglu ? ops::silu_mul(y.narrow(-1, 0, half), y.narrow(-1, half, half)) : y;
  };
  const Linear ours = [](const at::Tensor& x, const at::Tensor& w, bool swiglu) {
    return swiglu ? ops::gemv_silu_mul(x, w) : ops::gemv(x, w);
  };
  const auto step = [&](const Linear& linear) {
    return [&projections, &inputs, linear] {
      for (int64_t layer = 0; layer < kLayers; ++layer)
        for (size_t i = 0; i + 1 < projections.size(); ++i)
          linear(inputs[i], projections[i].weights[layer], projections[i].swiglu);
      linear(inputs.back(), projections.back().weights.front(), false);
    };
  };
  double step_bytes = 0;
  for (const Projection& p : projections) step_bytes += 2.0 * p.rows * p.cols * (p.copies == 1 ? 1 : kLayers);

  fmt::print("{:<30} {:<28} {:<28} {}\n", "", "cuBLAS (at::linear)", "trimvl gemv", "speedup");
  report("decode step, one graph", step_bytes, graph_seconds(step(cublas)), graph_seconds(step(ours)), copy);
  for (size_t i = 0; i < projections.size(); ++i) {
    const Projection& p = projections[i];
    const auto alone = [&](const Linear& linear) {
      return [&p, &inputs, i, linear] {
        for (const at::Tensor& w : p.weights) linear(inputs[i], w, p.swiglu);
      };
    };
    report(fmt::format("{} {}x{} x{}", p.name, p.rows, p.cols, p.copies), 2.0 * p.rows * p.cols * p.copies,
           graph_seconds(alone(cublas)), graph_seconds(alone(ours)), copy);
  }
  return 0;
}
