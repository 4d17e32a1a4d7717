#include "app/trace/trace_summary.h"

#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace trimvl::app {
namespace {

using nlohmann::json;

cache::ModalityCounts token_counts(const Trace& trace) {
  cache::ModalityCounts counts{};
  for (const cache::TokenInfo& t : trace.tokens) ++counts[static_cast<size_t>(t.modality)];
  return counts;
}

json by_modality(const cache::ModalityCounts& counts) {
  json out = json::object();
  for (size_t m = 0; m < cache::kModalities; ++m)
    out[std::string(cache::modality_name(static_cast<cache::Modality>(m)))] = counts[m];
  return out;
}

std::string mib(int64_t bytes) { return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1 << 20)); }

std::string budget_text(const Trace& trace) {
  const auto budget = retained_budget(trace.header);
  if (!budget) return "unbounded";
  return fmt::format("{} tokens (L·H_kv·M = {}·{}·{})", *budget, trace.header.num_layers, trace.header.num_kv_heads,
                     trace.header.policy.budget);
}

// One line of a possibly long text, for the header.
std::string excerpt(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > 100)
    line = line.substr(0, 97) + "...";
  else if (line.size() < text.size())
    line += " ...";
  return fmt::format("\"{}\"", line);
}

template <typename... Args>
void append_line(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  while (!out.empty() && out.back() == ' ') out.pop_back();  // centred headings pad the right
  out += '\n';
}

}  // namespace

EventTally tally_event(const Trace& trace, const TraceEvent& event) {
  EventTally tally;
  for (int64_t c = 0; c < event.candidates(); ++c) {
    const auto m = static_cast<size_t>(trace.tokens[static_cast<size_t>(event.position[c])].modality);
    ++(event.kept[c] ? tally.kept : tally.evicted)[m];
  }
  return tally;
}

std::string trace_summary_text(const Trace& trace, const std::filesystem::path& file) {
  const TraceHeader& h = trace.header;
  const cache::CacheCounters& c = trace.counters;
  const auto tokens = token_counts(trace);
  std::string out;
  append_line(out, "trace     {} (format {}, trimvl {}, created {})", file.string(), trace.format_version,
              trace.trimvl_version, trace.created);
  append_line(out, "model     {}", h.model);
  append_line(out, "policy    {}; budget {}", h.policy_description, budget_text(trace));
  append_line(out, "cache     {} layers x {} kv heads, head_dim {}, {}, blocks of {} tokens", h.num_layers,
              h.num_kv_heads, h.head_dim, h.dtype, h.block_size);
  append_line(out, "tokens    {} ({} text, {} image, {} video, {} generated)", trace.tokens.size(), tokens[0],
              tokens[1], tokens[2], tokens[3]);
  append_line(out, "run       {} forwards, {} evictions, {} steps recorded", c.forwards, trace.events.size(),
              trace.steps.size());
  append_line(out, "peak      {} cached tokens, {} KV; mean cache ratio {:.3f}", c.peak_cached_tokens,
              mib(c.peak_kv_bytes), c.mean_cache_ratio());
  if (!trace.prompt.empty()) append_line(out, "prompt    {}", excerpt(trace.prompt));
  if (!trace.answer.empty()) append_line(out, "answer    {}", excerpt(trace.answer));
  if (trace.events.empty()) {
    append_line(out, "\nno evictions: the cache held every token");
    return out;
  }
  out += '\n';
  append_line(out, "{:>5} {:>7} {:>7} {:>10} | {:^33} | {:^33}", "", "", "", "", "kept", "evicted");
  append_line(out, "{:>5} {:>7} {:>7} {:>10} | {:>7} {:>7} {:>7} {:>9} | {:>7} {:>7} {:>7} {:>9}", "event", "forward",
              "seen", "candidates", "text", "image", "video", "generated", "text", "image", "video", "generated");
  for (const TraceEvent& e : trace.events) {
    const EventTally t = tally_event(trace, e);
    append_line(out, "{:>5} {:>7} {:>7} {:>10} | {:>7} {:>7} {:>7} {:>9} | {:>7} {:>7} {:>7} {:>9}", e.index, e.forward,
                e.seen, e.candidates(), t.kept[0], t.kept[1], t.kept[2], t.kept[3], t.evicted[0], t.evicted[1],
                t.evicted[2], t.evicted[3]);
  }
  return out;
}

std::string trace_summary_json(const Trace& trace, const std::filesystem::path& file) {
  const TraceHeader& h = trace.header;
  const cache::CacheCounters& c = trace.counters;
  json events = json::array();
  for (const TraceEvent& e : trace.events) {
    const EventTally t = tally_event(trace, e);
    events.push_back({{"index", e.index},
                      {"forward", e.forward},
                      {"seen", e.seen},
                      {"candidates", e.candidates()},
                      {"kept", by_modality(t.kept)},
                      {"evicted", by_modality(t.evicted)}});
  }
  const auto budget = retained_budget(h);
  const json summary = {
      {"file", file.string()},
      {"format_version", trace.format_version},
      {"trimvl_version", trace.trimvl_version},
      {"created", trace.created},
      {"model", h.model},
      {"policy", {{"description", h.policy_description}, {"kind", cache::policy_name(h.policy.kind)}}},
      {"budget_tokens", budget ? json(*budget) : json(nullptr)},
      {"num_layers", h.num_layers},
      {"num_kv_heads", h.num_kv_heads},
      {"head_dim", h.head_dim},
      {"dtype", h.dtype},
      {"block_size", h.block_size},
      {"tokens", {{"total", trace.tokens.size()}, {"by_modality", by_modality(token_counts(trace))}}},
      {"forwards", c.forwards},
      {"steps", trace.steps.size()},
      {"peak_cached_tokens", c.peak_cached_tokens},
      {"peak_kv_bytes", c.peak_kv_bytes},
      {"mean_cache_ratio", c.mean_cache_ratio()},
      {"prompt", trace.prompt},
      {"answer", trace.answer},
      {"events", events}};
  return summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace trimvl::app
