#pragma once
// Decode steps of a TextDecoder as CUDA graph replays: one launch per token instead of the
// hundreds of small kernels a step is made of (issue 5). The cache decides when a step can be
// replayed (KvCache::graph_key: the paged cache's kernel path); everything else runs eagerly, as
// TextModel::forward would.
//
// A key seen for the first time runs eagerly (it warms up cuBLAS and the caching allocator on
// the shapes); the second time it is captured and replayed; from then on it is replayed. The
// paged cache's keys change only when its pool or table is reallocated or its capacity doubles,
// so a long generation captures a handful of graphs.
//
//   qwen3vl::DecodeGraph graph(decoder);
//   at::Tensor logits = graph.step(token, position, info, cache);  // [1, vocab], until the next step
#include <cstdint>
#include <list>
#include <memory>

#include <ATen/core/Tensor.h>

#include "cache/kv_cache.h"
#include "kernels/ops/device_graph.h"
#include "language/qwen3vl/text_decoder.h"

namespace trimvl::qwen3vl {

class DecodeGraph {
 public:
  struct Counters {
    int64_t eager = 0, captures = 0, replays = 0;
  };

  // `capture` false: every step runs eagerly (for comparisons). On a CPU model steps always do.
  explicit DecodeGraph(const TextDecoder& decoder, bool capture = true);
  ~DecodeGraph();

  // One decode forward of `token` ([1] int64 on any device; on the model's device it must be an id
  // this model sampled — checking it there would synchronise) at M-RoPE `position` (a generated
  // token: all three rows equal), with cache metadata `info`. Returns the logits [1, vocab] in the
  // model's dtype: after a replay a buffer the next step overwrites. Errors as TextModel::forward;
  // the cache is left as it was.
  at::Tensor step(const at::Tensor& token, int64_t position, const cache::TokenInfo& info, cache::KvCache& cache);

  const Counters& counters() const { return counters_; }

 private:
  struct Graph;
  at::Tensor forward(const cache::TokenInfo& info, cache::KvCache& cache);
  Graph& graph_for(uint64_t key);  // found or made, and moved to the front
  at::Tensor run(cache::KvCache& cache) const;

  const TextDecoder& decoder_;
  bool capture_;
  at::Tensor token_;      // [1] int64, the step's input
  at::Tensor positions_;  // [3, 1] int64
  std::list<Graph> graphs_;  // most recently used first
  Counters counters_;
};

}  // namespace trimvl::qwen3vl
