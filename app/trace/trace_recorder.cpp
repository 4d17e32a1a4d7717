#include "app/trace/trace_recorder.h"

#include <chrono>
#include <limits>
#include <span>

#include <ATen/ATen.h>
#include <fmt/chrono.h>

#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace {

// Lengths, streams and positions are stored in 32 bits: a stream position fits.
std::vector<int32_t> narrow(std::span<const int64_t> values, const char* what) {
  std::vector<int32_t> out;
  out.reserve(values.size());
  for (int64_t v : values) {
    TRIMVL_CHECK(v >= 0 && v <= std::numeric_limits<int32_t>::max(), "cache record '{}' holds {}", what, v);
    out.push_back(static_cast<int32_t>(v));
  }
  return out;
}

// A one-dimensional record tensor on the host as a vector of T (undefined: empty).
template <typename T>
std::vector<T> host_vector(const at::Tensor& tensor, c10::ScalarType type, const char* what) {
  if (!tensor.defined()) return {};
  TRIMVL_CHECK(tensor.dim() == 1, "cache record '{}' must be one-dimensional, got {} dimensions", what, tensor.dim());
  const at::Tensor host = tensor.to(at::kCPU, type).contiguous();
  const T* data = host.const_data_ptr<T>();
  return {data, data + host.numel()};
}

std::vector<int32_t> host_indices(const at::Tensor& tensor, const char* what) {
  return narrow(host_vector<int64_t>(tensor, c10::kLong, what), what);
}

}  // namespace

TraceRecorder::TraceRecorder(TraceHeader header, TraceRecorderOptions options) : options_(options) {
  TRIMVL_CHECK_ARG(options.step_stride >= 0, "trace step stride must not be negative, got {}", options.step_stride);
  TRIMVL_CHECK_ARG(options.event_stride >= 1, "trace event stride must be at least 1, got {}", options.event_stride);
  trace_.header = std::move(header);
  trace_.step_positions = options.step_positions;
}

void TraceRecorder::on_eviction(const cache::EvictionEvent& event) {
  if (event.index % options_.event_stride != 0) return;
  TRIMVL_CHECK(event.num_layers == trace_.header.num_layers && event.num_kv_heads == trace_.header.num_kv_heads,
               "eviction event of {} layers x {} kv heads recorded into a trace of {} x {}", event.num_layers,
               event.num_kv_heads, trace_.header.num_layers, trace_.header.num_kv_heads);
  trace_.events.push_back(TraceEvent{.index = event.index,
                                     .forward = event.forward,
                                     .seen = event.seen,
                                     .lengths_before = narrow(event.lengths_before, "lengths_before"),
                                     .lengths_after = narrow(event.lengths_after, "lengths_after"),
                                     .stream = host_indices(event.stream, "stream"),
                                     .position = host_indices(event.position, "position"),
                                     .score = host_vector<float>(event.score, c10::kFloat, "score"),
                                     .kept = host_vector<uint8_t>(event.kept, c10::kByte, "kept")});
}

void TraceRecorder::on_step(const cache::StepRecord& step) {
  trace_.steps.push_back(TraceStep{
      .forward = step.forward,
      .seen = step.seen,
      .cached_tokens = step.cached_tokens,
      .kv_bytes = step.kv_bytes,
      .cached_by_modality = step.cached_by_modality,
      .lengths = narrow(step.lengths, "lengths"),
      .positions = options_.step_positions ? host_indices(step.positions, "positions") : std::vector<int32_t>{}});
}

void TraceRecorder::set_token_table(std::vector<cache::TokenInfo> tokens) { trace_.tokens = std::move(tokens); }

void TraceRecorder::set_text(std::string prompt, std::string answer) {
  trace_.prompt = std::move(prompt);
  trace_.answer = std::move(answer);
}

void TraceRecorder::set_counters(const cache::CacheCounters& counters) { trace_.counters = counters; }

void TraceRecorder::write(const std::filesystem::path& path) {
  trace_.created =
      fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  trace_.trimvl_version = TRIMVL_VERSION;
  write_trace(trace_, path);
}

}  // namespace trimvl::app
