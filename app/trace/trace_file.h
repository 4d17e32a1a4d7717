#pragma once
// Retention traces (DESIGN §3 step 6): what a bounded KV cache kept and evicted over one sequence,
// as one safetensors file (docs/trace-format.md is the full specification).
//
//   __metadata__ "trimvl.trace": JSON — format_version, model, policy (description + options),
//       shape (L, H_kv, head_dim, dtype, block size), prompt and answer text, the cache's
//       counters, creation time, trimvl version.
//   tokens.*  [N]   the token table, indexed by stream position: modality u8, token_id, media, t,
//                   row, col i32, time_s f32.
//   events.*        evictions: forward, seen, index i64 [E]; lengths_before/after i32 [E, L·H_kv];
//                   candidates concatenated (stream, position i32, score f32, kept u8 [C]) with
//                   offsets i64 [E + 1].
//   steps.*         per recorded forward: forward, seen, cached_tokens, kv_bytes i64 [S];
//                   cached_by_modality i64 [S, 4]; lengths i32 [S, L·H_kv]; optionally positions
//                   i32 (concatenated) with position_offsets i64 [S + 1].
//
// In memory a trace is plain host data (vectors, no tensors), so that renderers and front ends
// read it without touching the file format. Writing validates exactly as reading does: no file is
// written that read_trace would refuse.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "cache/observer.h"
#include "cache/policy.h"

namespace trimvl::app {

inline constexpr int kTraceFormatVersion = 1;
inline constexpr const char* kTraceMetadataKey = "trimvl.trace";

// What was run: fixed before the first forward.
struct TraceHeader {
  std::string model;               // the checkpoint as the user named it
  std::string policy_description;  // cache::Policy::describe()
  cache::PolicyOptions policy;
  int num_layers = 0, num_kv_heads = 0;
  int64_t head_dim = 0;
  std::string dtype;       // dtype_name() of the K/V storage: "bf16", ...
  int64_t block_size = 0;  // tokens per cache block

  int num_streams() const { return num_layers * num_kv_heads; }
};

// One eviction (cache::EvictionEvent, on the host). Candidates are stream-major, chronological
// inside a stream, as the cache packs them.
struct TraceEvent {
  int64_t index = 0;  // the cache's count of evictions (a recorder may keep every N-th only)
  int64_t forward = 0, seen = 0;
  std::vector<int32_t> lengths_before, lengths_after;  // [L·H_kv]
  std::vector<int32_t> stream, position;               // [C]
  std::vector<float> score;                            // [C]; +inf = forced keep
  std::vector<uint8_t> kept;                           // [C]: 0 or 1

  int64_t candidates() const { return static_cast<int64_t>(stream.size()); }
};

// One recorded forward (cache::StepRecord on the host).
struct TraceStep {
  int64_t forward = 0, seen = 0, cached_tokens = 0, kv_bytes = 0;
  cache::ModalityCounts cached_by_modality{};
  std::vector<int32_t> lengths;    // [L·H_kv]
  std::vector<int32_t> positions;  // [cached_tokens] stream-major, when Trace::step_positions
};

struct Trace {
  int format_version = kTraceFormatVersion;
  TraceHeader header;
  std::string prompt, answer;
  cache::CacheCounters counters;
  std::string created;  // UTC, ISO 8601
  std::string trimvl_version;
  std::vector<cache::TokenInfo> tokens;  // indexed by stream position
  std::vector<TraceEvent> events;
  std::vector<TraceStep> steps;
  bool step_positions = false;  // whether every step carries its positions
};

// The most tokens the policy retains between forwards, summed over (layer, kv-head): L·H_kv·M
// for the bounded policies (cache/policy.h, budget semantics), nullopt for full and for dbtrimkv's
// threshold strategy.
std::optional<int64_t> retained_budget(const TraceHeader& header);

// Throws InvalidInput naming `file` and the offending array (as Error::tensor) for any
// inconsistency: shapes, offsets, candidate streams and positions out of range, lengths that do not
// count the candidates, steps whose totals disagree, ...
void validate_trace(const Trace& trace, const std::filesystem::path& file);

// Validates, then writes atomically. `created` and `trimvl_version` are written as given.
void write_trace(const Trace& trace, const std::filesystem::path& path);

// NotFound for a missing file; InvalidInput naming the file (and array) for anything that is not a
// valid trace; Unsupported for a format version this build does not read.
Trace read_trace(const std::filesystem::path& path);

}  // namespace trimvl::app
