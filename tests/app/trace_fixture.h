#pragma once
// A small trace made the way the cache makes one: a TraceRecorder fed the records of a simulated
// DBTrimKV run (2 layers x 2 kv heads, 300 tokens: 20 text, a 10x20 image, 40 text, 40 generated;
// prefill in two chunks, then decode; three evictions to a global budget of 4·M).
#include "app/trace/trace_file.h"

namespace trimvl::test {

inline constexpr int64_t kImageBegin = 20, kImageEnd = 220, kGeneratedBegin = 260, kTraceTokens = 300;

app::Trace synthetic_trace();

}  // namespace trimvl::test
