#pragma once
// What `trimvl trace FILE` prints: a trace's header, counters and, per eviction, what was kept and
// evicted by modality (computed from the candidates and the token table, not stored twice).
#include <filesystem>
#include <string>

#include "app/trace/trace_file.h"
#include "cache/observer.h"

namespace trimvl::app {

struct EventTally {
  cache::ModalityCounts kept{}, evicted{};
};
EventTally tally_event(const Trace& trace, const TraceEvent& event);

std::string trace_summary_text(const Trace& trace, const std::filesystem::path& file);
std::string trace_summary_json(const Trace& trace, const std::filesystem::path& file);

}  // namespace trimvl::app
