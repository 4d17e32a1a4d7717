#pragma once
// The options `trimvl ask` and `trimvl score` share: the model and where it runs, the media and
// text of the one user turn, and --dump-logits.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/engine.h"

namespace trimvl::cli {

struct RequestOptions {
  app::EngineOptions engine;
  std::vector<std::string> images;
  std::vector<std::string> videos;
  std::optional<double> fps;
  std::optional<int64_t> max_frames;
  std::string prompt;
  std::string system;
  std::string dump_logits;

  // Adds the options to `cmd`, in groups.
  void add_to(CLI::App& cmd);
  // One user turn: the images, then the videos, then the prompt (after a system message when given).
  app::Request request() const;
};

// `trimvl eval`'s sweep: --kv-policy and --kv-budget as comma-separated lists.
struct KvSweepLists {
  std::vector<std::string> policies{"full"};
  std::vector<int64_t> budgets;
};

// -m/--model, --device, --dtype (with their environment variables), in the "Model" group, and the
// KV cache options; with `sweep`, --kv-policy and --kv-budget fill its lists instead of engine.kv.
void add_engine_options(CLI::App& cmd, app::EngineOptions& engine, KvSweepLists* sweep = nullptr);
// --max-new-tokens, --temperature, --top-k, --top-p, --min-p, --repetition-penalty, --seed, --stop.
void add_generation_options(CLI::App& cmd, app::GenerationSettings& g);

// Writes a streamed piece of the answer to stdout at once.
void write_piece(std::string_view piece);
// Tokens by modality, timings and KV bytes, one line on stderr.
void print_stats(const app::Stats& stats);

}  // namespace trimvl::cli
