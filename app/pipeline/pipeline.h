#pragma once
// The Qwen3-VL multimodal pipeline behind app::Engine (DESIGN §3): media → processors → vision
// encoder; chat format → prompt → token embeddings with the visual embeddings scattered in at the
// pad tokens → 3-row M-RoPE positions → prefill through the KV cache with DeepStack → decode loop.
//
// Multi-turn: every turn renders the whole conversation (the hub templates rewrite earlier turns,
// e.g. Thinking drops old reasoning, so only a full render is exact). When the tokens the cache
// holds are a prefix of the new prompt, only the rest is prefilled; the positions of the new tokens
// come from the whole prompt, which is what carries the rope delta across turns. Otherwise the
// cache is rebuilt from the stored media encodings.
//
// The KV policy can change between requests (set_kv_cache, for sweeps): the construction goes
// through the same two steps, resolve_kv (everything refusable, gates read at most once per
// directory) and install_kv (gates into the decoder, a fresh cache). Encoded media outlive a
// conversation in a bounded cache (media_cache.h).
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "app/engine.h"
#include "app/pipeline/encoded_media.h"
#include "app/pipeline/media_cache.h"
#include "app/snapshot.h"
#include "cache/gate_checkpoint.h"
#include "cache/paged_kv_cache.h"
#include "cache/policy.h"
#include "language/qwen3vl/chat_format.h"
#include "language/qwen3vl/decode_graph.h"
#include "language/qwen3vl/prompt.h"
#include "language/qwen3vl/text_decoder.h"
#include "language/sampling/generation_config.h"
#include "language/tokenizer/tokenizer.h"
#include "vision/qwen3vl/processor_config.h"
#include "vision/qwen3vl/vision_model.h"

namespace trimvl::app {

class Pipeline {
 public:
  explicit Pipeline(const EngineOptions& options);

  // See Engine::set_kv_cache.
  void set_kv_cache(const KvCacheSettings& settings);

  Reply ask(const Request& request, const PieceCallback& on_piece);
  Score score(const Request& request, std::string_view continuation);
  void dump_logits(const std::filesystem::path& path) const;
  void cancel() { cancel_requested_.store(true); }
  void reset();
  int64_t context_length() const { return prompt_config_.max_position_embeddings; }

 private:
  // A KV cache configuration, checked and with its gates loaded, not yet in use.
  // A KV setup in use before, kept with its cache and decode graphs: switching back to the same
  // settings (a sweep does on every sample) reuses them — no new pool, no CUDA graph capture.
  struct ParkedKv {
    std::shared_ptr<const cache::Policy> policy;
    std::optional<int64_t> prefill_chunk;
    std::shared_ptr<const cache::GateCheckpoint> gates;
    std::unique_ptr<cache::PagedKvCache> cache;
    std::unique_ptr<qwen3vl::DecodeGraph> graph;
  };
  static constexpr size_t kParkedKv = 8;  // a sweep's configurations, typically

  // A gate directory's checkpoint, and its gates on the model's device once a policy ran them.
  struct LoadedGates {
    std::shared_ptr<const cache::GateCheckpoint> checkpoint;
    std::shared_ptr<const qwen3vl::TextModel::PlacedGates> placed;
  };
  struct KvSetup {
    std::shared_ptr<const cache::Policy> policy;
    std::optional<int64_t> prefill_chunk;
    LoadedGates* gates = nullptr;  // an entry of gate_checkpoints_; null when the policy runs none
  };
  // Refuses what construction refuses (the policy's values, a gated policy without gates, gates
  // that do not fit `text_config`) without changing the pipeline.
  KvSetup resolve_kv(const KvCacheSettings& settings, const qwen3vl::TextConfig& text_config);
  // Puts `setup` in use with a fresh cache and an empty conversation; on an error nothing changed.
  void install_kv(KvSetup setup);
  std::string kv_description() const;  // the policy, and the gates' type when it runs any

  // Loads, processes and encodes the image and video parts of `messages`, in order, reusing the
  // media cache's encodings.
  MediaSet encode_media(std::span<const Message> messages, Stats& stats);
  // One encoder call: `parts`, all images or all videos.
  MediaSet encode_items(const std::vector<const Part*>& parts, Part::Kind kind, Stats& stats);
  // Runs prompt tokens [from, to) through the model into `cache` as one forward and returns their
  // final hidden states. `positions` [3, ids.size()] and `sources` cover the whole prompt; `media`
  // holds every image and video of it, those before `from` included (already in the cache).
  at::Tensor forward(cache::KvCache& cache, std::span<const int32_t> ids, const at::Tensor& positions,
                     std::span<const qwen3vl::TokenSource> sources, int64_t from, int64_t to,
                     const MediaSet& media) const;
  // Tokens [from, ids.size()) in forwards of at most --prefill-chunk tokens (one forward when unset),
  // so the policy evicts between them. Returns the last token's final hidden state [1, hidden].
  at::Tensor prefill(cache::KvCache& cache, std::span<const int32_t> ids, const at::Tensor& positions,
                     std::span<const qwen3vl::TokenSource> sources, int64_t from, const MediaSet& media);
  std::unique_ptr<cache::PagedKvCache> new_cache(std::shared_ptr<const cache::Policy> policy,
                                                 std::optional<int64_t> prefill_chunk) const;
  // The cache's counters and what it holds by modality, into `stats`.
  void cache_stats(const cache::PagedKvCache& cache, Stats& stats) const;
  // The logits [1, vocab] of one generated token's forward; valid until the next step.
  at::Tensor decode_step(cache::KvCache& cache, int32_t token, int64_t position);
  // The generation_config.json settings with `settings` applied, bounded by the context length.
  std::pair<SamplingParams, StopConditions> generation_for(const GenerationSettings& settings) const;
  std::vector<qwen3vl::Message> to_chat(std::span<const Message> messages) const;
  void check_cancelled();

  Snapshot snapshot_;
  c10::Device device_;
  c10::ScalarType dtype_;
  Tokenizer tokenizer_;
  qwen3vl::ChatOptions chat_options_;
  qwen3vl::PromptConfig prompt_config_;
  vision::qwen3vl::ImageProcessorConfig image_config_;
  vision::qwen3vl::VideoProcessorConfig video_config_;
  GenerationConfig generation_;
  std::optional<vision::qwen3vl::VisionModel> vision_;
  std::optional<qwen3vl::TextDecoder> decoder_;
  std::unique_ptr<qwen3vl::DecodeGraph> graph_;  // decode steps of decoder_ (CUDA graph replays on CUDA)
  std::shared_ptr<const cache::Policy> policy_;
  std::optional<int64_t> prefill_chunk_;
  std::shared_ptr<const cache::GateCheckpoint> gates_;  // the decoder's, or null
  // Gate checkpoints read so far, by canonical directory: a sweep switching policies reads each once.
  // The same placed gates serve every switch back to them: no copy to the device per switch.
  std::map<std::filesystem::path, LoadedGates> gate_checkpoints_;
  MediaCache media_cache_;

  std::list<ParkedKv> parked_;  // most recently used first

  // The conversation.
  std::unique_ptr<cache::PagedKvCache> cache_;
  std::vector<Message> history_;
  MediaSet media_;
  std::vector<int32_t> cached_ids_;  // the tokens whose K/V cache_ holds, in stream order

  std::atomic<bool> cancel_requested_{false};
  at::Tensor last_logits_;  // [N, vocab] float32 on the CPU, of the last ask or score
  std::vector<int32_t> last_tokens_;
};

}  // namespace trimvl::app
