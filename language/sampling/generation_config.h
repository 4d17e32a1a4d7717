#pragma once
// A checkpoint's generation_config.json read as transformers 4.57.1's GenerationConfig reads it:
// absent (or null) keys take that class's defaults (do_sample false, temperature 1, top_k 50,
// top_p 1, no min_p, repetition_penalty 1), which generate() then applies — top_k 50 included,
// when a file enables sampling without naming top_k.
//
// Read: do_sample, temperature, top_k, top_p, min_p, repetition_penalty, eos_token_id (an id or a
// list), stop_strings (a string or a list), max_new_tokens, max_length. Keys that make HF's
// generate() do something trimvl does not (beam search, typical-p, n-gram bans, ...) are
// reported with a warning naming them and then ignored.
#include <filesystem>

#include "language/sampling/sampling_params.h"
#include "language/sampling/stop_criteria.h"

namespace trimvl {

struct GenerationConfig {
  SamplingParams sampling;
  StopConditions stop;

  // Throws Error naming the file and key: NotFound, invalid JSON, a wrong type, or a value the
  // checks of SamplingParams / StopConditions reject (InvalidInput).
  static GenerationConfig from_file(const std::filesystem::path& generation_config_json);
};

}  // namespace trimvl
