#include "app/pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/gates.h"
#include "app/pipeline/kv_settings.h"
#include "app/pipeline/media.h"
#include "app/trace/trace_recorder.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/config_json.h"
#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/host_threads.h"
#include "kernels/runtime/log.h"
#include "language/qwen3vl/rope_index.h"
#include "language/sampling/sampler.h"
#include "vision/qwen3vl/image_processor.h"
#include "vision/qwen3vl/video_processor.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The Jinja text of a chat template file: chat_template.jinja as is, or the "chat_template" string
// of chat_template.json / tokenizer_config.json.
std::string read_chat_template(const std::filesystem::path& path) {
  if (path.extension() == ".jinja") {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read the chat template", Error::Kind::NotFound).file(path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return ConfigObject(read_json_file(path), path.string()).string("chat_template");
}

Tokenizer load_tokenizer(const Snapshot& snapshot) {
  if (snapshot.model.tokenizer.empty())
    throw Error("the model has no tokenizer.json", Error::Kind::NotFound).file(snapshot.model.dir.string());
  return Tokenizer::from_file(snapshot.model.tokenizer);
}

cache::Modality cache_modality(qwen3vl::Modality modality) {
  switch (modality) {
    case qwen3vl::Modality::Image: return cache::Modality::Image;
    case qwen3vl::Modality::Video: return cache::Modality::Video;
    case qwen3vl::Modality::Text: break;
  }
  return cache::Modality::Text;
}

// The recorder of one request listens to the cache only during it, however the request ends.
class ObserverScope {
 public:
  ObserverScope(cache::PagedKvCache& cache, cache::CacheObserver* observer) : cache_(cache) {
    cache_.set_observer(observer);
  }
  ~ObserverScope() { cache_.set_observer(nullptr); }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  cache::PagedKvCache& cache_;
};

// Splits an encoder output over its items (each item's tokens are consecutive).
std::vector<EncodedMedia> split_items(const vision::qwen3vl::VisionOutput& out, int64_t merge_size) {
  std::vector<EncodedMedia> items;
  int64_t offset = 0;
  for (const auto& grid : out.grids) {
    const int64_t n = grid.patches() / (merge_size * merge_size);
    EncodedMedia item{out.embeds.narrow(0, offset, n), {}};
    for (const auto& level : out.deepstack) item.deepstack.push_back(level.narrow(0, offset, n));
    items.push_back(std::move(item));
    offset += n;
  }
  return items;
}

qwen3vl::Grid prompt_grid(const vision::qwen3vl::GridThw& grid) { return {grid.t, grid.h, grid.w}; }

// Rows [first, first + count) of the items' tokens taken as one sequence, per tensor picked by `get`.
template <typename Get>
at::Tensor token_rows(const std::vector<EncodedMedia>& items, int64_t first, int64_t count, Get get) {
  std::vector<at::Tensor> parts;
  for (const auto& item : items) {
    const at::Tensor& t = get(item);
    const int64_t n = t.size(0);
    if (count > 0 && first < n) {
      const int64_t take = std::min(n - first, count);
      parts.push_back(t.narrow(0, first, take));
      count -= take;
      first = 0;
    } else {
      first -= std::min(first, n);
    }
  }
  TRIMVL_CHECK(count == 0, "prompt has more visual tokens than its media encoded");
  return at::cat(parts);
}

}  // namespace

Pipeline::Pipeline(const EngineOptions& options)
    : snapshot_(discover_snapshot(options.model)),
      device_(parse_device(options.device)),
      dtype_(parse_dtype(options.dtype)),
      tokenizer_(load_tokenizer(snapshot_)),
      prompt_config_(qwen3vl::PromptConfig::from_config_json(snapshot_.model.config)),
      image_config_(snapshot_.model.preprocessor_config.empty()
                        ? vision::qwen3vl::default_image_processor_config()
                        : vision::qwen3vl::load_image_processor_config(snapshot_.model.preprocessor_config)),
      video_config_(snapshot_.model.video_preprocessor_config.empty()
                        ? vision::qwen3vl::default_video_processor_config()
                        : vision::qwen3vl::load_video_processor_config(snapshot_.model.video_preprocessor_config)),
      generation_(snapshot_.model.generation_config.empty()
                      ? GenerationConfig{}
                      : GenerationConfig::from_file(snapshot_.model.generation_config)),
      media_cache_(options.media_cache_bytes) {
  fit_host_threads(device_);
  const auto& dir = snapshot_.model.dir;
  if (snapshot_.model.weights.empty())
    throw Error("the model has no weights (model.safetensors)", Error::Kind::NotFound).file(dir.string());
  if (snapshot_.model.chat_template.empty()) {
    log::warn("{} has no chat template; using Qwen3-VL Instruct's", dir.string());
  } else {
    chat_options_.style = qwen3vl::detect_chat_style(read_chat_template(snapshot_.model.chat_template));
  }

  // Everything that can be refused is checked before any weight is read: the policy, then the
  // gates against the base model's sizes.
  const auto text_config = qwen3vl::TextConfig::load(snapshot_.model.config);
  KvSetup kv = resolve_kv(options.kv, text_config);

  const auto start = Clock::now();
  vision_.emplace(vision::qwen3vl::VisionModel::load(dir, dtype_, device_));
  decoder_.emplace(qwen3vl::TextDecoder::load(io::SafetensorsCheckpoint::open(snapshot_.model.weights), text_config,
                                              dtype_, device_));
  install_kv(std::move(kv));
  log::info("loaded {} ({} on {}) in {:.1f} s; KV cache: {}", dir.string(), dtype_name(dtype_), device_.str(),
            seconds_since(start), kv_description());
}

Pipeline::KvSetup Pipeline::resolve_kv(const KvCacheSettings& settings, const qwen3vl::TextConfig& text_config) {
  KvSetup setup{cache::make_policy(policy_options(settings)), settings.prefill_chunk, nullptr};
  std::optional<GateFiles> gate_files = snapshot_.gates;
  if (!settings.gates.empty()) gate_files = gate_directory(settings.gates);
  if (gate_files && gate_files->weights.empty()) gate_files.reset();  // listed as missing by `trimvl info`
  const bool needs_gates = setup.policy->scorer() && setup.policy->scorer()->needs_gates();
  if (needs_gates && !gate_files)
    throw Error(fmt::format("policy {} ranks tokens by learned retention and needs retention gates: pass --gates DIR, "
                            "or a gate directory (trimkv_weights.pth + config.json) as the model",
                            settings.policy));
  if (!needs_gates) {
    // Said once when loading; a sweep (trimvl eval) switching policies per request would repeat it.
    if (gate_files && !policy_)
      log::info("retention gates in {} are not used by policy {}", gate_files->dir.string(), settings.policy);
    return setup;
  }
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(gate_files->dir, ec);
  if (ec) dir = gate_files->dir;
  auto found = gate_checkpoints_.find(dir);
  if (found == gate_checkpoints_.end()) {
    auto gates = std::make_shared<const cache::GateCheckpoint>(
        load_gates(*gate_files, qwen3vl::TextModel::gate_spec(text_config)));
    found = gate_checkpoints_.emplace(dir, LoadedGates{std::move(gates), nullptr}).first;
  }
  setup.gates = &found->second;
  return setup;
}

void Pipeline::install_kv(KvSetup setup) {
  // What can fail (device memory) comes first and the gates, which set_gates swaps all or none,
  // last, so a failure leaves the pipeline as it was. The setup in use is parked with its cache
  // and graphs; a parked one with equal settings is taken back instead of building new ones (its
  // graphs stay valid: the cache's storage and the placed gates' tensors are the ones captured).
  const std::shared_ptr<const cache::GateCheckpoint> gates = setup.gates ? setup.gates->checkpoint : nullptr;
  const auto same = [&](const ParkedKv& p) {
    return p.policy->options() == setup.policy->options() && p.prefill_chunk == setup.prefill_chunk && p.gates == gates;
  };
  const auto parked = std::find_if(parked_.begin(), parked_.end(), same);
  std::unique_ptr<cache::PagedKvCache> cache;
  std::unique_ptr<qwen3vl::DecodeGraph> graph;
  std::shared_ptr<const cache::Policy> policy = setup.policy;
  if (parked != parked_.end()) {
    policy = parked->policy;  // the one its cache runs
  } else {
    cache = new_cache(setup.policy, setup.prefill_chunk);
    graph = std::make_unique<qwen3vl::DecodeGraph>(*decoder_);
  }
  if (setup.gates && !setup.gates->placed) setup.gates->placed = decoder_->model.place_gates(*setup.gates->checkpoint);
  if (gates != gates_) decoder_->model.set_gates(setup.gates ? setup.gates->placed : nullptr);

  // From here nothing throws but allocation.
  if (parked != parked_.end()) {
    cache = std::move(parked->cache);
    graph = std::move(parked->graph);
    parked_.erase(parked);
  }
  if (cache_) {
    parked_.push_front({std::move(policy_), prefill_chunk_, gates_, std::move(cache_), std::move(graph_)});
    // The oldest goes, its graphs before the cache their replays write to.
    if (parked_.size() > kParkedKv) {
      parked_.back().graph.reset();
      parked_.pop_back();
    }
  }
  gates_ = gates;
  policy_ = std::move(policy);
  prefill_chunk_ = setup.prefill_chunk;
  graph_ = std::move(graph);
  cache_ = std::move(cache);
  reset();
}

std::string Pipeline::kv_description() const {
  return policy_->describe() + (gates_ ? fmt::format(", {} gates", cache::gate_type_name(gates_->type)) : "");
}

void Pipeline::set_kv_cache(const KvCacheSettings& settings) {
  install_kv(resolve_kv(settings, decoder_->model.config()));
  log::debug("KV cache: {}", kv_description());
}

std::unique_ptr<cache::PagedKvCache> Pipeline::new_cache(std::shared_ptr<const cache::Policy> policy,
                                                         std::optional<int64_t> prefill_chunk) const {
  const auto& config = decoder_->model.config();
  cache::PagedCacheOptions options;
  options.num_layers = static_cast<int>(config.num_hidden_layers);
  options.num_kv_heads = static_cast<int>(config.num_key_value_heads);
  options.head_dim = config.head_dim;
  options.dtype = dtype_;
  options.device = device_;
  options.max_forward_tokens = prefill_chunk.value_or(0);
  options.max_stream_tokens = context_length();
  return std::make_unique<cache::PagedKvCache>(options, std::move(policy));
}

void Pipeline::cache_stats(const cache::PagedKvCache& cache, Stats& stats) const {
  const cache::CacheCounters& c = cache.counters();
  stats.kv_policy = policy_->describe();
  stats.cached_tokens = c.cached_tokens;
  stats.kv_bytes = c.kv_bytes;
  stats.peak_cached_tokens = c.peak_cached_tokens;
  stats.peak_kv_bytes = c.peak_kv_bytes;
  stats.evictions = c.evictions;
  stats.mean_cache_ratio = c.mean_cache_ratio();
  int64_t kept[cache::kModalities] = {};
  const auto& tokens = cache.tokens();
  for (int layer = 0; layer < cache.num_layers(); ++layer) {
    for (int head = 0; head < static_cast<int>(cache.lengths().size()) / cache.num_layers(); ++head) {
      const at::Tensor positions = cache.positions(layer, head);
      const int64_t* p = positions.data_ptr<int64_t>();
      for (int64_t i = 0; i < positions.numel(); ++i) ++kept[static_cast<size_t>(tokens[static_cast<size_t>(p[i])].modality)];
    }
  }
  stats.kept_text = kept[static_cast<size_t>(cache::Modality::Text)];
  stats.kept_image = kept[static_cast<size_t>(cache::Modality::Image)];
  stats.kept_video = kept[static_cast<size_t>(cache::Modality::Video)];
  stats.kept_generated = kept[static_cast<size_t>(cache::Modality::Generated)];
}

void Pipeline::reset() {
  cache_->reset();
  history_.clear();
  media_ = {};
  cached_ids_.clear();
}

void Pipeline::check_cancelled() {
  if (cancel_requested_.exchange(false)) throw Error("cancelled", Error::Kind::Cancelled);
}

std::vector<qwen3vl::Message> Pipeline::to_chat(std::span<const Message> messages) const {
  std::vector<qwen3vl::Message> chat;
  for (const auto& message : messages) {
    qwen3vl::Message m;
    m.role = message.role == Role::System  ? qwen3vl::Role::System
             : message.role == Role::User ? qwen3vl::Role::User
                                          : qwen3vl::Role::Assistant;
    for (const auto& part : message.parts) {
      switch (part.kind) {
        case Part::Kind::Text: m.parts.push_back(qwen3vl::Part::of_text(part.text)); break;
        case Part::Kind::Image: m.parts.push_back(qwen3vl::Part::image()); break;
        case Part::Kind::Video: m.parts.push_back(qwen3vl::Part::video()); break;
      }
    }
    chat.push_back(std::move(m));
  }
  return chat;
}

MediaSet Pipeline::encode_media(std::span<const Message> messages, Stats& stats) {
  const auto start = Clock::now();
  std::vector<const Part*> images, videos;
  for (const auto& message : messages) {
    for (const auto& part : message.parts) {
      if (part.kind == Part::Kind::Image) images.push_back(&part);
      if (part.kind == Part::Kind::Video) videos.push_back(&part);
    }
  }
  // Images and videos go through the encoder separately, as HF's get_image_features and
  // get_video_features do (attention never mixes items either way).
  MediaSet set = encode_items(images, Part::Kind::Image, stats);
  set.append(encode_items(videos, Part::Kind::Video, stats));
  if (!images.empty() || !videos.empty()) stats.media_s += seconds_since(start);
  return set;
}

MediaSet Pipeline::encode_items(const std::vector<const Part*>& parts, Part::Kind kind, Stats& stats) {
  if (parts.empty()) return {};
  const auto count = static_cast<int64_t>(parts.size());
  // The cache key: every input of this encoder call that the engine does not fix, in order. NUL
  // separates items (no path holds one).
  std::string key;
  if (media_cache_.enabled()) {
    key = kind == Part::Kind::Image ? "image" : "video";
    for (const Part* part : parts) {
      key += '\0' + media_file_identity(part->path);
      if (kind == Part::Kind::Video)
        key += fmt::format("|fps={}|max_frames={}", part->fps ? fmt::format("{}", *part->fps) : "-",
                           part->max_frames ? fmt::format("{}", *part->max_frames) : "-");
    }
    if (auto cached = media_cache_.find(key)) {
      stats.media_reused += count;
      return std::move(*cached);
    }
  }

  std::vector<at::Tensor> pixels;
  std::vector<vision::qwen3vl::GridThw> grids;
  MediaSet set;
  for (const Part* part : parts) {
    if (kind == Part::Kind::Image) {
      auto processed = vision::qwen3vl::process_image(load_media(part->path), image_config_, device_);
      pixels.push_back(std::move(processed.pixel_values));
      grids.push_back(processed.grid);
      set.image_inputs.push_back({prompt_grid(processed.grid)});
    } else {
      auto config = video_config_;
      if (part->fps) {
        config.fps = *part->fps;
        config.num_frames.reset();
      }
      if (part->max_frames) {
        config.max_frames = *part->max_frames;
        config.min_frames = std::min(config.min_frames, *part->max_frames);
      }
      auto processed = vision::qwen3vl::process_video(load_media(part->path), config, device_);
      pixels.push_back(std::move(processed.pixel_values));
      grids.push_back(processed.grid);
      set.video_inputs.push_back({prompt_grid(processed.grid), processed.timestamps_s});
    }
  }
  auto items = split_items(vision_->forward(at::cat(pixels), grids), vision_->config().spatial_merge_size);
  (kind == Part::Kind::Image ? set.images : set.videos) = std::move(items);
  stats.media_encoded += count;
  if (media_cache_.enabled()) media_cache_.insert(key, set);
  return set;
}

at::Tensor Pipeline::prefill(cache::KvCache& cache, std::span<const int32_t> ids, const at::Tensor& positions,
                             std::span<const qwen3vl::TokenSource> sources, int64_t from, const MediaSet& media) {
  const auto total = static_cast<int64_t>(ids.size());
  const int64_t chunk = prefill_chunk_.value_or(total - from);
  at::Tensor hidden;
  for (int64_t start = from; start < total; start += chunk) {
    check_cancelled();
    hidden = forward(cache, ids, positions, sources, start, std::min(total, start + chunk), media);
  }
  return hidden.narrow(0, hidden.size(0) - 1, 1);
}

at::Tensor Pipeline::forward(cache::KvCache& cache, std::span<const int32_t> ids, const at::Tensor& positions,
                             std::span<const qwen3vl::TokenSource> sources, int64_t from, int64_t to,
                             const MediaSet& media) const {
  const auto& model = decoder_->model;
  const int64_t total = to;
  const int64_t count = total - from;
  std::vector<int64_t> new_ids(ids.begin() + from, ids.begin() + to);
  at::Tensor embeds = model.embed(at::tensor(new_ids, at::kLong).to(device_));

  // Visual tokens of this forward: where they are among its tokens, and which rows of the image /
  // video token sequences they take (tokens before `from` took the rows before).
  int64_t images_before = 0, videos_before = 0;
  for (int64_t i = 0; i < from; ++i) {
    images_before += sources[i].modality == qwen3vl::Modality::Image;
    videos_before += sources[i].modality == qwen3vl::Modality::Video;
  }
  std::vector<int64_t> visual_at, image_joint, video_joint, image_at, video_at;
  for (int64_t i = from; i < total; ++i) {
    const auto modality = sources[i].modality;
    if (modality == qwen3vl::Modality::Text) continue;
    auto& joint = modality == qwen3vl::Modality::Image ? image_joint : video_joint;
    auto& at_token = modality == qwen3vl::Modality::Image ? image_at : video_at;
    joint.push_back(static_cast<int64_t>(visual_at.size()));
    at_token.push_back(i - from);
    visual_at.push_back(i - from);
  }

  cache::ForwardTokens tokens;
  tokens.info.reserve(count);
  for (int64_t i = from; i < total; ++i) {
    const qwen3vl::TokenSource& source = sources[i];
    tokens.info.push_back({.modality = cache_modality(source.modality),
                           .token_id = ids[i],
                           .media = source.media,
                           .t = source.t,
                           .row = source.row,
                           .col = source.col,
                           .time_s = static_cast<float>(source.time)});
  }
  const at::Tensor rows = positions.narrow(1, from, count).contiguous();
  if (visual_at.empty()) return model.forward(embeds, rows, tokens, cache);

  // HF scatters image and video embeddings into one sequence of visual tokens in prompt order,
  // DeepStack features alike (Qwen3VLModel.forward, visual_pos_masks).
  const int64_t hidden = embeds.size(1);
  const auto index = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(device_); };
  const auto joint_of = [&](auto get) {
    at::Tensor joint = at::zeros({static_cast<int64_t>(visual_at.size()), hidden}, embeds.options());
    if (!image_joint.empty())
      joint.index_copy_(0, index(image_joint),
                        token_rows(media.images, images_before, static_cast<int64_t>(image_joint.size()), get)
                            .to(embeds.scalar_type()));
    if (!video_joint.empty())
      joint.index_copy_(0, index(video_joint),
                        token_rows(media.videos, videos_before, static_cast<int64_t>(video_joint.size()), get)
                            .to(embeds.scalar_type()));
    return joint;
  };
  const at::Tensor visual_index = index(visual_at);
  embeds.index_copy_(0, visual_index, joint_of([](const EncodedMedia& m) -> const at::Tensor& { return m.embeds; }));

  qwen3vl::DeepstackInputs deepstack;
  deepstack.visual_mask = at::zeros({count}, at::kBool).to(device_);
  deepstack.visual_mask.index_fill_(0, visual_index, true);
  const size_t levels = vision_->config().deepstack_visual_indexes.size();
  for (size_t level = 0; level < levels; ++level)
    deepstack.features.push_back(
        joint_of([level](const EncodedMedia& m) -> const at::Tensor& { return m.deepstack[level]; }));
  return model.forward(embeds, rows, tokens, cache, &deepstack);
}

at::Tensor Pipeline::decode_step(cache::KvCache& cache, int32_t token, int64_t position) {
  return graph_->step(at::full({1}, int64_t{token}, at::kLong), position,
                      {.modality = cache::Modality::Generated, .token_id = token}, cache);
}

std::pair<SamplingParams, StopConditions> Pipeline::generation_for(const GenerationSettings& s) const {
  SamplingParams sampling = generation_.sampling;
  StopConditions stop = generation_.stop;
  if (s.temperature) {
    sampling.temperature = *s.temperature;
    sampling.do_sample = *s.temperature > 0;
  }
  if (s.top_k) sampling.top_k = *s.top_k;
  if (s.top_p) sampling.top_p = *s.top_p;
  if (s.min_p) sampling.min_p = *s.min_p;
  if (s.repetition_penalty) sampling.repetition_penalty = *s.repetition_penalty;
  if (s.seed) sampling.seed = *s.seed;
  stop.stop_strings.insert(stop.stop_strings.end(), s.stop.begin(), s.stop.end());
  if (s.max_new_tokens) stop.max_new_tokens = *s.max_new_tokens;
  if (!stop.max_new_tokens) stop.max_new_tokens = 512;
  // The model cannot place a token beyond its positions, whatever the file says.
  stop.max_length = std::min(stop.max_length.value_or(context_length()), context_length());
  sampling.validate();
  stop.validate();
  return {sampling, stop};
}

Reply Pipeline::ask(const Request& request, const PieceCallback& on_piece) {
  cancel_requested_.store(false);
  TRIMVL_CHECK_ARG(!request.messages.empty() && request.messages.back().role == Role::User,
                   "a request must end with a user message");
  if (!request.trace.empty()) {
    const auto dir = std::filesystem::absolute(request.trace).parent_path();
    if (!std::filesystem::is_directory(dir))
      throw Error("cannot write the trace: its directory does not exist", Error::Kind::NotFound)
          .file(request.trace.string());
  }
  const auto start = Clock::now();
  Reply reply;
  Stats& stats = reply.stats;
  auto [sampling, conditions] = generation_for(request.generation);

  MediaSet media = encode_media(request.messages, stats);
  check_cancelled();
  std::vector<Message> conversation = history_;
  conversation.insert(conversation.end(), request.messages.begin(), request.messages.end());
  MediaSet all_media;
  all_media.image_inputs = media_.image_inputs;
  all_media.video_inputs = media_.video_inputs;
  all_media.images = media_.images;
  all_media.videos = media_.videos;
  MediaSet turn_media = media;
  all_media.append(std::move(turn_media));

  const auto chat = to_chat(conversation);
  const std::string rendered = qwen3vl::render_chat(chat, chat_options_);
  const qwen3vl::Prompt prompt = qwen3vl::build_prompt(tokenizer_, rendered,
                                                       all_media.image_inputs, all_media.video_inputs, prompt_config_);
  const auto positions = qwen3vl::mrope_positions(prompt);
  const auto& ids = prompt.input_ids;
  const auto length = static_cast<int64_t>(ids.size());
  for (const auto& source : prompt.sources) {
    stats.text_tokens += source.modality == qwen3vl::Modality::Text;
    stats.image_tokens += source.modality == qwen3vl::Modality::Image;
    stats.video_tokens += source.modality == qwen3vl::Modality::Video;
  }
  stats.prompt_tokens = length;

  const bool reuse = cached_ids_.size() < ids.size() && std::equal(cached_ids_.begin(), cached_ids_.end(), ids.begin());
  if (!reuse) {
    cache_->reset();
    cached_ids_.clear();
  }
  const auto from = static_cast<int64_t>(cached_ids_.size());
  stats.prefilled_tokens = length - from;
  log::debug("prompt: {} tokens, {} cached", length, from);

  std::optional<TraceRecorder> recorder;
  if (!request.trace.empty())
    recorder.emplace(TraceHeader{snapshot_.requested, policy_->describe(), policy_->options(), cache_->num_layers(),
                                 static_cast<int>(cache_->lengths().size()) / cache_->num_layers(),
                                 decoder_->model.config().head_dim, dtype_name(dtype_), cache_->block_size()});
  const ObserverScope observing(*cache_, recorder ? &*recorder : nullptr);

  const at::Tensor hidden = prefill(*cache_, ids, positions.ids, prompt.sources, from, all_media);
  cached_ids_.insert(cached_ids_.end(), ids.begin() + from, ids.end());
  at::Tensor logits = decoder_->lm_head(hidden);

  Sampler sampler(sampling);
  sampler.observe(ids);
  StopCriteria stop(conditions, length);
  StreamDecoder stream = tokenizer_.stream_decoder(/*skip_special_tokens=*/true);
  std::vector<at::Tensor> step_logits;
  auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    reply.text += text;
    if (on_piece) on_piece(text);
  };
  Clock::time_point first_token;
  std::optional<StopReason> reason;
  while (true) {
    step_logits.push_back(logits.reshape({-1}).to(at::kFloat).cpu());
    const int32_t token = sampler.sample(logits);
    if (reply.tokens.empty()) {
      first_token = Clock::now();
      stats.ttft_s = std::chrono::duration<double>(first_token - start).count();
    }
    reply.tokens.push_back(token);
    StopStep step = stop.step(token, stream.step(token));
    emit(step.text);
    if (step.reason) {
      reason = step.reason;
      break;
    }
    check_cancelled();
    const int64_t index = cache_->seen_tokens();
    logits = decode_step(*cache_, token, index + positions.delta);
    cached_ids_.push_back(token);
  }
  if (*reason != StopReason::StopString) emit(stop.finish(stream.finish()));
  stats.decode_s = seconds_since(first_token);
  stats.generated_tokens = static_cast<int64_t>(reply.tokens.size());
  cache_stats(*cache_, stats);
  stats.stop_reason = std::string(stop_reason_name(*reason));
  if (recorder) {
    recorder->set_token_table(cache_->tokens());
    recorder->set_counters(cache_->counters());
    recorder->set_text(rendered, reply.text);
    recorder->write(request.trace);
  }

  history_ = std::move(conversation);
  history_.push_back({Role::Assistant, {Part::of_text(reply.text)}});
  media_.append(std::move(media));
  last_logits_ = at::stack(step_logits);
  last_tokens_ = reply.tokens;
  return reply;
}

Score Pipeline::score(const Request& request, std::string_view continuation) {
  cancel_requested_.store(false);
  TRIMVL_CHECK_ARG(!request.messages.empty() && request.messages.back().role == Role::User,
                   "a request must end with a user message");
  const auto continuation_ids = tokenizer_.encode(continuation);
  TRIMVL_CHECK_ARG(!continuation_ids.empty(), "the continuation to score is empty");
  const auto start = Clock::now();
  Score score;
  const MediaSet media = encode_media(request.messages, score.stats);
  check_cancelled();
  const qwen3vl::Prompt prompt =
      qwen3vl::build_prompt(tokenizer_, qwen3vl::render_chat(to_chat(request.messages), chat_options_),
                            media.image_inputs, media.video_inputs, prompt_config_);
  const auto positions = qwen3vl::mrope_positions(prompt);
  const auto length = static_cast<int64_t>(prompt.input_ids.size());
  const auto count = static_cast<int64_t>(continuation_ids.size());
  TRIMVL_CHECK_ARG(length + count <= context_length(),
                   "prompt ({} tokens) and continuation ({} tokens) exceed the model's context of {} tokens", length,
                   count, context_length());

  // The continuation follows the prompt as generated text would: one position per token after the
  // prompt's last (rope delta applied).
  std::vector<int32_t> ids = prompt.input_ids;
  ids.insert(ids.end(), continuation_ids.begin(), continuation_ids.end());
  std::vector<qwen3vl::TokenSource> sources = prompt.sources;
  sources.resize(ids.size());
  const at::Tensor tail = (at::arange(length, length + count, at::kLong) + positions.delta).expand({3, count});
  const at::Tensor all_positions = at::cat({positions.ids, tail}, 1);

  // The prompt goes through the cache as ask() would send it (evicting as the policy says), then the
  // continuation as one forward: its logits are what generation would have seen with teacher forcing.
  const auto cache = new_cache(policy_, prefill_chunk_);
  const std::span<const int32_t> all(ids);
  at::Tensor hidden = prefill(*cache, all.first(static_cast<size_t>(length)), all_positions, sources, 0, media);
  if (count > 1) hidden = at::cat({hidden, forward(*cache, all, all_positions, sources, length, length + count - 1, media)});
  const at::Tensor logits = decoder_->lm_head(hidden).to(at::kFloat).cpu();
  const at::Tensor logprobs = at::log_softmax(logits, -1);
  const auto* lp = logprobs.data_ptr<float>();
  const int64_t vocab = logprobs.size(1);
  for (int64_t i = 0; i < count; ++i) {
    const int32_t id = continuation_ids[i];
    const double value = lp[i * vocab + id];
    score.tokens.push_back({id, tokenizer_.decode(std::span<const int32_t>(&continuation_ids[i], 1)), value});
    score.total += value;
  }
  auto& stats = score.stats;
  stats.prompt_tokens = length;
  stats.prefilled_tokens = length + count;
  for (const auto& source : prompt.sources) {
    stats.text_tokens += source.modality == qwen3vl::Modality::Text;
    stats.image_tokens += source.modality == qwen3vl::Modality::Image;
    stats.video_tokens += source.modality == qwen3vl::Modality::Video;
  }
  stats.ttft_s = seconds_since(start);
  cache_stats(*cache, stats);
  last_logits_ = logits;
  last_tokens_ = continuation_ids;
  return score;
}

void Pipeline::dump_logits(const std::filesystem::path& path) const {
  TRIMVL_CHECK_ARG(last_logits_.defined(), "no logits to write: nothing has run yet");
  std::vector<int32_t> tokens = last_tokens_;
  io::save_safetensors(path, {{"logits", last_logits_.contiguous()},
                              {"tokens", at::tensor(tokens, at::kInt)}});
}

}  // namespace trimvl::app
