#pragma once
// The paged KV cache's CUDA kernels at the ATen level (kernels/cuda/paged_attention.h has the
// launchers): decode attention over the streams of a layer, appending the step's token to each.
// It only reads device memory that the caller staged — no host synchronisation, no allocation
// beyond the caching allocator's — so a decode step made of them can be captured in a CUDA graph.
// The ATen reference they must match is cache/paged_attention.h (tested on the device).
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace trimvl::ops {

// The device view of a paged pool (cache/block_pool.h) and of its streams' block tables.
struct PagedView {
  at::Tensor keys, values;  // [slots, D], the model dtype
  at::Tensor positions;     // [slots] int64 stream positions
  at::Tensor log_beta;      // [slots] model dtype, or undefined (no gates)
  at::Tensor accumulated;   // [slots] float32, or undefined
  at::Tensor block_table;   // [streams, width] int32
  at::Tensor lengths;       // [streams] int32: each stream's tokens, this forward's new one included
  at::Tensor split_counters;  // [streams] int32 zeros the decode kernel keeps zero between launches
                              // (its split-K count); undefined: a fresh one per call
  int64_t block_size = 16;
};

// The split-K launch shape of a decode over streams of at most `capacity` tokens: CTAs per stream
// enough for `waves` full waves of the GPU (`resident_ctas` at once) across `kv_heads` streams, but
// no more than ranges of `min_split_tokens` need and no fewer than the kernel's longest range
// allows. One wave by default: every CTA is resident at once, and each range is as long as it can
// be, so the fewest prologues, epilogues and partials per token (docs/perf.md has the sweep). A
// stream of at most 16 ranges (one cluster) takes at most 8, or the fewest it allows.
// The kernel cuts each stream by its current length, so a shape fixed by the capacity — a captured
// graph's — keeps every CTA busy at any length.
struct DecodeSplit {
  int64_t min_split_tokens = 0, num_splits = 0;
};
inline constexpr int64_t kDecodeWaves = 1;
DecodeSplit decode_split(int64_t capacity, int64_t kv_heads, int64_t resident_ctas, int64_t waves = kDecodeWaves);

// Whether the kernels take this query ([H_q, D]) for `kv_heads` kv heads: a CUDA build, a CUDA
// tensor, fp32/fp16/bf16, head_dim 64 or 128, 1, 2, 4 or 8 query heads per kv head.
bool paged_decode_supported(const at::Tensor& q, int64_t kv_heads);

// The token a decode step appends to each of the layer's streams, first_stream .. first_stream +
// H_kv − 1: k, v [H_kv, D]; log_beta [H_kv] or undefined; slots [streams] int32 (each stream's slot
// for it); position [1] int64. The decode launch writes it to the pool, entering a slot that opens a
// block into block_table (kernels/cuda/paged_attention.h), and attends to it from k and v.
struct AppendedToken {
  at::Tensor k, v, log_beta, slots, position;
};

// Whether a decode of this query over `kv_heads` streams of at most `capacity` tokens merges each
// stream's ranges in one thread-block cluster (through distributed shared memory) rather than
// through partials in global memory and a counter: when its split has 2–16 ranges and the device
// places one cluster per stream at once.
bool paged_decode_merges_in_clusters(const at::Tensor& q, int64_t kv_heads, int64_t capacity, int64_t waves = kDecodeWaves);

// softmax(q·kᵀ·scale)·v of each query head over its kv head's stream: q [H_q, D] → [H_q, D].
// Every stream's length must be in [1, capacity], counting `appended` when given. `waves` sets the
// split-K shape (decode_split); benchmarks sweep it. The launch is a programmatic dependent
// (kernels/cuda/dependent_launch.cuh) that reads the lengths, the table and the cached tokens
// before the kernel ahead of it in the stream has finished: that kernel must not write them (in a
// decode step it is the q/k-norm + RoPE; two launches over the same streams need a kernel or a
// synchronisation between them).
at::Tensor paged_decode_attention(const at::Tensor& q, const PagedView& pool, int64_t first_stream, int64_t kv_heads,
                                  int64_t capacity, double scale, int64_t waves = kDecodeWaves,
                                  const AppendedToken* appended = nullptr);

}  // namespace trimvl::ops
