#pragma once
// Launchers of the paged-cache kernels (paged_attention.cu). Torch-free: raw device pointers and a
// stream; they return the launch's cudaError_t and kernels/ops/paged_attention.cpp turns it into a
// trimvl::Error. Layout (cache/paged_kv_cache.h): a pool of `block_size`-token blocks, keys and
// values [slots, D] with slot = block · block_size + offset; each (layer, kv head) stream has a row
// of `block_table` [streams, table_stride] and a length.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

// The most tokens one CTA of the decode kernel takes: num_splits must cut the longest stream the
// block table holds (table_stride · block_size) into ranges no longer than this.
inline constexpr int kPagedDecodeMaxSplit = 4096;
// The most ranges (CTAs) per stream: bounds the partials a launch writes and one CTA merges.
inline constexpr int kPagedDecodeMaxSplits = 1024;
// The most ranges of a stream that merge as one thread-block cluster (cluster_merge): sm_90's
// largest, non-portable cluster.
inline constexpr int kPagedDecodeMaxCluster = 16;

// The token each stream of a decode step's layer gains, written by the decode launch itself: its key
// and value go to slots[stream] with its stream position, log β and a zeroed accumulated score; a
// slot that opens a block (offset 0) also enters the stream's block table at (length − 1) /
// block_size, which keeps a device mirror of the tables current without a copy. The attention
// takes the token from k and v, not from the pool.
struct PagedAppend {
  const void* k = nullptr;            // [H_kv, D]; null: the launch appends nothing
  const void* v = nullptr;            // [H_kv, D]
  const void* log_beta = nullptr;     // [H_kv] or null
  const int32_t* slots = nullptr;     // [streams]
  const int64_t* position = nullptr;  // [1] the new token's stream position
  void* keys = nullptr;               // the pool's [slots, D], written
  void* values = nullptr;
  int64_t* positions = nullptr;       // [slots]
  void* log_beta_pool = nullptr;      // [slots] or null
  float* accumulated = nullptr;       // [slots] or null
  int32_t* block_table = nullptr;     // the decode's table, written
};

// Decode attention of one layer: each kv head h of the layer is the variable-length sequence
// (stream first_stream + h, lengths[stream] tokens, the new one included — appended by this launch
// when `append` is set), and its G = H_q / H_kv query heads are packed to read it once. The grid
// has `num_splits` CTAs per stream (split-K); on
// the device each stream is cut by its current length into at most that many equal ranges of at
// least `min_split_tokens`. A stream of one range is written by its CTA; otherwise each CTA writes
// its partial result, and the last of the stream's CTAs to finish (counted in split_counters)
// merges them in the same launch, then zeroes its counter for the next launch.
struct PagedDecodeArgs {
  DType dtype = DType::BFloat16;
  int head_dim = 0;       // 64 or 128
  int kv_heads = 0;       // of this layer
  int group = 0;          // query heads per kv head: 1, 2, 4 or 8
  const void* q = nullptr;         // [H_q, D]
  const void* keys = nullptr;      // [slots, D]
  const void* values = nullptr;    // [slots, D]
  const int32_t* block_table = nullptr;
  int64_t table_stride = 0;
  const int32_t* lengths = nullptr;  // [streams]
  int first_stream = 0;
  int block_size = 16;          // a multiple of 16: a 16-token tile lies in one block
  int min_split_tokens = 64;    // in [1, kPagedDecodeMaxSplit]
  int num_splits = 1;            // in [1, kPagedDecodeMaxSplits]
  float scale = 1.0f;
  void* out = nullptr;           // [H_q, D]
  float* partial_out = nullptr;  // [H_kv, num_splits, G, D] when num_splits > 1
  float* partial_ml = nullptr;   // [H_kv, num_splits, G, 2] when num_splits > 1
  int32_t* split_counters = nullptr;  // [streams], zero between launches, when num_splits > 1
  PagedAppend append;            // this step's token, or none
  // Each stream's num_splits CTAs form one cluster and merge through distributed shared memory
  // instead of partials and counters (those may then be null); num_splits ≤ kPagedDecodeMaxCluster.
  bool cluster_merge = false;
};
cudaError_t paged_decode_attention(const PagedDecodeArgs& args, cudaStream_t stream);
bool paged_decode_supported(int head_dim, int group);
// Whether a launch of kv_heads clusters of num_splits CTAs each fits on the device at once (fits is
// false for a cluster size outside [2, kPagedDecodeMaxCluster]).
cudaError_t paged_decode_clusters_fit(DType dtype, int head_dim, int group, int kv_heads, int num_splits, bool& fits);
// How many decode CTAs of this instantiation one SM runs at once (its shared memory and registers).
cudaError_t paged_decode_ctas_per_sm(DType dtype, int head_dim, int group, int& per_sm);

}  // namespace trimvl::cuda
