// The paged decode-attention kernel alone on the GPU: a Qwen3-VL-4B-shaped step (36 layers of 8 kv
// heads, 4 query heads each, head dim 128, bf16) over streams of one length, the pool's blocks
// shuffled as eviction leaves them. Prints the step's attention time and the K/V read rate for
// each split-K shape (waves of resident CTAs; the default marked), beside the device's copy
// bandwidth measured in the same run. A benchmark, not a test: no pass/fail.
//
//   paged_decode_bench [lengths...]   (default 1024 8192 32768)
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/ops/paged_attention.h"
#include "tests/bench/device_timing.h"

namespace {

namespace ops = trimvl::ops;

constexpr int64_t kLayers = 36, kHeads = 8, kGroup = 4, kDim = 128, kBlock = 16;
using trimvl::bench::seconds_per_call;

void run(int64_t length) {
  const auto cuda = at::TensorOptions().device(at::kCUDA);
  int64_t capacity = 256;
  while (capacity < length) capacity *= 2;
  const int64_t streams = kLayers * kHeads, per_stream = (length + kBlock - 1) / kBlock;
  const at::Tensor order = at::randperm(streams * per_stream, cuda.dtype(at::kInt));
  ops::PagedView pool;
  pool.keys = at::randn({streams * per_stream * kBlock, kDim}, cuda.dtype(at::kBFloat16));
  pool.values = at::randn_like(pool.keys);
  pool.block_table = at::full({streams, capacity / kBlock}, -1, cuda.dtype(at::kInt));
  pool.block_table.narrow(1, 0, per_stream).copy_(order.view({streams, per_stream}));
  pool.lengths = at::full({streams}, length, cuda.dtype(at::kInt));
  pool.block_size = kBlock;
  pool.split_counters = at::zeros({streams}, cuda.dtype(at::kInt));
  const at::Tensor q = at::randn({kHeads * kGroup, kDim}, cuda.dtype(at::kBFloat16));
  for (const int64_t waves : {1, 2, 4}) {
    const double step = seconds_per_call([&] {
      for (int64_t layer = 0; layer < kLayers; ++layer)
        ops::paged_decode_attention(q, pool, layer * kHeads, kHeads, capacity, 0.088, waves);
    });
    const double bytes = 2.0 * streams * length * kDim * 2;
    std::printf("%8lld tokens  capacity %7lld  %lld wave(s)%s  %8.1f us/step  %6.2f TB/s\n",
                static_cast<long long>(length), static_cast<long long>(capacity), static_cast<long long>(waves),
                waves == ops::kDecodeWaves ? "*" : " ", step * 1e6, bytes / step / 1e12);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "paged_decode_bench: no CUDA device\n");
    return 1;
  }
  std::vector<int64_t> lengths;
  for (int i = 1; i < argc; ++i) lengths.push_back(std::atoll(argv[i]));
  if (lengths.empty()) lengths = {1024, 8192, 32768};
  std::printf("copy bandwidth %.2f TB/s (read + write of 1 GiB)\n", trimvl::bench::copy_bandwidth() / 1e12);
  for (const int64_t length : lengths) run(length);
  return 0;
}
