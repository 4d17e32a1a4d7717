#include "language/qwen3vl/decode_graph.h"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::qwen3vl {
namespace {

// Graphs kept at once: a cache's key changes a few times per generation (capacity doublings), and
// a new cache brings new keys; older graphs hold device memory and will not be replayed.
constexpr size_t kMaxGraphs = 4;

// A capture that failed (an operation CUDA refuses inside a graph): decoding goes on without graphs.
struct CaptureFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

struct DecodeGraph::Graph {
  uint64_t key = 0;
  bool warmed = false;
  std::unique_ptr<ops::DeviceGraph> graph;
  at::Tensor logits;  // in the graph's memory pool
};

DecodeGraph::DecodeGraph(const TextDecoder& decoder, bool capture)
    : decoder_(decoder),
      capture_(capture && decoder.model.device().is_cuda() && ops::cuda_kernels_built()),
      token_(at::zeros({1}, at::TensorOptions().dtype(at::kLong).device(decoder.model.device()))),
      positions_(at::zeros({3, 1}, at::TensorOptions().dtype(at::kLong).device(decoder.model.device()))) {}

DecodeGraph::~DecodeGraph() = default;

at::Tensor DecodeGraph::run(cache::KvCache& cache) const {
  // The embedding lookup without TextModel::embed's range check, which reads the id on the host.
  const at::Tensor embeds = at::embedding(decoder_.model.embed_tokens(), token_);
  return decoder_.lm_head(decoder_.model.decode_layers(embeds, positions_, cache));
}

at::Tensor DecodeGraph::step(const at::Tensor& token, int64_t position, const cache::TokenInfo& info,
                             cache::KvCache& cache) {
  const TextConfig& config = decoder_.model.config();
  TRIMVL_CHECK_ARG(token.defined() && token.numel() == 1 && token.scalar_type() == at::kLong,
                   "a decode step takes one int64 token id");
  if (token.is_cpu()) {
    const int64_t id = token.item<int64_t>();
    TRIMVL_CHECK_ARG(id >= 0 && id < config.vocab_size, "token id {} is outside the vocabulary [0, {})", id,
                     config.vocab_size);
  }
  TRIMVL_CHECK_ARG(position >= 0, "negative position id {}", position);
  if (position >= config.max_position_embeddings)
    throw Error(fmt::format("position {} is beyond text_config.max_position_embeddings {}: the input is too long "
                            "for this model", position, config.max_position_embeddings)).file(config.source);
  TRIMVL_CHECK_ARG(cache.num_layers() == config.num_hidden_layers, "the KV cache has {} layers, the model {}",
                   cache.num_layers(), config.num_hidden_layers);
  token_.copy_(token.reshape({1}), /*non_blocking=*/true);
  positions_.fill_(position);
  try {
    return forward(info, cache);
  } catch (const CaptureFailed& e) {
    // The forward was aborted with the capture, so the cache is as before: decode on eagerly.
    log::warn("CUDA graph capture failed ({}); decoding without CUDA graphs from here on", e.what());
    capture_ = false;
    graphs_.clear();
    return forward(info, cache);
  }
}

at::Tensor DecodeGraph::forward(const cache::TokenInfo& info, cache::KvCache& cache) {
  cache::ForwardScope scope(cache, cache::ForwardTokens{{info}});
  at::Tensor logits;
  const std::optional<uint64_t> key = capture_ ? cache.graph_key() : std::nullopt;
  Graph* g = key ? &graph_for(*key) : nullptr;
  if (!g || !g->warmed) {
    logits = run(cache);
    if (g) g->warmed = true;
    ++counters_.eager;
  } else if (!g->graph) {
    auto graph = std::make_unique<ops::DeviceGraph>(decoder_.model.device());
    try {
      graph->capture([&] { g->logits = run(cache); });  // the attends' host bookkeeping runs here
    } catch (const std::exception& e) {
      throw CaptureFailed(e.what());
    }
    g->graph = std::move(graph);
    g->graph->replay();
    logits = g->logits;
    ++counters_.captures;
  } else {
    g->graph->replay();
    cache.replayed();
    logits = g->logits;
    ++counters_.replays;
  }
  scope.commit();
  return logits;
}

DecodeGraph::Graph& DecodeGraph::graph_for(uint64_t key) {
  const auto it = std::find_if(graphs_.begin(), graphs_.end(), [&](const Graph& g) { return g.key == key; });
  if (it != graphs_.end()) {
    graphs_.splice(graphs_.begin(), graphs_, it);
  } else {
    graphs_.push_front(Graph{key, false, nullptr, {}});
    if (graphs_.size() > kMaxGraphs) graphs_.pop_back();
  }
  return graphs_.front();
}

}  // namespace trimvl::qwen3vl
