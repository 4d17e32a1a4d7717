#pragma once
// Finding a model's files on disk, never on the network.
//
// A path names one of:
//  - a Hugging Face snapshot directory (config.json, weights, tokenizer and processor files), which
//    may also hold retention gates (trimkv_weights.pth);
//  - a gate directory: config.json with `base_model` plus trimkv_weights.pth. base_model is a path
//    (absolute, or relative to the gate directory, or to the working directory) or a hub id looked
//    up in the local Hugging Face cache;
//  - a hub id ("Qwen/Qwen3-VL-4B-Instruct") or a cache folder (models--Qwen--Qwen3-VL-4B-Instruct)
//    whose snapshot is in that cache.
// The hub cache is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub; a repository resolves through refs/main to snapshots/<commit>/, or to
// its only snapshot when refs/main is absent.
//
// What cannot be resolved (no config.json, a base model that is not here) is an Error naming the
// file and what to download. Files a run needs but the snapshot lacks are listed in `missing`, each
// with the command that fetches it.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::app {

struct MissingFile {
  std::string file;  // "tokenizer.json", "model-00002-of-00004.safetensors", ...
  std::string why;   // what it is needed for
  std::string hint;  // how to get it, e.g. "huggingface-cli download Qwen/Qwen3-VL-4B-Instruct tokenizer.json"
};

// The files of one model. Absent files are empty paths.
struct ModelFiles {
  std::filesystem::path dir;
  std::optional<std::string> hub_repo;  // "Org/Name" when `dir` is a snapshot in the hub cache
  std::filesystem::path config;         // config.json (always present)
  std::filesystem::path generation_config;
  std::filesystem::path preprocessor_config;
  std::filesystem::path video_preprocessor_config;
  std::filesystem::path tokenizer;         // tokenizer.json
  std::filesystem::path tokenizer_config;  // tokenizer_config.json
  // chat_template.jinja, else chat_template.json, else tokenizer_config.json when it carries one.
  std::filesystem::path chat_template;
  std::filesystem::path weights;  // model.safetensors, or model.safetensors.index.json when sharded
  bool sharded = false;
  std::vector<std::string> shards;  // files the index names, in index order of first mention
};

// Retention gates: trimkv_weights.pth and the config.json whose gate fields describe them.
struct GateFiles {
  std::filesystem::path dir;
  std::filesystem::path config;
  std::filesystem::path weights;          // empty when a gate directory lacks it (see `missing`)
  std::optional<std::string> base_model;  // as written; absent when the gates sit in the base snapshot
};

struct Snapshot {
  std::string requested;  // the argument as given
  ModelFiles model;       // the base model
  std::optional<GateFiles> gates;
  std::vector<MissingFile> missing;
};

// Resolves a path, hub id or cache folder; see the top of this file.
Snapshot discover_snapshot(const std::string& path_or_repo);

std::filesystem::path hub_cache_dir();
// "Org/Name" or "name" as the hub spells repository ids.
bool looks_like_repo_id(std::string_view text);
// The snapshot directory of `repo` in the hub cache, or nullopt when the cache has none. Throws
// when the cache entry is inconsistent (refs/main names a missing snapshot, several snapshots and
// no refs/main).
std::optional<std::filesystem::path> find_in_hub_cache(std::string_view repo);

}  // namespace trimvl::app
