// Paged decode attention (split-K, query groups packed) and the one-token append; see
// paged_attention.h. Memory-bound: a decode step reads every retained K and V once. Two kernels
// share the range split, the append and the merge:
// - for 16-bit K/V, tensor cores: each warp streams 16-token tiles of K and V through its own
//   cp.async ring in shared memory and scores and sums them with mma.sync, the query group padded
//   to the MMA's 16 rows. The CUDA-core version of it spent ~170 warp instructions per token at
//   32K, which kept the SMs' issue slots busy before HBM (59% of its bandwidth under ncu); the MMA
//   kernel's is ~40 (ncu, H100, docs/perf.md).
// - for fp32, CUDA cores: each thread streams its own 16-byte pieces of K and V.
// Both read K/V under L2's evict-first policy: a step reads them once, and at long contexts they
// would otherwise push everything else out of L2 (docs/perf.md, run I).
// The block-table slice of a CTA's range is staged in shared memory first, so no K/V load waits on
// a table load. The split-K merge runs in the same launch: across the stream's thread-block cluster
// when its ranges fit one (short streams, where the merge is most of the launch's latency), else in
// the last CTA of each stream.
#include <cfloat>

#include <cooperative_groups.h>
#include <cuda/atomic>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kSplitAlign = 64;  // split lengths are multiples of this (whole tiles and blocks)
constexpr float kLog2e = 1.4426950408889634f;

template <typename T, int D, int G>
struct DecodeShape {
  static constexpr int kUnroll = 4;  // tokens per token lane per tile
  static constexpr int kStages = 3;  // tiles in the ring: two in flight while the third is computed
  static constexpr int kVec = Vec<T>::kSize;
  static constexpr int kLanesPerToken = D / kVec;  // threads sharing one token's row
  static_assert(kLanesPerToken >= 1 && kLanesPerToken <= 32 && 32 % kLanesPerToken == 0, "unsupported head dim");
  static constexpr int kTokensPerWarp = 32 / kLanesPerToken;
  static constexpr int kGroups = kWarps * kTokensPerWarp;  // token lanes of the CTA
  static constexpr int kTile = kGroups * kUnroll;          // tokens per tile
  // One ring stage: every thread's kUnroll pieces of K and of V.
  static constexpr int kStagePieces = kThreads * kUnroll;
  static constexpr size_t kRingBytes = size_t{kStages} * 2 * kStagePieces * 16;
  static constexpr size_t kMergeBytes = size_t{kWarps + 1} * G * (D + 2) * sizeof(float);  // + the cluster row
  static constexpr size_t kSmemBytes = kRingBytes > kMergeBytes ? kRingBytes : kMergeBytes;
};

// The tokens each CTA of a stream takes: the stream cut into at most num_splits equal, aligned
// ranges of at least min_split tokens. Computed on the device from the stream's current length, so
// a launch shape fixed by the capacity (a CUDA graph's) keeps every CTA busy at any length.
__device__ __forceinline__ int split_tokens(int length, int num_splits, int min_split) {
  const int even = (length + num_splits - 1) / num_splits;
  return max(min_split, (even + kSplitAlign - 1) / kSplitAlign * kSplitAlign);
}

// The last CTA of stream h merges its `ranges` partials into the output. Each thread takes whole
// float4 pieces of the output and merges them over the ranges in chunks of kMergeChunk, loading a
// chunk's (m, l) pairs and pieces together, so the merge costs one L2 round trip per chunk instead
// of a pass over the (m, l) pairs before the pieces. A chunk of 17 takes the 33 ranges of a stream
// on an H100 (two CTAs an SM on 132 SMs, 8 kv heads) in two round trips, where chunks of 8 took
// five (+0.2% at 32K, docs/perf.md run T), in the registers the range's loop already holds.
// Partials are read through L2 (__ldcg): other SMs wrote them during this launch.
template <typename T, int D, int G>
__device__ __forceinline__ void merge_ranges(const PagedDecodeArgs& a, int h, int ranges) {
  constexpr int kPieces = D / 4, kMergeChunk = 17;
  const int64_t first = static_cast<int64_t>(h) * a.num_splits * G;  // row of (h, range 0, g 0)
  for (int idx = threadIdx.x; idx < G * kPieces; idx += kThreads) {
    const int g = idx / kPieces, p = idx % kPieces;
    const float2* ml = reinterpret_cast<const float2*>(a.partial_ml) + first + g;
    const float4* src = reinterpret_cast<const float4*>(a.partial_out + (first + g) * D) + p;
    float mx = -FLT_MAX, sum = 0.f;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int r0 = 0; r0 < ranges; r0 += kMergeChunk) {
      float2 m_l[kMergeChunk];
      float4 x[kMergeChunk];
#pragma unroll
      for (int j = 0; j < kMergeChunk; ++j) {
        const bool real = r0 + j < ranges;  // a missing range weighs exp2(−huge) = 0
        m_l[j] = real ? __ldcg(ml + static_cast<int64_t>(r0 + j) * G) : make_float2(-FLT_MAX, 0.f);
        x[j] = real ? __ldcg(src + static_cast<int64_t>(r0 + j) * G * kPieces) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      float m_new = mx;
#pragma unroll
      for (int j = 0; j < kMergeChunk; ++j) m_new = fmaxf(m_new, m_l[j].x);
      const float alpha = exp2f(mx - m_new);
      sum *= alpha;
      o = make_float4(o.x * alpha, o.y * alpha, o.z * alpha, o.w * alpha);
#pragma unroll
      for (int j = 0; j < kMergeChunk; ++j) {
        const float w = exp2f(m_l[j].x - m_new);
        sum = fmaf(w, m_l[j].y, sum);
        o = make_float4(fmaf(w, x[j].x, o.x), fmaf(w, x[j].y, o.y), fmaf(w, x[j].z, o.z), fmaf(w, x[j].w, o.w));
      }
      mx = m_new;
    }
    T* out = static_cast<T*>(a.out) + static_cast<int64_t>(h * G + g) * D + p * 4;
    out[0] = from_float<T>(o.x / sum);
    out[1] = from_float<T>(o.y / sum);
    out[2] = from_float<T>(o.z / sum);
    out[3] = from_float<T>(o.w / sum);
  }
}

// The part of its stream one CTA takes: blockIdx.x is the stream's kv head, blockIdx.y the range.
struct CtaRange {
  int stream, length, split, begin, end;
  int fresh;  // the appended token's index in the stream when it is in [begin, end); −1 otherwise

  // The CTAs of this stream that have work.
  __device__ __forceinline__ int ranges() const { return (length + split - 1) / split; }
};

__device__ __forceinline__ CtaRange cta_range(const PagedDecodeArgs& a) {
  CtaRange r;
  r.stream = a.first_stream + blockIdx.x;
  r.length = a.lengths[r.stream];
  r.split = split_tokens(r.length, a.num_splits, a.min_split_tokens);
  r.begin = blockIdx.y * r.split;
  r.end = min(r.length, r.begin + r.split);
  r.fresh = a.append.k && r.end == r.length ? r.length - 1 : -1;
  return r;
}

// The block-table entries of the range into `blocks` (the caller syncs before reading them).
__device__ __forceinline__ void stage_blocks(const PagedDecodeArgs& a, const CtaRange& r, int* blocks) {
  const int first_block = r.begin / a.block_size;
  const int32_t* table = a.block_table + static_cast<int64_t>(r.stream) * a.table_stride;
  for (int j = threadIdx.x; j <= (r.end - 1) / a.block_size - first_block; j += kThreads)
    blocks[j] = table[first_block + j];
}

// Token i's pool slot, its block from the staged entries (the first of them is block first_block).
__device__ __forceinline__ int64_t staged_slot(const int* blocks, int first_block, int block_size, int i) {
  return static_cast<int64_t>(blocks[i / block_size - first_block]) * block_size + i % block_size;
}

// The appended token into the pool, after the wait: its K and V pieces by the first threads, its
// metadata by thread 0, and the table entry of a block it opens (read by no CTA of this launch).
template <typename T, int D>
__device__ __forceinline__ void append_to_pool(const PagedDecodeArgs& a, const CtaRange& r) {
  constexpr int kVec = Vec<T>::kSize;
  const int64_t slot = a.append.slots[r.stream];
  if (threadIdx.x < D / kVec) {
    const int64_t from = static_cast<int64_t>(blockIdx.x) * D + threadIdx.x * kVec, to = slot * D + threadIdx.x * kVec;
    *reinterpret_cast<uint4*>(static_cast<T*>(a.append.keys) + to) = load16(static_cast<const T*>(a.append.k) + from);
    *reinterpret_cast<uint4*>(static_cast<T*>(a.append.values) + to) = load16(static_cast<const T*>(a.append.v) + from);
  }
  if (threadIdx.x == 0) {
    a.append.positions[slot] = *a.append.position;
    if (a.append.log_beta)
      static_cast<T*>(a.append.log_beta_pool)[slot] = static_cast<const T*>(a.append.log_beta)[blockIdx.x];
    if (a.append.accumulated) a.append.accumulated[slot] = 0.f;
    if (r.fresh % a.block_size == 0)
      a.append.block_table[static_cast<int64_t>(r.stream) * a.table_stride + r.fresh / a.block_size] =
          static_cast<int32_t>(slot / a.block_size);
  }
}

// Warp w's row for query head g in the CTA's results `merged` [kWarps][G][D + 2]: its unnormalised
// output [D], then its running max and sum (in the shared memory the rings used).
template <int D, int G, typename F>
__device__ __forceinline__ F* merged_row(F* merged, int w, int g) {
  return merged + (w * G + g) * (D + 2);
}

// Query head g's result of the CTA's range at dim d, from its warps' rows: the unnormalised output,
// the range's max and its sum.
template <int D, int G>
__device__ __forceinline__ void combine_warps(const float* merged, int g, int d, float& mx, float& sum, float& out) {
  mx = -FLT_MAX;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, merged_row<D, G>(merged, w, g)[D]);
  sum = 0.f, out = 0.f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    const float* row = merged_row<D, G>(merged, w, g);
    // A warp that saw no token has sum 0 and max −FLT_MAX: its weight is exp2(−huge) = 0.
    const float wt = exp2f(row[D] - mx);
    sum += row[D + 1] * wt;
    out += row[d] * wt;
  }
}

// A stream's ranges launched as one thread-block cluster (cluster_merge) merge through distributed
// shared memory: each CTA leaves its range's rows [G][D + 2] after its warps' rows, and after a
// cluster barrier CTA j writes the j-th slice of the output from every range's rows. No partial
// goes through L2, and no fence, atomic or counter stands between the last range and the output.
// A CTA without work (idle_range) still arrives at both barriers.
template <typename T, int D, int G>
__device__ __forceinline__ void merge_in_cluster(const PagedDecodeArgs& a, const CtaRange& r, float* merged) {
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  const int ranges = r.ranges();
  float* own = merged + kWarps * G * (D + 2);
  for (int idx = threadIdx.x; idx < G * D; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    float mx, sum, out;
    combine_warps<D, G>(merged, g, d, mx, sum, out);
    own[g * (D + 2) + d] = out;
    if (d == 0) {
      own[g * (D + 2) + D] = mx;
      own[g * (D + 2) + D + 1] = sum;
    }
  }
  cluster.sync();
  const int slice = (G * D + ranges - 1) / ranges, rank = static_cast<int>(cluster.block_rank());
  const int stop = min(G * D, (rank + 1) * slice);
  for (int idx = rank * slice + threadIdx.x; idx < stop; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    float m_r[kPagedDecodeMaxCluster], l_r[kPagedDecodeMaxCluster], x_r[kPagedDecodeMaxCluster];
    float mx = -FLT_MAX;
#pragma unroll
    for (int j = 0; j < kPagedDecodeMaxCluster; ++j) {
      m_r[j] = -FLT_MAX, l_r[j] = 0.f, x_r[j] = 0.f;  // a missing range weighs exp2(−huge) = 0
      if (j < ranges) {
        const float* row = cluster.map_shared_rank(own, j) + g * (D + 2);
        m_r[j] = row[D], l_r[j] = row[D + 1], x_r[j] = row[d];
      }
      mx = fmaxf(mx, m_r[j]);
    }
    float sum = 0.f, out = 0.f;
#pragma unroll
    for (int j = 0; j < kPagedDecodeMaxCluster; ++j) {
      const float w = exp2f(m_r[j] - mx);
      sum = fmaf(w, l_r[j], sum);
      out = fmaf(w, x_r[j], out);
    }
    static_cast<T*>(a.out)[static_cast<int64_t>(blockIdx.x * G + g) * D + d] = from_float<T>(out / sum);
  }
  cluster.sync();  // no CTA leaves while another reads its shared memory
}

// A CTA whose range starts past its stream's end: neither a partial nor a count, but its place at
// the cluster's barriers.
__device__ __forceinline__ void idle_range(const PagedDecodeArgs& a) {
  wait_for_producers();
  if (a.cluster_merge) {
    cooperative_groups::this_cluster().sync();
    cooperative_groups::this_cluster().sync();
  }
}

// Once every warp has written its merged_row for each query head (and the CTA has synced): the
// range's result — the output itself for a stream of one range, else a partial, and the stream's
// last partial merges them all (or the cluster does).
template <typename T, int D, int G>
__device__ __forceinline__ void finish_range(const PagedDecodeArgs& a, const CtaRange& r, float* merged) {
  if (a.cluster_merge) return merge_in_cluster<T, D, G>(a, r, merged);
  const int h = blockIdx.x, ranges = r.ranges();
  for (int idx = threadIdx.x; idx < G * D; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    float mx, sum, out;
    combine_warps<D, G>(merged, g, d, mx, sum, out);
    if (ranges == 1) {
      static_cast<T*>(a.out)[static_cast<int64_t>(h * G + g) * D + d] = from_float<T>(out / sum);
    } else {
      const int64_t p = (static_cast<int64_t>(h) * a.num_splits + blockIdx.y) * G + g;
      a.partial_out[p * D + d] = out;
      if (d == 0) {
        a.partial_ml[p * 2] = mx;
        a.partial_ml[p * 2 + 1] = sum;
      }
    }
  }
  if (ranges == 1) return;

  // Publish the partial, then count it: the CTA that completes the stream's count merges all its
  // ranges (the threadfence-reduction pattern), so no second launch waits on the slowest range.
  // One acquire-release add by thread 0 after the barrier orders every thread's partial before the
  // count and the count before every thread's merge loads (the barrier carries the order between
  // thread 0 and the others), where a fence by every thread on each side cost more (+0.25% at 32K,
  // run T).
  __shared__ bool sm_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    ::cuda::atomic_ref<int32_t, ::cuda::thread_scope_device> count(a.split_counters[r.stream]);
    sm_last = count.fetch_add(1, ::cuda::memory_order_acq_rel) == ranges - 1;
    if (sm_last) count.store(0, ::cuda::memory_order_relaxed);  // every range has counted: ready for the next launch
  }
  __syncthreads();
  if (sm_last) merge_ranges<T, D, G>(a, h, ranges);
}

// Tensor-core kernel, for 16-bit K/V. Grid (kv heads, num_splits). Warp w takes the 16-token tiles
// w, w + kWarps, ... of the CTA's range (a tile lies in one block: block_size is a multiple of 16)
// through its own kStages-deep ring, so the loop needs no CTA barrier. Per tile, S = Q·Kᵀ is two
// m16n8k16 MMAs per 16 dims (A: the query group, rows ≥ G zero; B: K rows by ldmatrix), the
// online softmax (base 2, scale applied to S in fp32) runs on the accumulator registers, and
// O += P·V is two MMAs per 16 dims (A: P rounded to T, straight from S's registers; B: V by
// transposing ldmatrix). The sum l adds the rounded P, so the weights that multiply V are the ones
// that normalise. Rows of a tile past the range's end are zero-filled (0 · V, never 0 · NaN).
// Launched as a dependent as the CUDA-core kernel is (below): the first tiles are in flight before
// the wait, and the appended token enters its tile's ring rows from the arguments after it.
template <typename T, int D, int G>
struct MmaShape {
  static_assert(sizeof(T) == 2 && G <= 8, "16-bit K/V; a query group fills at most the MMA's first 8 rows");
  static constexpr int kChunks = D / 8;  // 16-byte chunks per K or V row
  static_assert(kChunks >= 8 && 32 % kChunks == 0, "unsupported head dim");
  static constexpr int kTile = 16;
  static constexpr int kStages = 3;
  static constexpr int kTileChunks = kTile * kChunks;                // of K, and again of V
  static constexpr int kWarpRing = kStages * 2 * kTileChunks;       // chunks
  static constexpr size_t kRingBytes = size_t{kWarps} * kWarpRing * 16;
  static constexpr size_t kMergeBytes = size_t{kWarps + 1} * G * (D + 2) * sizeof(float);  // + the cluster row
  static constexpr size_t kSmemBytes = kRingBytes > kMergeBytes ? kRingBytes : kMergeBytes;
};

template <typename T, int D, int G>
__global__ void __launch_bounds__(kThreads) paged_decode_mma_kernel(PagedDecodeArgs a) {
  using S = MmaShape<T, D, G>;
  constexpr int kChunks = S::kChunks, kStages = S::kStages, kRowsPerPass = 32 / kChunks;
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int sm_blocks[kPagedDecodeMaxSplit / 16 + 1];

  const CtaRange r = cta_range(a);
  if (r.begin >= r.length) return idle_range(a);
  stage_blocks(a, r, sm_blocks);
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int first_block = r.begin / a.block_size;
  const int tiles = ((r.end - r.begin + S::kTile - 1) / S::kTile - warp + kWarps - 1) / kWarps;  // this warp's
  auto tile_start = [&](int t) { return r.begin + (warp + t * kWarps) * S::kTile; };
  // Chunk c of row `row` of K (kv 0) or V (kv 1) in a stage: XOR-swizzled by the row, so that the
  // eight rows one ldmatrix reads of one chunk column sit in eight different banks.
  uint4* ring = reinterpret_cast<uint4*>(smem) + warp * S::kWarpRing;
  auto chunk_at = [&](int stage, int kv, int row, int c) {
    return ring + (stage * 2 + kv) * S::kTileChunks + row * kChunks + (c ^ (row & 7));
  };
  const T* keys = static_cast<const T*>(a.keys);
  const T* values = static_cast<const T*>(a.values);
  const uint64_t once = evict_first_policy();
  auto issue = [&](int t) {
    if (t < tiles) {
      const int i0 = tile_start(t);
      const int64_t slot0 = staged_slot(sm_blocks, first_block, a.block_size, i0);
      const int c = lane % kChunks;
#pragma unroll
      for (int pass = 0; pass < S::kTile / kRowsPerPass; ++pass) {
        const int row = pass * kRowsPerPass + lane / kChunks;
        const int i = i0 + row;
        if (i == r.fresh) continue;  // not in the pool yet: taken from the arguments
        const bool valid = i < r.end;
        const int64_t offset = valid ? (slot0 + row) * D + c * 8 : 0;
        copy16_async_or_zero(chunk_at(t % kStages, 0, row, c), keys + offset, valid ? 16 : 0, once);
        copy16_async_or_zero(chunk_at(t % kStages, 1, row, c), values + offset, valid ? 16 : 0, once);
      }
    }
    commit_async();  // an empty group past the end keeps the wait counts uniform
  };
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) issue(t);

  wait_for_producers();
  release_dependents();

  // Every load that waited for the producer is issued before anything stores, so they share one
  // round trip: the query, the appended token's chunks, and the append's own reads.
  // The query group as the A operand, one fragment per 16 dims: row g = lane / 4 holds dims
  // 2q, 2q + 1 and 2q + 8, 2q + 9 of the step (q = lane % 4); rows 8.. (registers 1 and 3) are zero.
  const int g = lane / 4, q = lane % 4;
  uint32_t qa[D / 16][4];
#pragma unroll
  for (int k = 0; k < D / 16; ++k) {
    qa[k][0] = qa[k][1] = qa[k][2] = qa[k][3] = 0;
    if (g < G) {
      const T* src = static_cast<const T*>(a.q) + static_cast<int64_t>(blockIdx.x * G + g) * D + k * 16 + 2 * q;
      qa[k][0] = *reinterpret_cast<const uint32_t*>(src);
      qa[k][2] = *reinterpret_cast<const uint32_t*>(src + 8);
    }
  }
  // The appended token enters its tile's ring rows from the arguments (lanes < 2 · kChunks of the
  // warp whose tile holds it: K's chunks, then V's).
  const bool holds_fresh = r.fresh >= 0 && lane < 2 * kChunks && (r.fresh - r.begin) / S::kTile % kWarps == warp;
  uint4 fresh_chunk{};
  if (holds_fresh)
    fresh_chunk = load16(static_cast<const T*>(lane < kChunks ? a.append.k : a.append.v) +
                         static_cast<int64_t>(blockIdx.x) * D + lane % kChunks * 8);
  if (r.fresh >= 0) append_to_pool<T, D>(a, r);
  const float q_scale = a.scale * kLog2e;
  float m = -FLT_MAX, l = 0.f;  // query head g's running max, and this lane's part of its sum
  float acc[D / 8][4];          // O: row g, dims 8n + 2q and 8n + 2q + 1 in [n][0..1]
#pragma unroll
  for (int n = 0; n < D / 8; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;

  for (int t = 0; t < tiles; ++t) {
    __syncwarp();  // every lane has read the stage this issue refills
    issue(t + kStages - 1);
    wait_async<kStages - 1>();  // this lane's copies of tile t have landed
    const int stage = t % kStages, i0 = tile_start(t);
    if (holds_fresh && r.fresh >= i0 && r.fresh < i0 + S::kTile)
      *chunk_at(stage, lane / kChunks, r.fresh - i0, lane % kChunks) = fresh_chunk;
    __syncwarp();  // and every other lane's

    // S: s[n][0..1] are row g's scores of tokens 8n + 2q and 8n + 2q + 1 ([2..3]: padding rows).
    float s[2][4] = {};
#pragma unroll
    for (int k = 0; k < D / 16; ++k) {
      uint32_t kb[4];  // tokens 0..7 then 8..15, dims 16k.. and 16k + 8..
      const int mat = lane / 8;
      load_matrices<false>(kb, chunk_at(stage, 0, (mat / 2) * 8 + lane % 8, 2 * k + mat % 2));
      mma_16816<T>(s[0], qa[k], kb[0], kb[1]);
      mma_16816<T>(s[1], qa[k], kb[2], kb[3]);
    }
    float tile_max = -FLT_MAX;
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        s[n][e] = i0 + 8 * n + 2 * q + e < r.end ? s[n][e] * q_scale : -INFINITY;
        tile_max = fmaxf(tile_max, s[n][e]);
      }
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    const float m_new = fmaxf(m, tile_max);
    const float alpha = exp2f(m - m_new);
    m = m_new;
    float p[2][2];
    l *= alpha;
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        p[n][e] = round_to<T>(exp2f(s[n][e] - m_new));
        l += p[n][e];
      }
    }
    const uint32_t pa[4] = {pack_pair<T>(p[0][0], p[0][1]), 0u, pack_pair<T>(p[1][0], p[1][1]), 0u};
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      acc[n][0] *= alpha;
      acc[n][1] *= alpha;
    }
#pragma unroll
    for (int k = 0; k < D / 16; ++k) {
      uint32_t vb[4];  // dims 16k.. (tokens 0..7, 8..15), then dims 16k + 8.. (the same)
      const int mat = lane / 8;
      load_matrices<true>(vb, chunk_at(stage, 1, (mat % 2) * 8 + lane % 8, 2 * k + mat / 2));
      mma_16816<T>(acc[2 * k], pa, vb[0], vb[1]);
      mma_16816<T>(acc[2 * k + 1], pa, vb[2], vb[3]);
    }
  }
  wait_async<0>();
  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);

  __syncthreads();  // every warp is done with its ring, which the results reuse
  float* merged = reinterpret_cast<float*>(smem);
  if (g < G) {
    float* row = merged_row<D, G>(merged, warp, g);
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      row[8 * n + 2 * q] = acc[n][0];
      row[8 * n + 2 * q + 1] = acc[n][1];
    }
    if (q == 0) {
      row[D] = m;
      row[D + 1] = l;
    }
  }
  __syncthreads();
  finish_range<T, D, G>(a, r, merged);
}

// CUDA-core kernel, for fp32 K/V. Grid (kv heads, num_splits). Each token lane keeps an online softmax (in base 2, the scale folded
// into q) per query head of the group; lanes merge through warp shuffles, warps through shared
// memory. A thread reads back only the ring pieces it copied itself, so the ring needs no barrier.
//
// Launched as a dependent of the kernel before it (the q/k-norm + RoPE that writes q and the new
// key), so everything that kernel cannot have written is started before the wait: the stream's
// length (uploaded before the step), its block-table entries and the first tiles of the tokens
// already cached. The token this launch appends (a.append) is never read from the pool: the CTA
// whose range ends the stream takes it from the arguments after the wait, writes it to the pool,
// and the table entry of a block it opens is not read at all.
template <typename T, int D, int G>
__global__ void __launch_bounds__(kThreads) paged_decode_kernel(PagedDecodeArgs a) {
  using S = DecodeShape<T, D, G>;
  constexpr int kVec = S::kVec, kLanes = S::kLanesPerToken, kGroups = S::kGroups;
  constexpr int kUnroll = S::kUnroll, kStages = S::kStages;
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int sm_blocks[kPagedDecodeMaxSplit / 16 + 1];

  const int h = blockIdx.x;
  const CtaRange r = cta_range(a);
  const int begin = r.begin, end = r.end, fresh = r.fresh;
  if (begin >= r.length) return idle_range(a);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int token_lane = warp * S::kTokensPerWarp + lane / kLanes;
  const int part = lane % kLanes;

  const int first_block = begin / a.block_size;
  stage_blocks(a, r, sm_blocks);
  __syncthreads();

  const T* keys = static_cast<const T*>(a.keys);
  const T* values = static_cast<const T*>(a.values);
  uint4* ring = reinterpret_cast<uint4*>(smem);
  const uint64_t once = evict_first_policy();
  // This thread's pieces of stage s: K at [s][0][u][thread], V at [s][1][u][thread].
  auto piece = [&](int s, int kv, int u) -> uint4* {
    return ring + ((s * 2 + kv) * kUnroll + u) * kThreads + threadIdx.x;
  };
  auto issue = [&](int tile) {
    const int s = tile % kStages;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = begin + tile * S::kTile + u * kGroups + token_lane;
      if (i < end && i != fresh) {
        const int64_t slot = staged_slot(sm_blocks, first_block, a.block_size, i);
        copy16_async(piece(s, 0, u), keys + slot * D + part * kVec, once);
        copy16_async(piece(s, 1, u), values + slot * D + part * kVec, once);
      }
    }
    commit_async();  // an empty group past the end keeps the wait counts uniform
  };
  const int tiles = (end - begin + S::kTile - 1) / S::kTile;
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) issue(t);

  wait_for_producers();
  release_dependents();
  // The query and this thread's pieces of the appended token are loaded before the append stores,
  // so every load after the wait shares one round trip.
  const T* q = static_cast<const T*>(a.q);
  uint4 q_raw[G];
#pragma unroll
  for (int g = 0; g < G; ++g) q_raw[g] = load16(q + static_cast<int64_t>(h * G + g) * D + part * kVec);
  uint4 fresh_k{}, fresh_v{};
  if (fresh >= 0) {
    fresh_k = load16(static_cast<const T*>(a.append.k) + static_cast<int64_t>(h) * D + part * kVec);
    fresh_v = load16(static_cast<const T*>(a.append.v) + static_cast<int64_t>(h) * D + part * kVec);
    append_to_pool<T, D>(a, r);
  }
  float qf[G][kVec];
  const float q_scale = a.scale * kLog2e;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    unpack<T>(q_raw[g], qf[g]);
#pragma unroll
    for (int e = 0; e < kVec; ++e) qf[g][e] *= q_scale;
  }
  float m[G], l[G], acc[G][kVec];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -FLT_MAX;
    l[g] = 0.f;
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[g][e] = 0.f;
  }

  for (int t = 0; t < tiles; ++t) {
    issue(t + kStages - 1);
    wait_async<kStages - 1>();  // tile t has landed
    const int s = t % kStages;
    // The lane's kUnroll tokens of the tile are scored first, then enter the softmax together:
    // one rescale of the accumulators per tile instead of one per token.
    float sc[kUnroll][G];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = begin + t * S::kTile + u * kGroups + token_lane;
      const bool valid = i < end;
      float kf[kVec];
      if (valid) {
        uint4 raw = *piece(s, 0, u);  // by value: selecting the reference would put fresh_k in local memory
        if (i == fresh) raw = fresh_k;
        unpack<T>(raw, kf);
      }
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float dot = 0.f;
        if (valid) {
#pragma unroll
          for (int e = 0; e < kVec; ++e) dot = fmaf(qf[g][e], kf[e], dot);
        }
        // Every lane of the warp runs every shuffle: the tile loop is uniform across the CTA.
#pragma unroll
        for (int o = kLanes / 2; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        sc[u][g] = valid ? dot : -INFINITY;  // exp2(−inf) = 0: a token past the end weighs nothing
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float m_new = m[g];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) m_new = fmaxf(m_new, sc[u][g]);
      const float alpha = exp2f(m[g] - m_new);
      l[g] *= alpha;
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[g][e] *= alpha;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        sc[u][g] = exp2f(sc[u][g] - m_new);
        l[g] += sc[u][g];
      }
      m[g] = m_new;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      // A piece past the end was never copied: its bytes may be NaN, and 0 · NaN is NaN.
      const int i = begin + t * S::kTile + u * kGroups + token_lane;
      if (i >= end) continue;
      float vf[kVec];
      uint4 raw = *piece(s, 1, u);
      if (i == fresh) raw = fresh_v;
      unpack<T>(raw, vf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[g][e] = fmaf(sc[u][g], vf[e], acc[g][e]);
      }
    }
  }
  wait_async<0>();

  // Merge the token lanes of each warp (they hold the same pieces of different tokens).
#pragma unroll
  for (int o = kLanes; o < 32; o *= 2) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const float m_other = __shfl_xor_sync(0xffffffffu, m[g], o);
      const float l_other = __shfl_xor_sync(0xffffffffu, l[g], o);
      const float m_new = fmaxf(m[g], m_other);
      // A lane that saw no token has l = 0 and m = −FLT_MAX: its weight is exp2(−huge) = 0.
      const float w_self = exp2f(m[g] - m_new), w_other = exp2f(m_other - m_new);
      l[g] = l[g] * w_self + l_other * w_other;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const float acc_other = __shfl_xor_sync(0xffffffffu, acc[g][e], o);
        acc[g][e] = acc[g][e] * w_self + acc_other * w_other;
      }
      m[g] = m_new;
    }
  }
  __syncthreads();  // the ring is reused for the warps' results
  float* merged = reinterpret_cast<float*>(smem);
  auto row = [&](int w, int g) { return merged_row<D, G>(merged, w, g); };
  if (lane < kLanes) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int e = 0; e < kVec; ++e) row(warp, g)[part * kVec + e] = acc[g][e];
      if (part == 0) {
        row(warp, g)[D] = m[g];
        row(warp, g)[D + 1] = l[g];
      }
    }
  }
  __syncthreads();

  finish_range<T, D, G>(a, r, merged);
}

// The kernel serving (T, D, G) — tensor cores for 16-bit K/V — and its shared memory.
template <typename T, int D, int G>
struct DecodeKernel {
  static constexpr auto kernel() {
    if constexpr (sizeof(T) == 2) return paged_decode_mma_kernel<T, D, G>;
    else return paged_decode_kernel<T, D, G>;
  }
  static constexpr size_t smem_bytes() {
    if constexpr (sizeof(T) == 2) return MmaShape<T, D, G>::kSmemBytes;
    else return DecodeShape<T, D, G>::kSmemBytes;
  }
};

// The rings exceed the 48 KB a kernel gets without asking; asked once per instantiation, on the
// first (eager) launch, never inside a graph capture.
template <typename T, int D, int G>
cudaError_t prepare_decode() {
  using K = DecodeKernel<T, D, G>;
  static const cudaError_t status = [] {
    const cudaError_t smem = cudaFuncSetAttribute(K::kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  static_cast<int>(K::smem_bytes()));
    // Clusters of up to kPagedDecodeMaxCluster CTAs: past the portable 8 on sm_90.
    return smem != cudaSuccess ? smem
                               : cudaFuncSetAttribute(K::kernel(), cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  }();
  return status;
}

template <typename T, int D, int G>
cudaError_t launch_decode(const PagedDecodeArgs& a, cudaStream_t stream) {
  using K = DecodeKernel<T, D, G>;
  if (const cudaError_t status = prepare_decode<T, D, G>(); status != cudaSuccess) return status;
  const dim3 grid(a.kv_heads, a.num_splits), cluster(1, a.cluster_merge ? a.num_splits : 1);
  return launch_dependent_in_clusters(K::kernel(), grid, cluster, kThreads, K::smem_bytes(), stream, a);
}

// The instantiation serving a (dtype, head dim, group): f.template run<T, D, G>().
template <typename T, int D, typename F>
cudaError_t by_group(int group, const F& f) {
  switch (group) {
    case 1: return f.template run<T, D, 1>();
    case 2: return f.template run<T, D, 2>();
    case 4: return f.template run<T, D, 4>();
    case 8: return f.template run<T, D, 8>();
    default: return cudaErrorInvalidValue;
  }
}

template <typename F>
cudaError_t with_decode_instance(DType dtype, int head_dim, int group, const F& f) {
  return with_element_type(dtype, [&](auto t) {
    using T = decltype(t);
    switch (head_dim) {
      case 64: return by_group<T, 64>(group, f);
      case 128: return by_group<T, 128>(group, f);
      default: return cudaErrorInvalidValue;
    }
  });
}

struct Launch {
  const PagedDecodeArgs& args;
  cudaStream_t stream;
  template <typename T, int D, int G>
  cudaError_t run() const { return launch_decode<T, D, G>(args, stream); }
};

struct ClusterFit {
  int kv_heads, num_splits;
  bool* fits;
  template <typename T, int D, int G>
  cudaError_t run() const {
    using K = DecodeKernel<T, D, G>;
    if (const cudaError_t status = prepare_decode<T, D, G>(); status != cudaSuccess) return status;
    const DependentLaunchConfig launch(dim3(kv_heads, num_splits), dim3(1, num_splits, 1), kThreads,
                                       K::smem_bytes(), nullptr);
    int clusters = 0;
    const cudaError_t status = cudaOccupancyMaxActiveClusters(&clusters, K::kernel(), launch.get());
    *fits = status == cudaSuccess && clusters >= kv_heads;
    (void)cudaGetLastError();  // a size the device cannot place is an answer, not an error
    return cudaSuccess;
  }
};

struct Occupancy {
  int* per_sm;
  template <typename T, int D, int G>
  cudaError_t run() const {
    using K = DecodeKernel<T, D, G>;
    if (const cudaError_t status = prepare_decode<T, D, G>(); status != cudaSuccess) return status;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(per_sm, K::kernel(), kThreads, K::smem_bytes());
  }
};

}  // namespace

bool paged_decode_supported(int head_dim, int group) {
  return (head_dim == 64 || head_dim == 128) && (group == 1 || group == 2 || group == 4 || group == 8);
}

cudaError_t paged_decode_attention(const PagedDecodeArgs& a, cudaStream_t stream) {
  if (!paged_decode_supported(a.head_dim, a.group) || a.min_split_tokens <= 0 ||
      a.min_split_tokens > kPagedDecodeMaxSplit || a.num_splits <= 0 || a.num_splits > kPagedDecodeMaxSplits ||
      a.block_size <= 0 || a.block_size % 16 != 0 ||
      (a.cluster_merge && a.num_splits > kPagedDecodeMaxCluster) ||
      (a.num_splits > 1 && !a.cluster_merge && (!a.partial_out || !a.partial_ml || !a.split_counters)))
    return cudaErrorInvalidValue;
  // The longest stream the table holds must fit num_splits ranges of at most kMaxSplit tokens.
  const int64_t capacity = a.table_stride * a.block_size;
  const int64_t even = (capacity + a.num_splits - 1) / a.num_splits;
  if ((even + kSplitAlign - 1) / kSplitAlign * kSplitAlign > kPagedDecodeMaxSplit) return cudaErrorInvalidValue;
  return with_decode_instance(a.dtype, a.head_dim, a.group, Launch{a, stream});
}

cudaError_t paged_decode_clusters_fit(DType dtype, int head_dim, int group, int kv_heads, int num_splits, bool& fits) {
  fits = false;
  if (num_splits < 2 || num_splits > kPagedDecodeMaxCluster) return cudaSuccess;
  return with_decode_instance(dtype, head_dim, group, ClusterFit{kv_heads, num_splits, &fits});
}

cudaError_t paged_decode_ctas_per_sm(DType dtype, int head_dim, int group, int& per_sm) {
  return with_decode_instance(dtype, head_dim, group, Occupancy{&per_sm});
}

}  // namespace trimvl::cuda
