#pragma once
// The contract between a decoder and its KV cache (DESIGN §1, §3).
//
// The cache, not the model, owns K/V storage and performs attention: retention policies keep K/V
// per (layer, kv-head) with lengths that differ between heads, in a paged pool, and evict between
// forwards, so only the cache knows where a head's tokens are. The model hands each layer's new
// q/k/v (and the retention gate's log β, when a gate runs) to attend() and gets the attention
// output back.
//
// One forward is a transaction over all layers:
//   begin_forward(tokens)                      before layer 0: the new tokens' metadata
//   attend(layer, q, k, v, log_beta, scale)     once per layer, in any order
//   end_forward()                              after the last layer: commit; policies evict here
//   abort_forward()                            instead of end_forward when the forward failed: the
//                                              cache returns to its state before begin_forward
// Use ForwardScope, which aborts unless committed.
//
// Batch size 1. Tokens enter the stream in order; the tokens of a forward take stream positions
// [seen_tokens(), seen_tokens() + T). A stream position is a token's absolute index in everything
// the cache has been given (the age that retention scores decay with) — not its M-RoPE position and
// not its slot in storage. Keys arrive after RoPE and are never rotated again.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trimvl::cache {

// Where a token came from; policies and the retention observer report by modality.
enum class Modality : uint8_t { Text, Image, Video, Generated };
std::string_view modality_name(Modality modality);

// What is known of one token besides its K/V: the token metadata table's row (observer, traces,
// overlays). The stream position is the row's index, so it is not stored here.
struct TokenInfo {
  Modality modality = Modality::Text;
  int32_t token_id = -1;
  int32_t media = -1;     // image or video index in the conversation; -1 for text and generated
  int32_t t = -1;         // video temporal group (0 for images); -1 for text
  int32_t row = -1, col = -1;  // merged patch grid coordinates; -1 for text
  float time_s = -1;      // video: the group's timestamp in seconds; -1 otherwise
};

// Metadata of the tokens one forward appends, in stream order.
struct ForwardTokens {
  std::vector<TokenInfo> info;  // one per new token

  static ForwardTokens uniform(int64_t count, Modality modality);
  int64_t size() const { return static_cast<int64_t>(info.size()); }
};

class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int num_layers() const = 0;
  // Tokens of all committed forwards: the stream position the next forward starts at.
  virtual int64_t seen_tokens() const = 0;

  virtual void begin_forward(const ForwardTokens& tokens) = 0;
  // q: [T, H_q, D]; k, v: [T, H_kv, D] (post-RoPE keys), H_q a multiple of H_kv (query head h
  // reads kv head h / (H_q / H_kv)); log_beta: [T, H_kv], the retention of the new tokens, or an
  // undefined tensor when no gate runs. Returns softmax(q·kᵀ·scale)·v as [T, H_q, D] in q's dtype,
  // over this layer's retained tokens plus the new ones, causal among the new ones (new token i
  // sees new tokens 0..i).
  virtual at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& log_beta, double scale) = 0;
  virtual void end_forward() = 0;
  virtual void abort_forward() noexcept = 0;

  // Forgets every token (a new conversation).
  virtual void reset() = 0;

  // Decode under CUDA graphs (language/qwen3vl/decode_graph.h). Called after begin_forward of a
  // one-token forward: a cache whose attend() will then issue device work only — reading what
  // begin_forward staged at fixed addresses, with launch shapes fixed — returns a key. A graph
  // captured from a forward under one key replays any later forward under the same key; after a
  // replay, replayed() stands for every layer's attend. No key: run the forward eagerly.
  virtual std::optional<uint64_t> graph_key() const { return std::nullopt; }
  virtual void replayed() {}
};

// Runs begin_forward on construction; aborts the forward on destruction unless commit() ran, so an
// exception between layers leaves the cache as it was.
class ForwardScope {
 public:
  ForwardScope(KvCache& cache, const ForwardTokens& tokens) : cache_(cache) { cache_.begin_forward(tokens); }
  ~ForwardScope() {
    if (!committed_) cache_.abort_forward();
  }
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;

  void commit() {
    cache_.end_forward();
    committed_ = true;
  }

 private:
  KvCache& cache_;
  bool committed_ = false;
};

}  // namespace trimvl::cache
