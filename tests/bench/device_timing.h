#pragma once
// Timing for the standalone device benchmarks (tests/bench/*_bench.cpp): device events around
// repeated calls after a warm-up, and the copy bandwidth that their read rates are fractions of,
// measured in the same process.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAEvent.h>

namespace trimvl::bench {

// Mean seconds of one f() over `iterations` calls timed with device events, after one untimed call
// (allocator, occupancy queries, module load).
template <typename F>
double seconds_per_call(F&& f, int iterations = 20) {
  f();
  at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);  // the default flags disable timing
  start.record();
  for (int i = 0; i < iterations; ++i) f();
  stop.record();
  stop.synchronize();
  return start.elapsed_time(stop) / 1e3 / iterations;
}

// Bytes read plus written per second by a device-to-device copy of 1 GiB.
inline double copy_bandwidth() {
  const at::Tensor src = at::empty({int64_t{1} << 30}, at::TensorOptions().device(at::kCUDA).dtype(at::kByte));
  at::Tensor dst = at::empty_like(src);
  return 2.0 * static_cast<double>(src.numel()) / seconds_per_call([&] { dst.copy_(src); });
}

}  // namespace trimvl::bench
