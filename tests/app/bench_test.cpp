// `trimvl bench`: the random model has the real checkpoint's tensors (the bundled 4B config gives
// the hub checkpoint's parameter count), and the command runs a tiny config end to end on the CPU —
// every JSON field present and consistent with what the cache holds, and with --hf-baseline HF
// transformers in the pinned venv beside it — or fails with one clear error. No timing is asserted:
// speed lives in the benchmark's numbers, not in tests.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <vector>

#include "app/bench/bench.h"
#include "app/bench/random_model.h"
#include "kernels/io/random_weights.h"
#include "language/qwen3vl/text_config.h"
#include "tests/support/test_env.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(BenchRandomModel, TheBundled4BConfigGivesTheHubCheckpointsTensors) {
  const fs::path config = TRIMVL_TEST_BENCH_CONFIG;
  const auto text = qwen3vl::TextConfig::load(config);
  const auto vision = vision::qwen3vl::load_vision_config(config);
  const auto tensors = qwen3vl_tensors(text, vision);
  const io::RandomWeights weights(tensors, at::kBFloat16, at::kCPU, 0);
  // hf-models-spec.md §1.4 and §2.6 (transformers on the meta device): 315 vision tensors, 36 x 11 + 2
  // text tensors, no lm_head.weight (tied), 4,437,815,808 parameters.
  EXPECT_EQ(tensors.size(), 315u + 36 * 11 + 2);
  EXPECT_EQ(weights.numel(), 4'437'815'808);
  EXPECT_EQ(weights.find_shape("lm_head.weight"), nullptr);
  EXPECT_EQ(*weights.find_shape("model.visual.deepstack_merger_list.2.linear_fc2.weight"),
            (std::vector<int64_t>{2560, 4096}));
  EXPECT_EQ(*weights.find_shape("model.language_model.layers.35.self_attn.k_proj.weight"),
            (std::vector<int64_t>{1024, 2560}));
}

TEST(BenchRandomModel, GatesOfBothTypesFitTheModelAndTieOnlyRg10) {
  const auto text = qwen3vl::TextConfig::load(TRIMVL_TEST_BENCH_CONFIG);
  const auto rg10 = random_gates(cache::GateType::Rg10, text, at::kBFloat16, at::kCPU, 1);
  ASSERT_EQ(rg10.num_layers(), 36);
  EXPECT_TRUE(rg10.tied);
  EXPECT_EQ(rg10.layers[0].out_weight.data_ptr(), rg10.layers[35].out_weight.data_ptr());
  EXPECT_EQ(rg10.layers[0].hidden.size(), 2u);
  // Distinct bytes: 36 x (linear1 + linear2) plus one tied projection and bias.
  EXPECT_EQ(gate_bytes(rg10), 2 * (36 * (512 * 2560 + 512 + 512 * 512 + 512) + 8 * 512 + 8));
  const auto rg = random_gates(cache::GateType::Rg, text, at::kBFloat16, at::kCPU, 1);
  EXPECT_FALSE(rg.tied);
  EXPECT_EQ(rg.layers[0].hidden.size(), 1u);
  EXPECT_NE(rg.layers[0].out_bias.data_ptr(), rg.layers[1].out_bias.data_ptr());
  const at::Tensor bias = rg10.layers[0].out_bias.to(at::kFloat);
  EXPECT_TRUE(bias.ge(2).all().item<bool>() && bias.le(8).all().item<bool>());
}


// Qwen3-VL's shape, shrunk: GQA 2:1, head_dim 16 with its M-RoPE section, DeepStack on both vision
// blocks, tied embeddings, special tokens inside a small vocabulary.
constexpr int64_t kLayers = 3, kKvHeads = 2, kHeadDim = 16;
json tiny_config() {
  return {{"model_type", "qwen3_vl"},
          {"image_token_id", 1000},
          {"video_token_id", 1001},
          {"vision_start_token_id", 1002},
          {"vision_end_token_id", 1003},
          {"text_config",
           {{"vocab_size", 1024},
            {"hidden_size", 32},
            {"intermediate_size", 64},
            {"num_hidden_layers", kLayers},
            {"num_attention_heads", 4},
            {"num_key_value_heads", kKvHeads},
            {"head_dim", kHeadDim},
            {"max_position_embeddings", 4096},
            {"rope_theta", 5000000.0},
            {"rope_scaling", {{"rope_type", "default"}, {"mrope_section", {4, 2, 2}}, {"mrope_interleaved", true}}},
            {"tie_word_embeddings", true}}},
          {"vision_config",
           {{"depth", 2},
            {"hidden_size", 32},
            {"intermediate_size", 64},
            {"num_heads", 2},
            {"out_hidden_size", 32},
            {"num_position_embeddings", 16},
            {"deepstack_visual_indexes", {0, 1}}}}};
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::FILE* f = std::fopen(config.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = tiny_config().dump();
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  test::TempDir tmp;
  fs::path config = tmp / "config.json";
};

TEST_F(BenchCli, RunsFullAndDbtrimkvAndWritesEveryField) {
  constexpr int64_t kBudget = 8, kBuffer = 4, kDecode = 4, kWarmup = 1;
  const fs::path out = tmp / "bench.json";
  const test::CliOutcome r =
      test::run_trimvl(fmt::format("bench --config '{}' --device cpu --contexts 64,128 --decode-tokens {} --warmup {} "
                         "--kv-policy dbtrimkv --kv-budget {} --kv-buffer {} --prefill-chunk 32 --json '{}'",
                         config.string(), kDecode, kWarmup, kBudget, kBuffer, out.string()),
             tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("tok/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak memory: n/a"), std::string::npos) << r.out;  // the CPU has no allocator stats
  const json j = json::parse(test::read_file(out));

  EXPECT_EQ(j.at("device"), "cpu");
  EXPECT_EQ(j.at("dtype"), "bf16");
  EXPECT_FALSE(j.at("memory_stats").get<bool>());
  EXPECT_GT(j.at("copy_bandwidth_bytes_per_second").get<double>(), 0);
  EXPECT_TRUE(j.at("matmul_step_seconds").is_null());  // measured on CUDA only
  EXPECT_FALSE(j.at("cuda_graphs").get<bool>());        // no graphs on the CPU
  EXPECT_GE(j.at("host_threads").at("intra_op").get<int>(), 1);
  EXPECT_TRUE(j.at("host_threads").at("hardware").is_number_integer());  // 0 where the platform cannot tell
  EXPECT_FALSE(j.at("date").get<std::string>().empty());
  EXPECT_FALSE(j.at("trimvl_version").get<std::string>().empty());
  const int64_t params = j.at("parameters");
  EXPECT_GT(params, 0);
  EXPECT_EQ(j.at("weight_bytes").get<int64_t>(), 2 * params);
  EXPECT_GT(j.at("decode_weight_bytes").get<int64_t>(), 0);
  EXPECT_LT(j.at("decode_weight_bytes").get<int64_t>(), j.at("weight_bytes").get<int64_t>());  // no vision

  const json& runs = j.at("runs");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].at("policy"), "full");
  EXPECT_TRUE(runs[0].at("gates").is_null());
  EXPECT_EQ(runs[1].at("policy").get<std::string>().rfind("dbtrimkv", 0), 0u) << runs[1].at("policy");
  EXPECT_EQ(runs[1].at("gates"), "rg10");
  const int64_t token_bytes = 2 * kHeadDim * 2;  // K and V, bf16
  const int64_t streams = kLayers * kKvHeads;
  for (const json& run : runs) {
    const bool full = run.at("policy") == "full";
    EXPECT_TRUE(run.at("peak_memory_bytes").is_null());
    const json& t = run.at("ttft");
    // A 1024 x 1024 image: 64 x 64 patches, 32 x 32 merged tokens; + vision start/end + the question.
    EXPECT_EQ(t.at("image_tokens").get<int64_t>(), 1024);
    EXPECT_EQ(t.at("prompt_tokens").get<int64_t>(), 1024 + 2 + 32);
    for (const char* key : {"preprocess_seconds", "vision_seconds", "prefill_seconds"})
      EXPECT_GT(t.at(key).get<double>(), 0) << key;
    EXPECT_GE(t.at("total_seconds").get<double>(), t.at("preprocess_seconds").get<double>() +
                                                       t.at("vision_seconds").get<double>() +
                                                       t.at("prefill_seconds").get<double>());
    // The encoder's queueing is part of its time.
    EXPECT_GT(t.at("vision_host_seconds").get<double>(), 0);
    EXPECT_LE(t.at("vision_host_seconds").get<double>(), t.at("vision_seconds").get<double>());
    // The reported run is the median of the timed runs, all of which are kept, fastest first.
    const json& timed = t.at("runs");
    ASSERT_EQ(timed.size(), static_cast<size_t>(kTtftRuns));
    std::vector<double> totals;
    for (const json& run : timed) totals.push_back(run.at("total_seconds").get<double>());
    EXPECT_TRUE(std::is_sorted(totals.begin(), totals.end()));
    const json& median = timed[timed.size() / 2];
    for (const char* key : {"preprocess_seconds", "vision_seconds", "vision_host_seconds", "prefill_seconds",
                            "total_seconds"})
      EXPECT_EQ(median.at(key).get<double>(), t.at(key).get<double>()) << key;
    EXPECT_EQ(t.at("kv_bytes").get<int64_t>() % token_bytes, 0);
    if (full)
      EXPECT_EQ(t.at("kv_bytes").get<int64_t>(), streams * (1024 + 34) * token_bytes);
    else
      EXPECT_GT(t.at("evictions").at("events").get<int64_t>(), 0);

    const json& decode = run.at("decode");
    ASSERT_EQ(decode.size(), 2u);
    for (size_t i = 0; i < decode.size(); ++i) {
      const json& d = decode[i];
      const int64_t context = i == 0 ? 64 : 128;
      EXPECT_EQ(d.at("context").get<int64_t>(), context);
      EXPECT_EQ(d.at("steps").get<int64_t>(), kDecode);
      EXPECT_GT(d.at("tokens_per_second").get<double>(), 0);
      EXPECT_GT(d.at("decode_seconds").get<double>(), 0);
      EXPECT_GT(d.at("fill_seconds").get<double>(), 0);
      EXPECT_GT(d.at("hbm_floor_fraction").get<double>(), 0);
      EXPECT_TRUE(d.at("peak_memory_bytes").is_null());
      const int64_t cached = d.at("cached_tokens");
      EXPECT_EQ(d.at("kv_bytes").get<int64_t>(), cached * token_bytes);
      EXPECT_GE(d.at("bytes_per_token").get<int64_t>(), j.at("decode_weight_bytes").get<int64_t>());
      for (const char* phase : {"fill_evictions", "decode_evictions"}) {
        EXPECT_GE(d.at(phase).at("events").get<int64_t>(), 0);
        EXPECT_GE(d.at(phase).at("seconds").get<double>(), 0);
      }
      if (full) {
        EXPECT_EQ(cached, streams * (context + kWarmup + kDecode));
        EXPECT_EQ(d.at("fill_evictions").at("events").get<int64_t>(), 0);
      } else {
        // One global budget of L·H_kv·M, evicting when the total reaches L·H_kv·(M + B).
        EXPECT_LT(cached, streams * (kBudget + kBuffer));
        EXPECT_GT(d.at("fill_evictions").at("events").get<int64_t>(), 0);
      }
    }
  }
}

size_t count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// --profile: a Chrome trace and a summary per window — TTFT per policy, decode and (evicting
// policies) one eviction per policy and context. On the CPU the summary ranks operators (on CUDA it
// ranks kernels).
TEST_F(BenchCli, ProfileWritesATraceAndASummaryPerWindow) {
  const fs::path dir = tmp / "profile";
  const test::CliOutcome r = test::run_trimvl(
      fmt::format("bench --config '{}' --device cpu --contexts 64 --decode-tokens 2 --warmup 0 --kv-policy streaming "
                  "--kv-budget 8 --kv-buffer 4 --prefill-chunk 32 --profile '{}'",
                  config.string(), dir.string()),
      tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir / "eviction-full-64.json"));  // the full cache never evicts
  for (const std::string name : {"ttft-full", "decode-full-64", "ttft-streaming_M=8_B=4_sinks=4",
                                 "decode-streaming_M=8_B=4_sinks=4-64", "eviction-streaming_M=8_B=4_sinks=4-64"}) {
    ASSERT_TRUE(fs::exists(dir / (name + ".json"))) << name << "\n" << r.err;
    const json trace = json::parse(test::read_file(dir / (name + ".json")));
    EXPECT_FALSE(trace.at("traceEvents").empty()) << name;
    const std::string summary = test::read_file(dir / (name + ".txt"));
    EXPECT_NE(summary.find("CPU operator (inclusive)"), std::string::npos) << summary;
    EXPECT_NE(summary.find("aten::"), std::string::npos) << summary;
  }
}

TEST_F(BenchCli, HfBaselineRunsInTheSameCallAndGivesOursOverTheirs) {
  const fs::path out = tmp / "bench.json";
  const std::string python = test::env_path("TRIMVL_PYTHON").string();
  const test::CliOutcome r = test::run_trimvl(
      // 24 decode tokens: HF's rate is a difference of two generate() times, which a loaded CI machine's
      // noise outweighs when the decode part is a few milliseconds.
      fmt::format("bench --device cpu --dtype fp32 --config '{}' --contexts 16,32 --decode-tokens 24 --warmup 1 "
                  "--hf-baseline --python '{}' --json '{}'",
                  config.string(), python, out.string()),
      tmp);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("HF transformers baseline (transformers 4.57.1, sdpa)"), std::string::npos) << r.out;
  const json j = json::parse(test::read_file(out));

  const json& hf = j.at("hf_baseline");
  ASSERT_TRUE(hf.is_object()) << hf;
  EXPECT_EQ(hf.at("transformers_version"), "4.57.1");  // tests/requirements.txt's pin
  EXPECT_FALSE(hf.at("torch_version").get<std::string>().empty());
  EXPECT_FALSE(hf.at("device_name").get<std::string>().empty());
  EXPECT_EQ(hf.at("dtype"), "fp32");
  EXPECT_EQ(hf.at("attn_implementation"), "sdpa");
  EXPECT_TRUE(hf.at("peak_memory_bytes").is_null());  // no allocator statistics on the CPU
  EXPECT_FALSE(hf.contains("error"));
  EXPECT_EQ(hf.at("ttft_runs").get<int>(), kTtftRuns);  // its median of as many runs as ours
  // The same settings went to the script.
  const std::string command = hf.at("command");
  for (const std::string& part : {python, std::string("app/bench/hf_baseline.py"), config.string(),
                                 fmt::format("--device cpu --dtype fp32 --contexts 16,32 --decode-tokens 24 "
                                             "--warmup 1 --ttft-runs {} --seed 0", kTtftRuns)})
    EXPECT_NE(command.find(part), std::string::npos) << part << " not in " << command;

  // The same TTFT prompt as ours: the 1024 x 1024 image's 1024 merged tokens, start/end, 32 tokens.
  const json& ttft = hf.at("ttft");
  EXPECT_EQ(ttft.at("image_tokens").get<int64_t>(), 1024);
  EXPECT_EQ(ttft.at("prompt_tokens").get<int64_t>(), 1024 + 2 + 32);
  const double hf_ttft = ttft.at("seconds");
  EXPECT_GT(hf_ttft, 0);
  const json& hf_decode = hf.at("decode");
  ASSERT_EQ(hf_decode.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(hf_decode[i].at("context").get<int64_t>(), i == 0 ? 16 : 32);
    EXPECT_EQ(hf_decode[i].at("steps").get<int64_t>(), 24);
    EXPECT_GT(hf_decode[i].at("tokens_per_second").get<double>(), 0);
  }

  // Ours over theirs for every policy: TTFT against our vision + prefill (HF gets pixel_values, so
  // our preprocessing stays out), decode tokens/s per context.
  const json& runs = j.at("runs");
  ASSERT_EQ(runs.size(), 2u);  // full and the default dbtrimkv
  for (const json& run : runs) {
    const json& t = run.at("ttft");
    EXPECT_EQ(t.at("image_tokens"), ttft.at("image_tokens"));
    EXPECT_DOUBLE_EQ(t.at("hf_ratio").get<double>(),
                     hf_ttft / (t.at("vision_seconds").get<double>() + t.at("prefill_seconds").get<double>()))
        << run.at("policy");
    const json& decode = run.at("decode");
    ASSERT_EQ(decode.size(), 2u);
    for (size_t i = 0; i < 2; ++i)
      EXPECT_DOUBLE_EQ(decode[i].at("hf_ratio").get<double>(), decode[i].at("tokens_per_second").get<double>() /
                                                                   hf_decode[i].at("tokens_per_second").get<double>())
          << run.at("policy") << " context " << decode[i].at("context");
  }
}

TEST_F(BenchCli, AFailingBaselineKeepsOurResultsAndGivesOneError) {
  const fs::path out = tmp / "bench.json";
  const test::CliOutcome r = test::run_trimvl(
      fmt::format("bench --device cpu --config '{}' --kv-policy full --contexts 16 --decode-tokens 2 --warmup 0 "
                  "--hf-baseline --python /bin/false --json '{}'",
                  config.string(), out.string()),
      tmp);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(count(r.err, "error:"), 1u) << r.err;
  EXPECT_NE(r.err.find("app/bench/hf_baseline.py failed (/bin/false: exit status 1)"), std::string::npos) << r.err;
  // Our table and JSON are complete; there are no ratios.
  EXPECT_NE(r.out.find("tok/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HF transformers baseline: failed"), std::string::npos) << r.out;
  const json j = json::parse(test::read_file(out));
  ASSERT_EQ(j.at("runs").size(), 1u);
  const json& run = j.at("runs")[0];
  EXPECT_GT(run.at("decode")[0].at("tokens_per_second").get<double>(), 0);
  EXPECT_TRUE(run.at("decode")[0].at("hf_ratio").is_null());
  EXPECT_TRUE(run.at("ttft").at("hf_ratio").is_null());
  EXPECT_NE(j.at("hf_baseline").at("error").get<std::string>().find("exit status 1"), std::string::npos);
  EXPECT_NE(j.at("hf_baseline").at("command").get<std::string>().find("/bin/false"), std::string::npos);
}

// A script whose JSON reports other work (another prompt, other contexts or steps) or lacks a field
// gives no ratios but one error naming the script and the field: comparing them would mislead.
TEST_F(BenchCli, ABaselineOfOtherWorkIsRefused) {
  const fs::path script = tmp / "fake_baseline.py";
  const std::string python = test::env_path("TRIMVL_PYTHON").string();
  // Writes `ttft` and `decode` (Python literals) with the fields every script writes.
  const auto fake = [&](const std::string& ttft, const std::string& decode) {
    test::write_file(script, fmt::format(R"(import json, sys
print("a line on the fake's stdout")
out = sys.argv[sys.argv.index("--json") + 1]
json.dump({{"transformers_version": "x", "torch_version": "y", "device_name": "z", "attn_implementation": "sdpa",
           "ttft": {}, "decode": {}}}, open(out, "w"))
)",
                                         ttft, decode));
    return test::run_trimvl(fmt::format("bench --device cpu --config '{}' --kv-policy full --contexts 16 "
                                        "--decode-tokens 2 --warmup 0 --hf-baseline --python '{}' --hf-script '{}'",
                                        config.string(), python, script.string()),
                            tmp);
  };
  const std::string ttft = R"({"seconds": 1.0, "image_tokens": 1024, "prompt_tokens": 1058})";
  const std::string decode = R"([{"context": 16, "steps": 2, "tokens_per_second": 5.0}])";
  // The fake itself is accepted, so each refusal below is the one change's doing.
  const test::CliOutcome same = fake(ttft, decode);
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_NE(same.out.find("HF transformers baseline (transformers x, sdpa)"), std::string::npos) << same.out;
  // What a script prints is diagnostics: on stderr, not among our results.
  EXPECT_EQ(same.out.find("fake's stdout"), std::string::npos) << same.out;
  EXPECT_NE(same.err.find("a line on the fake's stdout"), std::string::npos) << same.err;

  struct Case {
    std::string ttft, decode, message;
  };
  const std::vector<Case> cases = {
      {R"({"seconds": 1.0, "image_tokens": 999, "prompt_tokens": 1033})", decode, "not the same prompt"},
      {ttft, R"([{"context": 17, "steps": 2, "tokens_per_second": 5.0}])", "key 'decode[0].context': expected 16"},
      {ttft, R"([{"context": 16, "steps": 3, "tokens_per_second": 5.0}])", "key 'decode[0].steps': expected 2"},
      {ttft, R"([{"context": 16, "steps": 2, "tokens_per_second": 0.0}])", "expected a positive rate"},
      {ttft, "[]", "key 'decode': expected an array of 1 results"},
      {"None", decode, "key 'ttft': missing"},
  };
  for (const Case& c : cases) {
    const test::CliOutcome r = fake(c.ttft, c.decode);
    EXPECT_EQ(r.code, 1) << c.message;
    EXPECT_NE(r.err.find("fake_baseline.py gave no results"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

TEST_F(BenchCli, BadOptionsGiveOneErrorAndANonZeroExit) {
  struct Case {
    std::string args, message;
    int code;
  };
  const std::vector<Case> cases = {
      {"--kv-policy lru", "--kv-policy", 2},
      {"--contexts 0", "--contexts: 0 is not a positive token count", 1},
      {"--decode-tokens 0", "--decode-tokens", 1},
      {"--kv-policy dbtrimkv --kv-budget 0", "--kv-budget", 1},
      {"--config '" + (tmp / "missing.json").string() + "'", "no such config file", 1},
      {"--json '" + (tmp / "no-dir" / "out.json").string() + "'", "the directory for --json does not exist", 1},
      {"--contexts 4096", "exceed the model's 4096 positions", 1},
      {"--hf-baseline --hf-script '" + (tmp / "missing.py").string() + "'", "no such HF baseline script", 1},
  };
  for (const Case& c : cases) {
    const std::string args = c.args.rfind("--config", 0) == 0
                                 ? fmt::format("bench --device cpu {}", c.args)
                                 : fmt::format("bench --device cpu --config '{}' {}", config.string(), c.args);
    const test::CliOutcome r = test::run_trimvl(args, tmp);
    EXPECT_EQ(r.code, c.code) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << args << "\n" << r.out;
  }
}

}  // namespace
}  // namespace trimvl::app
