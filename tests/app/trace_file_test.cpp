// Retention traces: the recorder's file read back exactly, the summary computed from it, and a
// corpus of broken traces, each refused with one error naming the file and the array or key.
#include "app/trace/trace_file.h"

#include <functional>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "app/trace/trace_recorder.h"
#include "app/trace/trace_summary.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/app/trace_fixture.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool same_token(const cache::TokenInfo& a, const cache::TokenInfo& b) {
  return a.modality == b.modality && a.token_id == b.token_id && a.media == b.media && a.t == b.t && a.row == b.row &&
         a.col == b.col && a.time_s == b.time_s;
}

void expect_same(const Trace& a, const Trace& b) {
  EXPECT_EQ(a.header.model, b.header.model);
  EXPECT_EQ(a.header.policy_description, b.header.policy_description);
  EXPECT_EQ(a.header.policy.kind, b.header.policy.kind);
  EXPECT_EQ(a.header.policy.budget, b.header.policy.budget);
  EXPECT_EQ(a.header.policy.buffer, b.header.policy.buffer);
  EXPECT_EQ(a.header.policy.alpha, b.header.policy.alpha);
  EXPECT_EQ(a.header.num_layers, b.header.num_layers);
  EXPECT_EQ(a.header.num_kv_heads, b.header.num_kv_heads);
  EXPECT_EQ(a.header.head_dim, b.header.head_dim);
  EXPECT_EQ(a.header.dtype, b.header.dtype);
  EXPECT_EQ(a.header.block_size, b.header.block_size);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.answer, b.answer);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.trimvl_version, b.trimvl_version);
  EXPECT_EQ(a.counters.forwards, b.counters.forwards);
  EXPECT_EQ(a.counters.peak_cached_tokens, b.counters.peak_cached_tokens);
  EXPECT_EQ(a.counters.peak_kv_bytes, b.counters.peak_kv_bytes);
  EXPECT_EQ(a.counters.cache_ratio_sum, b.counters.cache_ratio_sum);
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) EXPECT_TRUE(same_token(a.tokens[i], b.tokens[i])) << "token " << i;
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    const TraceEvent &x = a.events[i], &y = b.events[i];
    EXPECT_EQ(x.index, y.index);
    EXPECT_EQ(x.forward, y.forward);
    EXPECT_EQ(x.seen, y.seen);
    EXPECT_EQ(x.lengths_before, y.lengths_before);
    EXPECT_EQ(x.lengths_after, y.lengths_after);
    EXPECT_EQ(x.stream, y.stream);
    EXPECT_EQ(x.position, y.position);
    EXPECT_EQ(x.score, y.score);
    EXPECT_EQ(x.kept, y.kept);
  }
  ASSERT_EQ(a.steps.size(), b.steps.size());
  EXPECT_EQ(a.step_positions, b.step_positions);
  for (size_t i = 0; i < a.steps.size(); ++i) {
    EXPECT_EQ(a.steps[i].forward, b.steps[i].forward);
    EXPECT_EQ(a.steps[i].seen, b.steps[i].seen);
    EXPECT_EQ(a.steps[i].cached_tokens, b.steps[i].cached_tokens);
    EXPECT_EQ(a.steps[i].kv_bytes, b.steps[i].kv_bytes);
    EXPECT_EQ(a.steps[i].cached_by_modality, b.steps[i].cached_by_modality);
    EXPECT_EQ(a.steps[i].lengths, b.steps[i].lengths);
    EXPECT_EQ(a.steps[i].positions, b.steps[i].positions);
  }
}

TEST(TraceFile, RoundTripsEveryField) {
  test::TempDir tmp;
  const Trace trace = test::synthetic_trace();
  ASSERT_EQ(trace.events.size(), 3u);
  write_trace(trace, tmp / "run.trace");
  expect_same(read_trace(tmp / "run.trace"), trace);
}

TEST(TraceFile, RoundTripsStepPositionsAndEmptyRuns) {
  test::TempDir tmp;
  Trace trace = test::synthetic_trace();
  // The first forward evicts nothing: every stream holds every token so far.
  trace.step_positions = true;
  trace.steps.resize(1);
  TraceStep& step = trace.steps[0];
  for (int s = 0; s < trace.header.num_streams(); ++s)
    for (int32_t p = 0; p < step.seen; ++p) step.positions.push_back(p);
  write_trace(trace, tmp / "positions.trace");
  expect_same(read_trace(tmp / "positions.trace"), trace);

  // A full-cache run: no events, no steps.
  Trace empty = test::synthetic_trace();
  empty.header.policy = {};
  empty.header.policy_description = "full";
  empty.events.clear();
  empty.steps.clear();
  write_trace(empty, tmp / "full.trace");
  expect_same(read_trace(tmp / "full.trace"), empty);
  EXPECT_FALSE(retained_budget(empty.header));
}

// Replays a trace's evictions into a recorder as the cache reports them (tensors, int64 indices).
void replay_events(const Trace& made, TraceRecorder& recorder) {
  for (const TraceEvent& e : made.events) {
    cache::EvictionEvent event;
    event.index = e.index;
    event.forward = e.forward;
    event.seen = e.seen;
    event.num_layers = event.num_kv_heads = 2;
    event.lengths_before.assign(e.lengths_before.begin(), e.lengths_before.end());
    event.lengths_after.assign(e.lengths_after.begin(), e.lengths_after.end());
    event.stream = at::tensor(std::vector<int32_t>(e.stream), at::kInt).to(at::kLong);
    event.position = at::tensor(std::vector<int32_t>(e.position), at::kInt).to(at::kLong);
    event.score = at::tensor(std::vector<float>(e.score), at::kFloat);
    event.kept = at::tensor(std::vector<int32_t>(e.kept.begin(), e.kept.end()), at::kInt).to(at::kBool);
    recorder.on_eviction(event);
  }
}

TEST(TraceFile, RecorderStampsVersionAndTimeAndWritesNothingInvalid) {
  test::TempDir tmp;
  const Trace made = test::synthetic_trace();
  TraceRecorder recorder(made.header);
  replay_events(made, recorder);
  // Without the token table the events' positions point nowhere: refused, and no file appears.
  try {
    recorder.write(tmp / "bad.trace");
    FAIL() << "a trace without its token table was written";
  } catch (const Error& e) {
    EXPECT_EQ(e.tensor(), "events.seen") << e.what();
    EXPECT_EQ(e.file(), (tmp / "bad.trace").string());
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));

  recorder.set_token_table(made.tokens);
  recorder.write(tmp / "run.trace");
  const Trace read = read_trace(tmp / "run.trace");
  EXPECT_EQ(read.trimvl_version, TRIMVL_TEST_VERSION);
  EXPECT_EQ(read.created.size(), std::string("2026-11-23T00:00:00Z").size());
  EXPECT_EQ(read.created.back(), 'Z');
  EXPECT_EQ(read.events.size(), 3u);
  EXPECT_TRUE(read.steps.empty());
}

TEST(TraceFile, RecorderKeepsEveryNthEviction) {
  test::TempDir tmp;
  const Trace made = test::synthetic_trace();
  TraceRecorderOptions options;
  options.event_stride = 2;
  TraceRecorder recorder(made.header, options);
  replay_events(made, recorder);
  recorder.set_token_table(made.tokens);
  recorder.write(tmp / "thin.trace");
  const Trace read = read_trace(tmp / "thin.trace");
  ASSERT_EQ(read.events.size(), 2u);
  EXPECT_EQ(read.events[0].index, 0);
  EXPECT_EQ(read.events[1].index, 2);
  EXPECT_EQ(read.events[1].kept, made.events[2].kept);
}

TEST(TraceSummary, TalliesMatchTheCandidates) {
  const Trace trace = test::synthetic_trace();
  const json summary = json::parse(trace_summary_json(trace, "run.trace"));
  ASSERT_EQ(summary["events"].size(), 3u);
  EXPECT_EQ(summary["budget_tokens"], 4 * 32);
  for (size_t i = 0; i < 3; ++i) {
    const TraceEvent& e = trace.events[i];
    const json& s = summary["events"][i];
    int64_t kept = 0, evicted = 0, kept_images = 0;
    for (int64_t c = 0; c < e.candidates(); ++c) {
      (e.kept[c] ? kept : evicted) += 1;
      if (e.kept[c] && e.position[c] >= test::kImageBegin && e.position[c] < test::kImageEnd) ++kept_images;
    }
    int64_t kept_sum = 0, evicted_sum = 0;
    for (const auto& [name, n] : s["kept"].items()) kept_sum += n.get<int64_t>();
    for (const auto& [name, n] : s["evicted"].items()) evicted_sum += n.get<int64_t>();
    EXPECT_EQ(kept_sum, kept);
    EXPECT_EQ(evicted_sum, evicted);
    EXPECT_EQ(s["kept"]["image"], kept_images);
    EXPECT_EQ(kept, 128) << "the global budget L·H·M";
  }
  const std::string text = trace_summary_text(trace, "run.trace");
  EXPECT_NE(text.find("policy    dbtrimkv fixed_budget M=32 B=16; budget 128 tokens"), std::string::npos) << text;
  EXPECT_NE(text.find("tokens    300 (60 text, 200 image, 0 video, 40 generated)"), std::string::npos) << text;
}

// ---- the corpus of broken traces -------------------------------------------------------------

using Arrays = std::vector<std::pair<std::string, at::Tensor>>;

struct Corrupt {
  std::string name;
  std::function<void(json& meta, Arrays& arrays)> edit;
  std::string array;     // the array the error must name ("" for metadata errors)
  std::string fragment;  // and a piece of its message
  Error::Kind kind = Error::Kind::InvalidInput;
};

at::Tensor& array(Arrays& arrays, const std::string& name) {
  for (auto& [n, t] : arrays)
    if (n == name) return t;
  throw std::runtime_error("test bug: no array " + name);
}

class TraceCorpus : public ::testing::TestWithParam<Corrupt> {};

TEST_P(TraceCorpus, RefusedWithOneClearError) {
  test::TempDir tmp;
  write_trace(test::synthetic_trace(), tmp / "good.trace");
  const auto good = io::SafetensorsFile::open(tmp / "good.trace");
  Arrays arrays;
  for (const auto& info : good.tensors()) arrays.emplace_back(info.name, good.tensor(info.name).clone());
  json meta = json::parse(good.metadata().at(kTraceMetadataKey));
  GetParam().edit(meta, arrays);
  const fs::path bad = tmp / "bad.trace";
  io::save_safetensors(bad, arrays, {{kTraceMetadataKey, meta.dump()}});
  try {
    read_trace(bad);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), GetParam().kind) << e.what();
    EXPECT_EQ(e.file(), bad.string()) << e.what();
    EXPECT_EQ(e.tensor(), GetParam().array) << e.what();
    EXPECT_NE(std::string(e.what()).find(GetParam().fragment), std::string::npos) << e.what();
  }
}

void set(Arrays& a, const std::string& name, int64_t index, double value) {
  auto& t = array(a, name);
  t.view(-1)[index].fill_(value);
}

INSTANTIATE_TEST_SUITE_P(
    Broken, TraceCorpus,
    ::testing::Values(
        Corrupt{"future_version", [](json& m, Arrays&) { m["format_version"] = 2; }, "", "trace format version 2",
                Error::Kind::Unsupported},
        Corrupt{"missing_key", [](json& m, Arrays&) { m.erase("num_layers"); }, "",
                "missing key 'trimvl.trace.num_layers'"},
        Corrupt{"unknown_policy", [](json& m, Arrays&) { m["policy"]["kind"] = "lru"; }, "",
                "key 'trimvl.trace.policy.kind': unknown KV policy 'lru'"},
        Corrupt{"bad_options", [](json& m, Arrays&) { m["policy"]["alpha"] = 2.0; }, "",
                "key 'trimvl.trace.policy': --kv-alpha must lie in (0, 1)"},
        Corrupt{"zero_heads", [](json& m, Arrays&) { m["num_kv_heads"] = 0; }, "", "must be positive"},
        Corrupt{"missing_array",
                [](json&, Arrays& a) { std::erase_if(a, [](auto& p) { return p.first == "events.score"; }); },
                "events.score", "missing array"},
        Corrupt{"unexpected_array", [](json&, Arrays& a) { a.emplace_back("events.extra", at::zeros({2})); },
                "events.extra", "unexpected array"},
        Corrupt{"wrong_dtype",
                [](json&, Arrays& a) { array(a, "tokens.token_id") = array(a, "tokens.token_id").to(at::kLong); },
                "tokens.token_id", "dtype I64, expected I32"},
        Corrupt{"short_column",
                [](json&, Arrays& a) { array(a, "tokens.row") = array(a, "tokens.row").narrow(0, 0, 10).clone(); },
                "tokens.row", "shape [10], expected [300]"},
        Corrupt{"lengths_shape",
                [](json&, Arrays& a) {
                  array(a, "events.lengths_before") = at::zeros({3, 5}, at::kInt);
                },
                "events.lengths_before", "shape [3, 5], expected [3, 4]"},
        Corrupt{"offsets_end", [](json&, Arrays& a) { set(a, "events.offsets", 3, 7); }, "events.offsets",
                "offsets must run from 0 to"},
        Corrupt{"offsets_decrease", [](json&, Arrays& a) { set(a, "events.offsets", 2, 1); }, "events.offsets",
                "offsets must not decrease"},
        Corrupt{"stream_out_of_range", [](json&, Arrays& a) { set(a, "events.stream", 0, 9); }, "events.stream",
                "stream 9 is not in [0, 4)"},
        Corrupt{"position_unseen", [](json&, Arrays& a) { set(a, "events.position", 0, 290); }, "events.position",
                "position 290 is not in [0, 260)"},
        Corrupt{"keep_flag", [](json&, Arrays& a) { set(a, "events.kept", 5, 2); }, "events.kept",
                "keep flag 2 is neither 0 nor 1"},
        Corrupt{"lengths_after", [](json&, Arrays& a) { set(a, "events.lengths_after", 1, 999); },
                "events.lengths_after", "event 0, stream 1: length after 999"},
        Corrupt{"seen_beyond_table", [](json&, Arrays& a) { set(a, "events.seen", 2, 301); }, "events.seen",
                "event 2 saw 301 tokens; the token table has 300"},
        Corrupt{"event_order", [](json&, Arrays& a) { set(a, "events.index", 1, 0); }, "events.index",
                "event 1 has index 0 after 0"},
        Corrupt{"modality", [](json&, Arrays& a) { set(a, "tokens.modality", 7, 9); }, "tokens.modality",
                "token 7: modality 9"},
        Corrupt{"step_totals", [](json&, Arrays& a) { set(a, "steps.cached_by_modality", 0, 1000); },
                "steps.cached_by_modality", "step 0: counts by modality"}),
    [](const auto& info) { return info.param.name; });

TEST(TraceFile, RefusesFilesThatAreNotTraces) {
  test::TempDir tmp;
  try {
    read_trace(tmp / "absent.trace");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::NotFound);
    EXPECT_NE(std::string(e.what()).find("no such trace file"), std::string::npos);
  }
  io::save_safetensors(tmp / "weights.safetensors", {{"w", at::zeros({2})}});
  test::write_file(tmp / "text.trace", "this is not a trace at all");
  io::save_safetensors(tmp / "json.trace", {{"w", at::zeros({2})}}, {{kTraceMetadataKey, "{not json"}});
  for (const auto& [file, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"weights.safetensors", "not a trimvl trace"}, {"text.trace", ""}, {"json.trace", "is not valid JSON"}}) {
    try {
      read_trace(tmp / file);
      FAIL() << file;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::InvalidInput) << e.what();
      EXPECT_EQ(e.file(), (tmp / file).string()) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace trimvl::app
