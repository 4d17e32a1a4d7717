#include "app/trace/trace_file.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <span>

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- validation ---------------------------------------------------------------------------------

class Checker {
 public:
  explicit Checker(const fs::path& file) : file_(file.string()) {}

  template <typename... Args>
  void operator()(bool ok, const char* array, fmt::format_string<Args...> format, Args&&... args) const {
    if (!ok) [[unlikely]]
      throw Error(fmt::format(format, std::forward<Args>(args)...)).file(file_).tensor(array);
  }

 private:
  std::string file_;
};

int64_t sum(std::span<const int32_t> values) { return std::accumulate(values.begin(), values.end(), int64_t{0}); }

void validate_event(const TraceEvent& e, size_t i, const Trace& trace, const Checker& check) {
  const int streams = trace.header.num_streams();
  const auto tokens = static_cast<int64_t>(trace.tokens.size());
  check(e.index >= 0 && (i == 0 || e.index > trace.events[i - 1].index), "events.index",
        "event {} has index {}{}: a trace holds one sequence's evictions, in the cache's increasing order", i, e.index,
        i == 0 ? std::string() : fmt::format(" after {}", trace.events[i - 1].index));
  check(e.seen > 0 && e.seen <= tokens, "events.seen",
        "event {} saw {} tokens; the token table has {} (tokens.modality)", i, e.seen, tokens);
  check(i == 0 || e.forward > trace.events[i - 1].forward, "events.forward",
        "event {} ran after forward {}, not after event {} (forward {}): one eviction per forward, in order", i,
        e.forward, i - 1, trace.events[i - 1].forward);
  check(e.forward >= 0, "events.forward", "event {}: forward {} is negative", i, e.forward);
  check(std::ssize(e.lengths_before) == streams, "events.lengths_before", "event {} has {} lengths for {} streams", i,
        e.lengths_before.size(), streams);
  check(std::ssize(e.lengths_after) == streams, "events.lengths_after", "event {} has {} lengths for {} streams", i,
        e.lengths_after.size(), streams);
  const int64_t n = e.candidates();
  check(std::ssize(e.position) == n && std::ssize(e.score) == n && std::ssize(e.kept) == n, "events.position",
        "event {}: {} streams, {} positions, {} scores, {} keep flags", i, n, e.position.size(), e.score.size(),
        e.kept.size());
  check(sum(e.lengths_before) == n, "events.lengths_before",
        "event {}: the lengths before add up to {}, but the event has {} candidates", i, sum(e.lengths_before), n);
  std::vector<int32_t> count(static_cast<size_t>(streams), 0), kept(static_cast<size_t>(streams), 0);
  for (int64_t c = 0; c < n; ++c) {
    const int32_t s = e.stream[c], p = e.position[c];
    check(s >= 0 && s < streams, "events.stream", "event {}, candidate {}: stream {} is not in [0, {})", i, c, s,
          streams);
    check(c == 0 || s >= e.stream[c - 1], "events.stream",
          "event {}, candidate {}: stream {} after stream {}; candidates are packed stream-major", i, c, s,
          e.stream[c - 1]);
    check(p >= 0 && p < e.seen, "events.position", "event {}, candidate {}: position {} is not in [0, {}) (seen)", i, c,
          p, e.seen);
    check(c == 0 || s != e.stream[c - 1] || p > e.position[c - 1], "events.position",
          "event {}, candidate {}: position {} follows {} in stream {}; a stream's candidates are chronological", i, c,
          p, e.position[c - 1], s);
    check(e.kept[c] <= 1, "events.kept", "event {}, candidate {}: keep flag {} is neither 0 nor 1", i, c, e.kept[c]);
    ++count[s];
    kept[s] += e.kept[c];
  }
  for (int s = 0; s < streams; ++s) {
    check(count[s] == e.lengths_before[s], "events.lengths_before",
          "event {}, stream {}: length before {} but {} candidates", i, s, e.lengths_before[s], count[s]);
    check(kept[s] == e.lengths_after[s], "events.lengths_after", "event {}, stream {}: length after {} but {} kept", i,
          s, e.lengths_after[s], kept[s]);
  }
}

void validate_step(const TraceStep& step, size_t i, const Trace& trace, const Checker& check) {
  const int streams = trace.header.num_streams();
  const auto tokens = static_cast<int64_t>(trace.tokens.size());
  check(step.forward >= 0 && (i == 0 || step.forward > trace.steps[i - 1].forward), "steps.forward",
        "step {}: forward {} does not follow the previous step's", i, step.forward);
  check(step.seen >= 0 && step.seen <= tokens, "steps.seen", "step {} saw {} tokens; the token table has {}", i,
        step.seen, tokens);
  check(std::ssize(step.lengths) == streams, "steps.lengths", "step {} has {} lengths for {} streams", i,
        step.lengths.size(), streams);
  for (int s = 0; s < streams; ++s)
    check(step.lengths[s] >= 0 && step.lengths[s] <= step.seen, "steps.lengths",
          "step {}, stream {}: length {} is not in [0, {}] (seen)", i, s, step.lengths[s], step.seen);
  check(sum(step.lengths) == step.cached_tokens, "steps.cached_tokens",
        "step {}: {} cached tokens, but the stream lengths add up to {}", i, step.cached_tokens, sum(step.lengths));
  const int64_t by_modality =
      std::accumulate(step.cached_by_modality.begin(), step.cached_by_modality.end(), int64_t{0});
  check(by_modality == step.cached_tokens &&
            std::ranges::all_of(step.cached_by_modality, [](int64_t c) { return c >= 0; }),
        "steps.cached_by_modality", "step {}: counts by modality {} do not add up to {} cached tokens", i,
        step.cached_by_modality, step.cached_tokens);
  check(step.kv_bytes >= 0, "steps.kv_bytes", "step {}: {} bytes", i, step.kv_bytes);
  if (!trace.step_positions) {
    check(step.positions.empty(), "steps.positions", "step {} has positions, but the trace records none", i);
    return;
  }
  check(std::ssize(step.positions) == step.cached_tokens, "steps.positions",
        "step {}: {} positions for {} cached tokens", i, step.positions.size(), step.cached_tokens);
  for (int32_t p : step.positions)
    check(p >= 0 && p < step.seen, "steps.positions", "step {}: position {} is not in [0, {}) (seen)", i, p, step.seen);
}

// ---- metadata -----------------------------------------------------------------------------------

json policy_json(const TraceHeader& h) {
  const cache::PolicyOptions& o = h.policy;
  return {{"description", h.policy_description},
          {"kind", cache::policy_name(o.kind)},
          {"budget", o.budget},
          {"buffer", o.buffer},
          {"strategy", cache::strategy_name(o.strategy)},
          {"alpha", o.alpha},
          {"min_per_head", o.min_per_head},
          {"lookahead", o.lookahead},
          {"window", o.window},
          {"sinks", o.sinks},
          {"pool_kernel", o.pool_kernel}};
}

json metadata_json(const Trace& t) {
  const cache::CacheCounters& c = t.counters;
  return {{"format_version", t.format_version},
          {"created", t.created},
          {"trimvl_version", t.trimvl_version},
          {"model", t.header.model},
          {"policy", policy_json(t.header)},
          {"num_layers", t.header.num_layers},
          {"num_kv_heads", t.header.num_kv_heads},
          {"head_dim", t.header.head_dim},
          {"dtype", t.header.dtype},
          {"block_size", t.header.block_size},
          {"prompt", t.prompt},
          {"answer", t.answer},
          {"counters",
           {{"forwards", c.forwards},
            {"evictions", c.evictions},
            {"cached_tokens", c.cached_tokens},
            {"peak_cached_tokens", c.peak_cached_tokens},
            {"kv_bytes", c.kv_bytes},
            {"peak_kv_bytes", c.peak_kv_bytes},
            {"cache_ratio_sum", c.cache_ratio_sum},
            {"mean_cache_ratio", c.mean_cache_ratio()}}},
          {"step_positions", t.step_positions}};
}

// Rethrows a parse error of a named value (policy kind, strategy, options) with the file and key.
template <typename F>
auto with_key(const ConfigObject& object, std::string_view key, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw object.error(key, e.message());
  }
}

ConfigObject required_object(const ConfigObject& parent, std::string_view key) {
  std::optional<ConfigObject> object = parent.object(key);
  if (!object) throw Error(fmt::format("missing key '{}'", parent.key_path(key))).file(parent.file());
  return *object;
}

void read_metadata(const json& meta, const fs::path& path, Trace& t) {
  const ConfigObject root(meta, path.string(), kTraceMetadataKey);
  t.format_version = static_cast<int>(root.integer("format_version"));
  if (t.format_version != kTraceFormatVersion)
    throw Error(fmt::format("trace format version {}; this build of trimvl reads version {}", t.format_version,
                            kTraceFormatVersion),
                Error::Kind::Unsupported)
        .file(path.string());
  t.created = root.string("created");
  t.trimvl_version = root.string("trimvl_version");
  TraceHeader& h = t.header;
  h.model = root.string("model");
  h.num_layers = static_cast<int>(root.integer("num_layers"));
  h.num_kv_heads = static_cast<int>(root.integer("num_kv_heads"));
  h.head_dim = root.integer("head_dim");
  h.block_size = root.integer("block_size");
  for (const char* key : {"num_layers", "num_kv_heads", "head_dim", "block_size"})
    root.require_positive(key, root.integer(key));
  if (root.integer("num_layers") * root.integer("num_kv_heads") > (int64_t{1} << 24))
    throw root.error("num_kv_heads", "more than 2^24 streams (num_layers x num_kv_heads)");
  h.dtype = root.string("dtype");

  const ConfigObject policy = required_object(root, "policy");
  h.policy_description = policy.string("description");
  cache::PolicyOptions& o = h.policy;
  o.kind = with_key(policy, "kind", [&] { return cache::parse_policy(policy.string("kind")); });
  o.strategy = with_key(policy, "strategy", [&] { return cache::parse_strategy(policy.string("strategy")); });
  o.budget = policy.integer("budget");
  o.buffer = policy.integer("buffer");
  o.alpha = policy.number("alpha");
  o.min_per_head = policy.integer("min_per_head");
  o.lookahead = policy.integer("lookahead");
  o.window = policy.integer("window");
  o.sinks = policy.integer("sinks");
  o.pool_kernel = policy.integer("pool_kernel");
  with_key(policy, "", [&] { o.validate(); });

  t.prompt = root.string("prompt");
  t.answer = root.string("answer");
  const ConfigObject counters = required_object(root, "counters");
  cache::CacheCounters& c = t.counters;
  c.forwards = counters.integer("forwards");
  c.evictions = counters.integer("evictions");
  c.cached_tokens = counters.integer("cached_tokens");
  c.peak_cached_tokens = counters.integer("peak_cached_tokens");
  c.kv_bytes = counters.integer("kv_bytes");
  c.peak_kv_bytes = counters.integer("peak_kv_bytes");
  c.cache_ratio_sum = counters.number("cache_ratio_sum");
  t.step_positions = root.boolean("step_positions", false);
}

// ---- arrays -------------------------------------------------------------------------------------

template <typename T>
constexpr c10::ScalarType scalar_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>)
    return c10::kByte;
  else if constexpr (std::is_same_v<T, int32_t>)
    return c10::kInt;
  else if constexpr (std::is_same_v<T, int64_t>)
    return c10::kLong;
  else
    return c10::kFloat;
}

// Columns to write: non-owning views (save_safetensors copies them out before returning).
class ArrayWriter {
 public:
  template <typename T>
  void add(std::string name, const std::vector<T>& values, std::vector<int64_t> shape) {
    auto* data = const_cast<T*>(values.data());
    arrays_.emplace_back(std::move(name), at::from_blob(data, shape, at::TensorOptions().dtype(scalar_type_of<T>())));
  }
  const std::vector<std::pair<std::string, at::Tensor>>& arrays() const { return arrays_; }

 private:
  std::vector<std::pair<std::string, at::Tensor>> arrays_;
};

// Reads arrays by name, each checked for presence, dtype and shape; remembers what it read so that
// the file's leftovers can be refused.
class ArrayReader {
 public:
  ArrayReader(const io::SafetensorsFile& file) : file_(file) {}

  // A dimension of -1 accepts any size; the actual shape is returned through `shape`.
  template <typename T>
  std::vector<T> read(const std::string& name, std::vector<int64_t> expected, std::vector<int64_t>* shape = nullptr) {
    const io::TensorInfo* info = file_.find(name);
    if (!info) throw fail(name, "missing array");
    used_.insert(name);
    const c10::ScalarType type = scalar_type_of<T>();
    if (info->scalar_type != type)
      throw fail(name, fmt::format("dtype {}, expected {}", info->dtype, io::safetensors_dtype_code(type)));
    bool ok = info->shape.size() == expected.size();
    for (size_t d = 0; ok && d < expected.size(); ++d) ok = expected[d] < 0 || expected[d] == info->shape[d];
    if (!ok) {
      std::vector<std::string> dims;
      for (int64_t d : expected) dims.push_back(d < 0 ? "*" : std::to_string(d));
      throw fail(name, fmt::format("shape [{}], expected [{}]", fmt::join(info->shape, ", "), fmt::join(dims, ", ")));
    }
    if (shape) *shape = info->shape;
    const auto bytes = file_.bytes(name);
    std::vector<T> values(bytes.size() / sizeof(T));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
  }

  bool contains(const std::string& name) const { return file_.find(name) != nullptr; }

  void refuse_leftovers() const {
    for (const auto& info : file_.tensors())
      if (!used_.contains(info.name)) throw fail(info.name, "unexpected array in a trace");
  }

  Error fail(const std::string& name, std::string message) const {
    Error e(std::move(message));
    e.file(file_.path().string()).tensor(name);
    return e;
  }

 private:
  const io::SafetensorsFile& file_;
  std::set<std::string> used_;
};

// Splits the concatenation `all` at `offsets` (validated against it first).
template <typename T>
std::vector<std::vector<T>> split(const std::vector<T>& all, const std::vector<int64_t>& offsets, const ArrayReader& r,
                                  const std::string& offsets_name) {
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != std::ssize(all))
    throw r.fail(offsets_name,
                 fmt::format("offsets must run from 0 to {} (the concatenated length), got {} .. {}", all.size(),
                             offsets.empty() ? 0 : offsets.front(), offsets.empty() ? 0 : offsets.back()));
  std::vector<std::vector<T>> parts;
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    if (offsets[i + 1] < offsets[i] || offsets[i + 1] > std::ssize(all))
      throw r.fail(offsets_name, fmt::format("offset {} ({}) is not in [{}, {}]: offsets must not decrease", i + 1,
                                             offsets[i + 1], offsets[i], all.size()));
    parts.emplace_back(all.begin() + offsets[i], all.begin() + offsets[i + 1]);
  }
  return parts;
}

// Row i of a row-major [rows, cols] array.
template <typename T>
std::vector<T> row(const std::vector<T>& all, size_t i, size_t cols) {
  return {all.begin() + static_cast<std::ptrdiff_t>(i * cols),
          all.begin() + static_cast<std::ptrdiff_t>((i + 1) * cols)};
}

template <typename T>
void concat(std::vector<T>& out, const std::vector<T>& part) {
  out.insert(out.end(), part.begin(), part.end());
}

}  // namespace

std::optional<int64_t> retained_budget(const TraceHeader& header) {
  if (!header.policy.needs_budget()) return std::nullopt;  // full, or a threshold: no fixed budget
  return int64_t{header.num_streams()} * header.policy.budget;
}

void validate_trace(const Trace& trace, const fs::path& file) {
  const Checker check(file);
  if (trace.format_version != kTraceFormatVersion)
    throw Error(fmt::format("trace format version {}; this build of trimvl reads version {}", trace.format_version,
                            kTraceFormatVersion),
                Error::Kind::Unsupported)
        .file(file.string());
  const TraceHeader& h = trace.header;
  check(h.num_layers > 0 && h.num_kv_heads > 0 && h.head_dim > 0 && h.block_size > 0, "",
        "num_layers, num_kv_heads, head_dim and block_size must be positive, got {}, {}, {}, {}", h.num_layers,
        h.num_kv_heads, h.head_dim, h.block_size);
  for (size_t i = 0; i < trace.tokens.size(); ++i)
    check(static_cast<size_t>(trace.tokens[i].modality) < cache::kModalities, "tokens.modality",
          "token {}: modality {} is not one of 0 (text), 1 (image), 2 (video), 3 (generated)", i,
          static_cast<int>(trace.tokens[i].modality));
  for (size_t i = 0; i < trace.events.size(); ++i) validate_event(trace.events[i], i, trace, check);
  for (size_t i = 0; i < trace.steps.size(); ++i) validate_step(trace.steps[i], i, trace, check);
}

void write_trace(const Trace& trace, const fs::path& path) {
  validate_trace(trace, path);
  const auto n = static_cast<int64_t>(trace.tokens.size());
  const auto streams = int64_t{trace.header.num_streams()};
  ArrayWriter w;

  std::vector<uint8_t> modality;
  std::vector<int32_t> token_id, media, t, row_, col;
  std::vector<float> time_s;
  for (const cache::TokenInfo& info : trace.tokens) {
    modality.push_back(static_cast<uint8_t>(info.modality));
    token_id.push_back(info.token_id);
    media.push_back(info.media);
    t.push_back(info.t);
    row_.push_back(info.row);
    col.push_back(info.col);
    time_s.push_back(info.time_s);
  }
  w.add("tokens.modality", modality, {n});
  w.add("tokens.token_id", token_id, {n});
  w.add("tokens.media", media, {n});
  w.add("tokens.t", t, {n});
  w.add("tokens.row", row_, {n});
  w.add("tokens.col", col, {n});
  w.add("tokens.time_s", time_s, {n});

  const auto events = static_cast<int64_t>(trace.events.size());
  std::vector<int64_t> forward, seen, index, offsets{0};
  std::vector<int32_t> before, after, stream, position;
  std::vector<float> score;
  std::vector<uint8_t> kept;
  for (const TraceEvent& e : trace.events) {
    forward.push_back(e.forward);
    seen.push_back(e.seen);
    index.push_back(e.index);
    concat(before, e.lengths_before);
    concat(after, e.lengths_after);
    concat(stream, e.stream);
    concat(position, e.position);
    concat(score, e.score);
    concat(kept, e.kept);
    offsets.push_back(static_cast<int64_t>(stream.size()));
  }
  const auto candidates = static_cast<int64_t>(stream.size());
  w.add("events.forward", forward, {events});
  w.add("events.seen", seen, {events});
  w.add("events.index", index, {events});
  w.add("events.offsets", offsets, {events + 1});
  w.add("events.lengths_before", before, {events, streams});
  w.add("events.lengths_after", after, {events, streams});
  w.add("events.stream", stream, {candidates});
  w.add("events.position", position, {candidates});
  w.add("events.score", score, {candidates});
  w.add("events.kept", kept, {candidates});

  const auto steps = static_cast<int64_t>(trace.steps.size());
  std::vector<int64_t> step_forward, step_seen, cached, kv_bytes, by_modality, position_offsets{0};
  std::vector<int32_t> lengths, positions;
  for (const TraceStep& s : trace.steps) {
    step_forward.push_back(s.forward);
    step_seen.push_back(s.seen);
    cached.push_back(s.cached_tokens);
    kv_bytes.push_back(s.kv_bytes);
    by_modality.insert(by_modality.end(), s.cached_by_modality.begin(), s.cached_by_modality.end());
    concat(lengths, s.lengths);
    concat(positions, s.positions);
    position_offsets.push_back(static_cast<int64_t>(positions.size()));
  }
  w.add("steps.forward", step_forward, {steps});
  w.add("steps.seen", step_seen, {steps});
  w.add("steps.cached_tokens", cached, {steps});
  w.add("steps.kv_bytes", kv_bytes, {steps});
  w.add("steps.cached_by_modality", by_modality, {steps, static_cast<int64_t>(cache::kModalities)});
  w.add("steps.lengths", lengths, {steps, streams});
  if (trace.step_positions) {
    w.add("steps.positions", positions, {static_cast<int64_t>(positions.size())});
    w.add("steps.position_offsets", position_offsets, {steps + 1});
  }

  // Text that is not UTF-8 (a prompt cut mid-character) is replaced, not refused: the trace of a
  // run is worth more than its exact bytes.
  const std::string meta = metadata_json(trace).dump(-1, ' ', false, json::error_handler_t::replace);
  io::save_safetensors(path, w.arrays(), {{kTraceMetadataKey, meta}});
}

Trace read_trace(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("no such trace file", Error::Kind::NotFound).file(path.string());
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  const auto it = file.metadata().find(kTraceMetadataKey);
  if (it == file.metadata().end())
    throw Error(fmt::format("not a trimvl trace: a safetensors file without '{}' metadata", kTraceMetadataKey))
        .file(path.string());
  json meta;
  try {
    meta = json::parse(it->second);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("the '{}' metadata is not valid JSON: {}", kTraceMetadataKey, e.what()))
        .file(path.string());
  }
  Trace trace;
  read_metadata(meta, path, trace);
  const int64_t streams = trace.header.num_streams();

  ArrayReader r(file);
  std::vector<int64_t> shape;
  const auto modality = r.read<uint8_t>("tokens.modality", {-1}, &shape);
  const int64_t n = shape[0];
  const auto token_id = r.read<int32_t>("tokens.token_id", {n});
  const auto media = r.read<int32_t>("tokens.media", {n});
  const auto t = r.read<int32_t>("tokens.t", {n});
  const auto row_ = r.read<int32_t>("tokens.row", {n});
  const auto col = r.read<int32_t>("tokens.col", {n});
  const auto time_s = r.read<float>("tokens.time_s", {n});
  trace.tokens.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < trace.tokens.size(); ++i)
    trace.tokens[i] = cache::TokenInfo{.modality = static_cast<cache::Modality>(modality[i]),
                                       .token_id = token_id[i],
                                       .media = media[i],
                                       .t = t[i],
                                       .row = row_[i],
                                       .col = col[i],
                                       .time_s = time_s[i]};

  const auto forward = r.read<int64_t>("events.forward", {-1}, &shape);
  const int64_t events = shape[0];
  const auto seen = r.read<int64_t>("events.seen", {events});
  const auto index = r.read<int64_t>("events.index", {events});
  const auto offsets = r.read<int64_t>("events.offsets", {events + 1});
  const auto before = r.read<int32_t>("events.lengths_before", {events, streams});
  const auto after = r.read<int32_t>("events.lengths_after", {events, streams});
  const auto stream = r.read<int32_t>("events.stream", {-1}, &shape);
  const int64_t candidates = shape[0];
  const auto position = r.read<int32_t>("events.position", {candidates});
  const auto score = r.read<float>("events.score", {candidates});
  const auto kept = r.read<uint8_t>("events.kept", {candidates});
  const auto streams_of = split(stream, offsets, r, "events.offsets");
  const auto positions_of = split(position, offsets, r, "events.offsets");
  const auto scores_of = split(score, offsets, r, "events.offsets");
  const auto kept_of = split(kept, offsets, r, "events.offsets");
  for (size_t i = 0; i < static_cast<size_t>(events); ++i)
    trace.events.push_back(TraceEvent{.index = index[i],
                                      .forward = forward[i],
                                      .seen = seen[i],
                                      .lengths_before = row(before, i, static_cast<size_t>(streams)),
                                      .lengths_after = row(after, i, static_cast<size_t>(streams)),
                                      .stream = streams_of[i],
                                      .position = positions_of[i],
                                      .score = scores_of[i],
                                      .kept = kept_of[i]});

  const auto step_forward = r.read<int64_t>("steps.forward", {-1}, &shape);
  const int64_t steps = shape[0];
  const auto step_seen = r.read<int64_t>("steps.seen", {steps});
  const auto cached = r.read<int64_t>("steps.cached_tokens", {steps});
  const auto kv_bytes = r.read<int64_t>("steps.kv_bytes", {steps});
  const auto by_modality =
      r.read<int64_t>("steps.cached_by_modality", {steps, static_cast<int64_t>(cache::kModalities)});
  const auto lengths = r.read<int32_t>("steps.lengths", {steps, streams});
  std::vector<std::vector<int32_t>> step_positions(static_cast<size_t>(steps));
  if (trace.step_positions) {
    const auto all = r.read<int32_t>("steps.positions", {-1});
    step_positions = split(all, r.read<int64_t>("steps.position_offsets", {steps + 1}), r, "steps.position_offsets");
  }
  for (size_t i = 0; i < static_cast<size_t>(steps); ++i) {
    TraceStep s{.forward = step_forward[i],
                .seen = step_seen[i],
                .cached_tokens = cached[i],
                .kv_bytes = kv_bytes[i],
                .lengths = row(lengths, i, static_cast<size_t>(streams)),
                .positions = std::move(step_positions[i])};
    std::copy_n(by_modality.begin() + static_cast<std::ptrdiff_t>(i * cache::kModalities), cache::kModalities,
                s.cached_by_modality.begin());
    trace.steps.push_back(std::move(s));
  }
  r.refuse_leftovers();
  validate_trace(trace, path);
  return trace;
}

}  // namespace trimvl::app
