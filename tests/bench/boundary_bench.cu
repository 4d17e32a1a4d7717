// What one kernel boundary of a decode step costs on this GPU, apart from any work. A decode step
// is some 260 launches in a row (7 a layer), each a few µs, and at 1K context the step's time over
// its weights' HBM floor is about 0.8 ms (docs/perf.md, run M): if most of that is the handoff
// between grids, closing the 1K target means a cheaper handoff, not faster kernels. On an H100
// (run N) the dependent launch was the cheapest at every size, about 1 µs up to 640 CTAs: the
// counters' atomics, all on one address, cost up to twice that.
//
// Each mode runs `stages` handoffs of one token's worth of data (every CTA reads what another CTA
// wrote in the stage before, so a stale read shows as a wrong sum), captured as one CUDA graph:
//   stream     ordinary launches: each grid drains before the next starts.
//   pdl        launch_dependent() with griddepcontrol.wait, as our decode kernels run today.
//   counter    launch_dependent(), but a grid waits on a counter its predecessor's CTAs raise after
//              their writes (release/acquire at GPU scope), not on the predecessor's completion.
//   persistent one launch; the stages are separated by the same counters (a grid-wide barrier):
//              what a persistent decode kernel would pay.
// Prints µs per stage for each mode and CTA count, and checks every output. A benchmark, not a test.
//
//   boundary_bench [stages]
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/device_info.h"

namespace {

namespace cuda = trimvl::cuda;

constexpr int kThreads = 128;

enum class Mode { Stream, Pdl, Counter, Persistent };

struct Args {
  float* buffers;          // [2][ctas * kThreads]: stage s reads buffer s % 2, writes the other
  unsigned* counters;      // [stages]: CTAs of stage s that have written, zeroed before each replay
  int ctas, stage, stages;
};

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// One stage's work: each thread adds one to the value its neighbour CTA's thread wrote last stage.
__device__ __forceinline__ void step(const Args& a, int stage) {
  const float* in = a.buffers + (stage % 2) * a.ctas * kThreads;
  float* out = a.buffers + ((stage + 1) % 2) * a.ctas * kThreads;
  const int from = (blockIdx.x + 1) % a.ctas;
  out[blockIdx.x * kThreads + threadIdx.x] = __ldcg(in + from * kThreads + threadIdx.x) + 1.f;
}

// This CTA's writes of `stage` are done: publish them (the threadfence-reduction pattern).
__device__ __forceinline__ void arrive(const Args& a, int stage) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    atomicAdd(a.counters + stage, 1u);
  }
}

// Every CTA of `stage` has published its writes.
__device__ __forceinline__ void await(const Args& a, int stage) {
  if (threadIdx.x == 0)
    while (load_acquire(a.counters + stage) < static_cast<unsigned>(a.ctas)) __nanosleep(32);
  __syncthreads();
}

template <Mode M>
__global__ void __launch_bounds__(kThreads) stage_kernel(Args a) {
  if constexpr (M == Mode::Persistent) {
    for (int s = 0; s < a.stages; ++s) {
      if (s > 0) await(a, s - 1);
      step(a, s);
      arrive(a, s);
    }
  } else if constexpr (M == Mode::Counter) {
    // Released only after this CTA's wait, as the decode kernels release (dependent_launch.cuh):
    // a stage's CTAs are all resident before the next stage's are scheduled, so spinning on them
    // cannot starve them.
    if (a.stage > 0) await(a, a.stage - 1);
    cuda::release_dependents();
    step(a, a.stage);
    arrive(a, a.stage);
    cuda::wait_for_producers();  // complete only after the producers, as the contract asks
  } else {
    cuda::wait_for_producers();
    cuda::release_dependents();
    step(a, a.stage);
  }
}

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  std::fprintf(stderr, "boundary_bench: %s: %s\n", what, cudaGetErrorString(status));
  std::exit(1);
}

template <Mode M>
void enqueue(const Args& base, cudaStream_t stream) {
  check(cudaMemsetAsync(base.buffers, 0, sizeof(float) * base.ctas * kThreads, stream), "memset buffers");
  check(cudaMemsetAsync(base.counters, 0, sizeof(unsigned) * base.stages, stream), "memset counters");
  if constexpr (M == Mode::Persistent) {
    stage_kernel<M><<<base.ctas, kThreads, 0, stream>>>(base);
    check(cudaGetLastError(), "launch");
  } else {
    for (int s = 0; s < base.stages; ++s) {
      Args a = base;
      a.stage = s;
      if constexpr (M == Mode::Stream) {
        stage_kernel<M><<<a.ctas, kThreads, 0, stream>>>(a);
        check(cudaGetLastError(), "launch");
      } else {
        check(cuda::launch_dependent(stage_kernel<M>, dim3(a.ctas), dim3(kThreads), 0, stream, a), "launch");
      }
    }
  }
}

// µs per stage of one graph replay (mean of `replays` after one untimed), and whether every output
// equals the number of stages.
template <Mode M>
double time_mode(const Args& a, cudaStream_t stream, bool& correct) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
  enqueue<M>(a, stream);
  check(cudaStreamEndCapture(stream, &graph), "end capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  check(cudaGraphLaunch(exec, stream), "replay");
  check(cudaStreamSynchronize(stream), "first replay");
  constexpr int replays = 20;
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  check(cudaEventRecord(start, stream), "record");
  for (int i = 0; i < replays; ++i) check(cudaGraphLaunch(exec, stream), "replay");
  check(cudaEventRecord(stop, stream), "record");
  check(cudaEventSynchronize(stop), "replays");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "elapsed");

  std::vector<float> out(static_cast<size_t>(a.ctas) * kThreads);
  const float* last = a.buffers + (a.stages % 2) * a.ctas * kThreads;
  check(cudaMemcpy(out.data(), last, sizeof(float) * out.size(), cudaMemcpyDeviceToHost), "copy back");
  correct = true;
  for (const float v : out) correct = correct && v == static_cast<float>(a.stages);

  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return ms * 1e3 / replays / a.stages;
}

}  // namespace

int main(int argc, char** argv) {
  const int stages = argc > 1 ? std::atoi(argv[1]) : 256;
  if (stages <= 0 || stages > 4096) {
    std::fprintf(stderr, "boundary_bench: stages must be in 1..4096, not %s\n", argv[1]);
    return 2;
  }
  int device = 0, sms = 0, per_sm = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    std::fprintf(stderr, "boundary_bench: no CUDA device\n");
    return 2;
  }
  check(cuda::multiprocessor_count(device, sms), "SM count");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, stage_kernel<Mode::Persistent>, kThreads, 0),
        "occupancy");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "properties");
  std::printf("boundary_bench: %s, %d SMs, %d stages, %d threads a CTA; µs per stage (handoff + a 512-byte "
              "read and write a CTA)\n",
              prop.name, sms, stages, kThreads);
  std::printf("%8s %10s %10s %10s %10s\n", "CTAs", "stream", "pdl", "counter", "persistent");

  cudaStream_t stream;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  bool all_correct = true;
  // One CTA an SM (the attention's 8 x 16), the o/down projections' 640, q/k/v's 1536.
  for (const int ctas : {sms, 640, 1536}) {
    Args a{};
    a.ctas = ctas;
    a.stages = stages;
    check(cudaMalloc(&a.buffers, sizeof(float) * 2 * ctas * kThreads), "alloc");
    check(cudaMalloc(&a.counters, sizeof(unsigned) * stages), "alloc");
    std::printf("%8d", ctas);
    const auto report = [&](auto mode) {
      bool ok = false;
      // Timed before the mark is chosen: the order of a call's arguments is unspecified.
      const double us = time_mode<decltype(mode)::value>(a, stream, ok);
      std::printf(" %9.2f%s", us, ok ? " " : "!");
      all_correct = all_correct && ok;
    };
    report(std::integral_constant<Mode, Mode::Stream>{});
    report(std::integral_constant<Mode, Mode::Pdl>{});
    report(std::integral_constant<Mode, Mode::Counter>{});
    if (ctas <= per_sm * sms)  // a persistent grid must be resident at once
      report(std::integral_constant<Mode, Mode::Persistent>{});
    else
      std::printf(" %10s", "-");
    std::printf("\n");
    cudaFree(a.buffers);
    cudaFree(a.counters);
  }
  if (!all_correct) std::printf("! marks a mode whose outputs were wrong: a handoff let a stale read through\n");
  cudaStreamDestroy(stream);
  return all_correct ? 0 : 1;
}
