// One-token matrix-vector product; see gemv.h. One warp per output: lane l takes the weight row's
// 16-byte pieces l, l + 32, ..., in rounds of kUnroll per row, the next round's loads issued before
// the current round is used, and the matching pieces of x through the read-only cache (x is at most
// a few tens of KB, read by every warp). A SwiGLU output streams its gate row and its up row in the
// same rounds, so a lane keeps as many loads in flight either way. Launched as dependents: a warp's
// first round of weight loads is in flight before the previous kernel (which wrote x) has ended.
// A grid a little past one wave runs in a lighter variant that fits it in one, a grid of short rows
// within one wave of 5 CTAs an SM in a variant that issues its whole rows before the wait (see
// choose_variant()).
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/norm_rope_head.cuh"
#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/rotary.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kLoadsInFlight = 8;  // 16-byte weight loads per lane per round
// Warps (outputs) per CTA, and the CTAs per SM the register budget is set for. Plain: 4 warps, 8
// CTAs (64 registers, bf16 and fp16 without spills), so that o_proj and down_proj (2560 rows: 640
// CTAs) spread 4–5 CTAs over every SM of an H100; in CTAs of 8 warps they ran 2 on some SMs and 3
// on others, which finished last (+0.8% decode at 1K, docs/perf.md run J). SwiGLU: 8 warps, 2 CTAs;
// the two-row kernel spills when held to 3 (80 registers) and takes 78 at 2; its 9728 rows are
// many waves, and 4 warps were no faster there.
constexpr int kPlainWarps = 4, kPlainCtasPerSm = 8;
constexpr int kPairWarps = 8, kPairCtasPerSm = 2;
// The light plain variant: rounds of 2 loads (4 in flight a lane), 40 registers, 12 CTAs an SM.
// q/k/v's 6144 rows are 1536 CTAs: 1.45 waves of the plain kernel on an H100 (1056 slots), one of
// this (1584); +2.5% decode at 1K, +2.0% at 32K (docs/perf.md run K). Fewer loads in flight a warp,
// but every SM streams to the end instead of a third of them running a last partial wave.
constexpr int kLightLoads = 2, kLightCtasPerSm = 12;
// The whole-row variant: a row of up to 16 pieces a lane (K ≤ 4096 in bf16/fp16: o_proj's) issued
// in one round before the wait, for grids within one wave of 5 CTAs an SM (96 registers; o_proj's
// 640 CTAs on an H100). o_proj is launched while the attention before it runs; the plain kernel
// has half of o_proj's bytes in flight by the wait, this one all of them for every CTA resident by
// then. +2.4% decode at 32K, and at 1K +1.0% once the attention leaves it half the SMs (ranges of
// a short stream, kernels/ops/paged_attention.cpp); 6 CTAs an SM (80 registers, spilling) lost
// 1.2% at 1K (docs/perf.md run S).
constexpr int kWholeRowLoads = 16, kWholeRowCtasPerSm = 5;

// A weight piece, read once per step: not kept in L1 (left to x). Volatile, so that the compiler
// issues a round's loads together instead of sinking each next to its first use (it did, leaving
// one or two in flight per warp).
__device__ __forceinline__ uint4 load_weight(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Asks L2 for the `count` elements at p, the block's threads a 128-byte line each, without waiting
// for them or holding a register.
template <typename T>
__device__ __forceinline__ void prefetch_l2(const T* p, int count) {
  const char* bytes = reinterpret_cast<const char*>(p);
  for (int at = static_cast<int>(threadIdx.x) * 128; at < count * static_cast<int>(sizeof(T)); at += blockDim.x * 128)
    asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(bytes + at));
}

template <typename T>
__device__ __forceinline__ float dot16(const uint4& w, const uint4& x, float acc) {
  constexpr int kVec = Vec<T>::kSize;
  float wf[kVec], xf[kVec];
  unpack<T>(w, wf);
  unpack<T>(x, xf);
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc = fmaf(wf[e], xf[e], acc);
  return acc;
}

// Rows rows[0..kRows) against x: each lane's share in increasing piece order, then a warp tree,
// so a row's sum is the same whatever kRows and kLoads are. The last round is predicated rather than run as a
// one-piece-at-a-time tail: K = 2560 leaves 64 of 320 pieces past the last whole round, K = 9728
// 192 of 1216, and a tail loop waited for each of those loads in turn.
// kOneRound: pieces ≤ 32 · kLoads / kRows, so there is no next round to hold registers for.
template <typename T, int kRows, int kLoads = kLoadsInFlight, bool kOneRound = false>
__device__ __forceinline__ void dot_rows(const uint4* const (&rows)[kRows], const uint4* x, int64_t pieces,
                                         float (&acc)[kRows]) {
  constexpr int kUnroll = kLoads / kRows;
  constexpr int kRound = 32 * kUnroll;
  const int lane = threadIdx.x % 32;
  const int64_t rounds = kOneRound ? 1 : (pieces + kRound - 1) / kRound;
  uint4 wr[kRows][kUnroll];
  auto issue = [&](int64_t round, uint4 (&dst)[kRows][kUnroll]) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t p = round * kRound + 32 * u + lane;
#pragma unroll
      for (int r = 0; r < kRows; ++r) dst[r][u] = p < pieces ? load_weight(rows[r] + p) : uint4{0, 0, 0, 0};
    }
  };
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.f;
  issue(0, wr);  // weights: no earlier kernel writes them
  wait_for_producers();
  release_dependents();
  for (int64_t round = 0; round < rounds; ++round) {
    uint4 next[kRows][kUnroll];
    if (!kOneRound && round + 1 < rounds) issue(round + 1, next);
    // x's pieces of the round together too (from L1 mostly), each zero past the end as its
    // weight piece is: fmaf(0, 0, acc) is acc.
    uint4 xr[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t p = round * kRound + 32 * u + lane;
      xr[u] = p < pieces ? __ldg(x + p) : uint4{0, 0, 0, 0};
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        acc[r] = dot16<T>(wr[r][u], xr[u], acc[r]);
        if constexpr (!kOneRound) wr[r][u] = next[r][u];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
  }
}

template <typename T, int kLoads, int kCtasPerSm, bool kOneRound = false>
__global__ void __launch_bounds__(kPlainWarps * 32, kCtasPerSm) gemv_kernel(GemvArgs a) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kPlainWarps + threadIdx.x / 32;
  if (row >= a.rows) return wait_for_producers();
  const uint4* const w[1] = {reinterpret_cast<const uint4*>(static_cast<const T*>(a.weight) + row * a.cols)};
  float acc[1];
  dot_rows<T, 1, kLoads, kOneRound>(w, reinterpret_cast<const uint4*>(a.x), a.cols / Vec<T>::kSize, acc);
  if (threadIdx.x % 32 != 0) return;
  if (a.bias) acc[0] += to_float(static_cast<const T*>(a.bias)[row]);
  static_cast<T*>(a.out)[row] = from_float<T>(acc[0]);
}

// q/k/v's projection, then each q and k head's norm and rotation by the CTA that completes the
// head (the threadfence-reduction pattern: publish, count, and the last to count goes on). The
// rows are heads · D with D a multiple of kPlainWarps, so every CTA is full and lies in one head.
template <typename T, int kLoads, int kCtasPerSm, int kLanes>
__global__ void __launch_bounds__(kPlainWarps * 32, kCtasPerSm) gemv_qk_norm_rope_kernel(GemvArgs a, QkvNormRope r) {
  constexpr int kVec = Vec<T>::kSize, kHalf = kLanes * kVec, D = 2 * kHalf;
  const int64_t first_row = static_cast<int64_t>(blockIdx.x) * kPlainWarps, row = first_row + threadIdx.x / 32;
  T* out = static_cast<T*>(a.out);
  const int head = static_cast<int>(first_row / D);
  // The head's first CTA asks L2 for what its last CTA reads after the count: the norm weight and
  // the token's cos and sin. Cold otherwise (a step streams GBs of weights through L2 between two
  // layers' reads of them), they were a trip to DRAM at the projection's end, on the step's
  // critical path. A prefetch to L2, the point of coherence, cannot read stale data, wait or not.
  if (first_row % D == 0 && head < r.q_heads + r.kv_heads) {
    prefetch_l2(static_cast<const T*>(head < r.q_heads ? r.q_weight : r.k_weight), D);
    prefetch_l2(static_cast<const T*>(r.cos), D);
    prefetch_l2(static_cast<const T*>(r.sin), D);
  }
  const uint4* const w[1] = {reinterpret_cast<const uint4*>(static_cast<const T*>(a.weight) + row * a.cols)};
  float acc[1];
  dot_rows<T, 1, kLoads>(w, reinterpret_cast<const uint4*>(a.x), a.cols / Vec<T>::kSize, acc);
  if (threadIdx.x % 32 == 0) out[row] = from_float<T>(acc[0]);
  if (head >= r.q_heads + r.kv_heads) return;  // a v head, left as projected

  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(r.counters + head, 1) == D / kPlainWarps - 1;
    if (last) r.counters[head] = 0;  // all the head's CTAs have counted: zero for the next launch
  }
  __syncthreads();
  if (!last || threadIdx.x >= 32) return;
  __threadfence();
  // The head as the other CTAs stored it, through L2 (.cg): L1 is not coherent across SMs.
  T* head_row = out + int64_t{head} * D;
  const int part = static_cast<int>(threadIdx.x % kLanes) * kVec;
  const bool valid = threadIdx.x < kLanes;
  float x1[kVec], x2[kVec];
  if (valid) {
    unpack<T>(__ldcg(reinterpret_cast<const uint4*>(head_row + part)), x1);
    unpack<T>(__ldcg(reinterpret_cast<const uint4*>(head_row + kHalf + part)), x2);
  }
  // The mean's factor as ops::qk_norm_rope passes it, H / (H · D): exactly 1 / D, D a power of two.
  const bool is_q = head < r.q_heads;
  norm_rope_head<T, kLanes>(x1, x2, valid, 1.f / D, r.eps, static_cast<const T*>(is_q ? r.q_weight : r.k_weight),
                            static_cast<const T*>(r.cos), static_cast<const T*>(r.sin), head_row);
}

// Output i from weight rows i (gate) and rows + i (up), each rounded to T as the stacked
// projection's output is stored, then SwiGLU's activation.
template <typename T>
__global__ void __launch_bounds__(kPairWarps * 32, kPairCtasPerSm) gemv_silu_mul_kernel(GemvArgs a) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kPairWarps + threadIdx.x / 32;
  if (row >= a.rows) return wait_for_producers();
  const T* weight = static_cast<const T*>(a.weight);
  const uint4* const w[2] = {reinterpret_cast<const uint4*>(weight + row * a.cols),
                             reinterpret_cast<const uint4*>(weight + (a.rows + row) * a.cols)};
  float acc[2];
  dot_rows<T, 2>(w, reinterpret_cast<const uint4*>(a.x), a.cols / Vec<T>::kSize, acc);
  if (threadIdx.x % 32 != 0) return;
  static_cast<T*>(a.out)[row] = from_float<T>(silu_mul_as<T>(round_to<T>(acc[0]), round_to<T>(acc[1])));
}

// The CTAs of `warps` outputs each that cover the rows.
cudaError_t check_and_count(const GemvArgs& a, int warps, int64_t& blocks) {
  if (a.rows < 0 || a.cols <= 0 || a.cols % vector_width(a.dtype) != 0 || !a.weight || !a.x || !a.out)
    return cudaErrorInvalidValue;
  blocks = (a.rows + warps - 1) / warps;
  return blocks > 0x7fffffff ? cudaErrorInvalidValue : cudaSuccess;
}

enum class Variant { kPlain, kLight, kWholeRow };

// The variant a plain grid of `blocks` CTAs over rows of `pieces` runs, by the device's SMs:
// - whole rows within one wave of that variant, when a lane's share of a row fits one round of it
//   (o_proj);
// - light past one plain wave and within one light wave (q/k/v);
// - plain otherwise: grids within one plain wave keep its deeper rounds (down_proj), grids of many
//   waves (lm_head) too, the light variant unmeasured there.
// A whole-row grid is within one plain wave, so a launcher without that variant runs it plain.
cudaError_t choose_variant(int64_t blocks, int64_t pieces, Variant& variant) {
  int sms = 0;
  if (const cudaError_t status = current_multiprocessor_count(sms); status != cudaSuccess) return status;
  if (pieces <= 32 * kWholeRowLoads && blocks <= int64_t{kWholeRowCtasPerSm} * sms)
    variant = Variant::kWholeRow;
  else if (blocks > int64_t{kPlainCtasPerSm} * sms && blocks <= int64_t{kLightCtasPerSm} * sms)
    variant = Variant::kLight;
  else
    variant = Variant::kPlain;
  return cudaSuccess;
}

}  // namespace

cudaError_t gemv(const GemvArgs& a, cudaStream_t stream) {
  int64_t blocks = 0;
  Variant variant = Variant::kPlain;
  if (const cudaError_t status = check_and_count(a, kPlainWarps, blocks); status != cudaSuccess) return status;
  if (blocks == 0) return cudaSuccess;
  if (const cudaError_t status = choose_variant(blocks, a.cols / vector_width(a.dtype), variant);
      status != cudaSuccess)
    return status;
  return with_element_type(a.dtype, [&](auto t) {
    using T = decltype(t);
    const auto kernel = variant == Variant::kWholeRow ? gemv_kernel<T, kWholeRowLoads, kWholeRowCtasPerSm, true>
                        : variant == Variant::kLight  ? gemv_kernel<T, kLightLoads, kLightCtasPerSm>
                                                      : gemv_kernel<T, kLoadsInFlight, kPlainCtasPerSm>;
    return launch_dependent(kernel, static_cast<unsigned>(blocks), kPlainWarps * 32, 0, stream, a);
  });
}

bool gemv_qk_norm_rope_supported(DType dtype, int64_t head_dim) {
  return qk_norm_rope_supported(dtype, head_dim) && head_dim % kPlainWarps == 0;
}

cudaError_t gemv_qk_norm_rope(const GemvArgs& a, const QkvNormRope& r, cudaStream_t stream) {
  int64_t blocks = 0;
  Variant variant = Variant::kPlain;
  if (!gemv_qk_norm_rope_supported(a.dtype, r.head_dim) || r.q_heads < 0 || r.kv_heads < 0 || a.bias ||
      a.rows != (int64_t{r.q_heads} + 2 * int64_t{r.kv_heads}) * r.head_dim || !r.q_weight || !r.k_weight || !r.cos ||
      !r.sin || !r.counters)
    return cudaErrorInvalidValue;
  if (const cudaError_t status = check_and_count(a, kPlainWarps, blocks); status != cudaSuccess) return status;
  if (blocks == 0) return cudaSuccess;
  if (const cudaError_t status = choose_variant(blocks, a.cols / vector_width(a.dtype), variant);
      status != cudaSuccess)
    return status;
  return with_element_type(a.dtype, [&](auto t) {
    using T = decltype(t);
    return with_head_lanes<T>(r.head_dim, [&](auto lanes) {
      constexpr int kLanes = decltype(lanes)::value;
      const auto kernel = variant == Variant::kLight
                              ? gemv_qk_norm_rope_kernel<T, kLightLoads, kLightCtasPerSm, kLanes>
                              : gemv_qk_norm_rope_kernel<T, kLoadsInFlight, kPlainCtasPerSm, kLanes>;
      return launch_dependent(kernel, static_cast<unsigned>(blocks), kPlainWarps * 32, 0, stream, a, r);
    });
  });
}

cudaError_t gemv_silu_mul(const GemvArgs& a, cudaStream_t stream) {
  int64_t blocks = 0;
  if (const cudaError_t status = check_and_count(a, kPairWarps, blocks); status != cudaSuccess) return status;
  if (a.bias) return cudaErrorInvalidValue;
  if (blocks == 0) return cudaSuccess;
  return with_element_type(a.dtype, [&](auto t) {
    return launch_dependent(gemv_silu_mul_kernel<decltype(t)>, static_cast<unsigned>(blocks), kPairWarps * 32, 0,
                            stream, a);
  });
}

}  // namespace trimvl::cuda
