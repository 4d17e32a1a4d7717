#pragma once
// The engine facade: what the CLI and the Qt app see of a loaded model. Torch-free (pimpl), so Qt
// translation units can include it (DESIGN §2).
//
//   app::Engine engine({.model = "Qwen/Qwen3-VL-4B-Instruct", .device = "cuda"});
//   app::Request request;
//   request.messages.push_back({app::Role::User, {app::Part::image("cat.safetensors"),
//                                                  app::Part::of_text("What is this?")}});
//   app::Reply reply = engine.ask(request, [](std::string_view piece) { print(piece); });
//
// One Engine holds one conversation: ask() appends the request's messages and the answer to it and
// keeps the KV cache, so the next ask() prefills only the new turn. reset() starts over. An Engine
// runs one request at a time; cancel() may be called from any thread.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::app {

enum class Role { System, User, Assistant };

struct Part {
  enum class Kind { Text, Image, Video };
  Kind kind = Kind::Text;
  std::string text;             // Kind::Text
  std::filesystem::path path;   // Kind::Image / Kind::Video
  std::optional<double> fps;    // videos: frames sampled per second (the processor config's otherwise)
  std::optional<int64_t> max_frames;  // videos: at most this many sampled frames

  static Part of_text(std::string text) { return {Kind::Text, std::move(text), {}, {}, {}}; }
  static Part image(std::filesystem::path path) { return {Kind::Image, {}, std::move(path), {}, {}}; }
  static Part video(std::filesystem::path path, std::optional<double> fps = {}, std::optional<int64_t> max_frames = {}) {
    return {Kind::Video, {}, std::move(path), fps, max_frames};
  }
};

struct Message {
  Role role = Role::User;
  std::vector<Part> parts;
};

// Overrides of the checkpoint's generation_config.json; unset fields keep its values.
struct GenerationSettings {
  std::optional<int64_t> max_new_tokens;  // default: the file's, else 512
  std::optional<double> temperature;      // 0: greedy; > 0 turns sampling on
  std::optional<int64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // stop strings, added to the file's
};

struct Request {
  std::vector<Message> messages;  // appended to the conversation
  GenerationSettings generation;
  std::filesystem::path trace;    // write a retention trace of this request here (docs/trace-format.md)
};

// What one ask() or score() did. Everything is of that request, except the KV cache fields below,
// which cover the conversation's cache so far: the first request after construction, reset() or
// set_kv_cache() starts them from zero, so with a reset() before each request they are per request.
// score() reports its own fresh cache.
struct Stats {
  int64_t prompt_tokens = 0;  // the whole conversation's prompt this turn
  int64_t prefilled_tokens = 0;  // of which run this turn (the rest was cached)
  int64_t text_tokens = 0, image_tokens = 0, video_tokens = 0;  // of prompt_tokens, by modality
  int64_t generated_tokens = 0;
  double media_s = 0;    // decoding, processing and encoding media
  int64_t media_encoded = 0;  // images and videos of this request decoded and encoded
  int64_t media_reused = 0;   // ... and taken from the engine's media cache instead
  double ttft_s = 0;     // request start to the first generated token
  double decode_s = 0;   // after the first token
  double tokens_per_s() const { return decode_s > 0 ? static_cast<double>(generated_tokens - 1) / decode_s : 0; }
  int64_t kv_bytes = 0;  // K/V held by the cache at the end
  std::string stop_reason;  // eos, stop_string, max_new_tokens, max_length

  // The KV cache of the conversation so far (tokens are summed over layers and kv heads).
  std::string kv_policy;           // e.g. "dbtrimkv fixed_budget M=32 B=128"
  int64_t cached_tokens = 0;       // held at the end
  int64_t peak_cached_tokens = 0;  // the most held at once
  int64_t peak_kv_bytes = 0;
  int64_t evictions = 0;
  int64_t kept_text = 0, kept_image = 0, kept_video = 0, kept_generated = 0;  // held at the end, by modality
  double mean_cache_ratio = 0;     // mean over forwards of held / (layers · kv heads · tokens seen)
};

struct Reply {
  std::string text;
  std::vector<int32_t> tokens;
  Stats stats;
};

struct ScoredToken {
  int32_t id = 0;
  std::string piece;  // the token's text
  double logprob = 0;
};

struct Score {
  std::vector<ScoredToken> tokens;
  double total = 0;
  Stats stats;
};

// The KV cache policy (cache/policy.h has the semantics; budgets count tokens per (layer, kv head)).
// Unset fields take the policy's defaults.
struct KvCacheSettings {
  std::string policy = "full";             // full | trimkv | dbtrimkv | streaming | snapkv | h2o
  std::optional<int64_t> budget;           // M; required by every policy but full
  std::optional<int64_t> buffer;           // B
  std::optional<std::string> strategy;     // dbtrimkv: fixed_budget | threshold
  std::optional<double> alpha;             // dbtrimkv threshold
  std::optional<int64_t> min_per_head;     // dbtrimkv floor
  std::optional<int64_t> lookahead;        // trimkv, dbtrimkv
  std::optional<int64_t> window;           // trimkv recent keep, snapkv observation window, h2o recent keep
  std::optional<int64_t> sinks;            // streaming
  // Prefill in forwards of at most this many tokens, evicting between them, so the KV cache never
  // holds more than budget + buffer + one chunk. Unset: the whole prompt in one forward, then evict
  // (the reference's behaviour).
  std::optional<int64_t> prefill_chunk;
  std::string gates;  // a directory with trimkv_weights.pth + config.json; empty: the model's own, if any
};

struct EngineOptions {
  std::string model;           // snapshot or gate directory, hub id (app/snapshot.h)
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string dtype = "bf16";  // bf16 | fp16 | fp32
  KvCacheSettings kv;
  // Encoded images and videos kept across requests (and across reset() and set_kv_cache()), on the
  // model's device, least recently used dropped first; 0 (or less) disables. A request reuses an encoding
  // when its images (or its videos) are the same files — path, inode, size, modification times —
  // with the same fps / max_frames, in the same order as a request before; results are the same
  // bit for bit.
  int64_t media_cache_bytes = int64_t{256} << 20;
};

using PieceCallback = std::function<void(std::string_view piece)>;

class Engine {
 public:
  // Loads the model (vision tower, text decoder, tokenizer, processor and generation configs).
  // Throws trimvl::Error naming what is missing or wrong.
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Generates the assistant's answer to the conversation plus `request.messages` (whose last
  // message is the user's), streaming UTF-8-complete pieces to `on_piece`. On success the messages
  // and the answer join the conversation. Throws Error(Cancelled) when cancel() was called during
  // the request, leaving the conversation as it was before it.
  Reply ask(const Request& request, const PieceCallback& on_piece = {});

  // Log-probabilities of `continuation` as the assistant's answer to `request.messages` (a fresh
  // conversation; this engine's conversation is neither used nor changed).
  Score score(const Request& request, std::string_view continuation);

  // Per-step logits of the last ask() (one row per generated token) or score() (one row per
  // continuation token), written as float32 "logits" [N, vocab] plus int32 "tokens" [N].
  void dump_logits(const std::filesystem::path& path) const;

  void cancel();  // thread-safe; the running request ends with Error(Cancelled)
  void reset();   // forget the conversation

  // Switches the KV cache policy without reloading the model: checked and refused exactly as
  // construction refuses `EngineOptions::kv` (same errors; gates loaded and checked when the new
  // policy needs them, each gate directory read once per engine), then the conversation is reset
  // and the next request runs under the new settings as an engine constructed with them would, token
  // for token. On an error the engine is unchanged (previous policy, conversation kept). Not while a
  // request runs.
  void set_kv_cache(const KvCacheSettings& settings);

  int64_t context_length() const;  // the longest stream the model accepts

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trimvl::app
