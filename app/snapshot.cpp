#include "app/snapshot.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace fs = std::filesystem;
namespace {

constexpr const char* kGateWeights = "trimkv_weights.pth";

// The error_code overloads: a permission problem reads as "absent" here and is reported by
// whoever opens the file.
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows symlinks: a dangling hub-cache link is absent
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

fs::path normalized(const fs::path& p) {
  fs::path out = fs::absolute(p).lexically_normal();
  return out.has_filename() ? out : out.parent_path();
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

fs::path repo_folder(std::string_view repo) {
  std::string name = "models--";
  for (char c : repo) name += c == '/' ? std::string("--") : std::string(1, c);
  return hub_cache_dir() / name;
}

// ".../models--Org--Name/snapshots/<commit>" -> "Org/Name" (hub names never contain "--").
std::optional<std::string> hub_repo_of(const fs::path& dir) {
  const fs::path snapshots = dir.parent_path();
  const std::string folder = snapshots.parent_path().filename().string();
  if (snapshots.filename() != "snapshots" || folder.rfind("models--", 0) != 0) return std::nullopt;
  const std::string repo = folder.substr(8);
  const auto sep = repo.find("--");
  return sep == std::string::npos ? repo : repo.substr(0, sep) + "/" + repo.substr(sep + 2);
}

std::string read_trimmed(const fs::path& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// A cache folder models--Org--Name: refs/main's commit, else the only snapshot.
std::optional<fs::path> resolve_repo_folder(const fs::path& folder, std::string_view repo) {
  const fs::path snapshots = folder / "snapshots";
  const fs::path ref = folder / "refs" / "main";
  if (is_file(ref)) {
    const std::string commit = read_trimmed(ref);
    if (is_dir(snapshots / commit)) return snapshots / commit;
    throw Error(fmt::format("refs/main names snapshot {}, which is not in {} (an interrupted download?); fetch it "
                            "again: huggingface-cli download {}", commit, snapshots.string(), repo),
                Error::Kind::NotFound).file(ref.string());
  }
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(snapshots, ec))
    if (is_dir(entry.path())) found.push_back(entry.path().filename().string());
  if (found.empty()) return std::nullopt;
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    throw Error(fmt::format("{} snapshots ({}) and no refs/main to choose between them; pass one directory: {}",
                            found.size(), fmt::join(found, ", "), (snapshots / found.front()).string()))
        .file(folder.string());
  }
  return snapshots / found.front();
}

std::string download_hint(const ModelFiles& m, const std::string& files) {
  if (m.hub_repo) return fmt::format("huggingface-cli download {} {}", *m.hub_repo, files);
  return fmt::format("copy {} from the model's Hugging Face repository into {}", files, m.dir.string());
}

// The base model of a gate directory, never downloaded.
fs::path resolve_base_model(const std::string& base, const fs::path& gate_dir, const fs::path& config) {
  const fs::path p(base);
  std::vector<std::string> candidates;
  if (p.is_absolute()) {
    candidates.push_back(p.string());
  } else {
    candidates.push_back((gate_dir / p).string());
    candidates.push_back((fs::current_path() / p).string());
  }
  for (const auto& c : candidates)
    if (is_dir(c)) return normalized(c);
  if (!p.is_absolute() && looks_like_repo_id(base)) {
    if (auto snapshot = find_in_hub_cache(base)) return *snapshot;
    throw Error(fmt::format("base_model '{}' is not available locally: no such directory, and the Hugging Face cache "
                            "has no snapshot of it ({}). trimvl never downloads; fetch it with: huggingface-cli "
                            "download {} (or set HF_HUB_CACHE / HF_HOME to the cache that holds it)",
                            base, repo_folder(base).string(), base), Error::Kind::NotFound).file(config.string());
  }
  throw Error(fmt::format("base_model '{}' does not exist (looked for {})", base,
                          fmt::join(candidates, ", ")), Error::Kind::NotFound).file(config.string());
}

fs::path first_file(std::initializer_list<fs::path> candidates) {
  for (const auto& c : candidates)
    if (is_file(c)) return c;
  return {};
}

struct Scan {
  ModelFiles files;
  bool vision = false;  // a vision-language model: needs a preprocessor config
};

// Reads the base snapshot; `extra` (the gate directory) supplies tokenizer and processor files the
// base lacks, since trimkv saves the processor beside the gates.
Scan scan_model(const fs::path& dir, const fs::path& extra) {
  Scan scan;
  ModelFiles& m = scan.files;
  m.dir = dir;
  m.hub_repo = hub_repo_of(dir);
  m.config = dir / "config.json";
  const auto config_json = read_json_file(m.config);
  const ConfigObject config(config_json, m.config.string());
  const std::string model_type = config.string("model_type", "");
  scan.vision = model_type == "qwen3_vl" || model_type == "llava" || config.has("vision_config");

  auto aux = [&](const char* name) {
    return first_file({dir / name, extra.empty() ? fs::path() : extra / name});
  };
  m.generation_config = aux("generation_config.json");
  m.preprocessor_config = aux("preprocessor_config.json");
  m.video_preprocessor_config = aux("video_preprocessor_config.json");
  m.tokenizer = aux("tokenizer.json");
  m.tokenizer_config = aux("tokenizer_config.json");
  m.chat_template = aux("chat_template.jinja");
  if (m.chat_template.empty()) m.chat_template = aux("chat_template.json");
  if (m.chat_template.empty() && !m.tokenizer_config.empty()) {
    const auto tokenizer_config = read_json_file(m.tokenizer_config);
    if (ConfigObject(tokenizer_config, m.tokenizer_config.string()).has("chat_template"))
      m.chat_template = m.tokenizer_config;
  }

  if (is_file(dir / "model.safetensors")) {
    m.weights = dir / "model.safetensors";
  } else if (is_file(dir / "model.safetensors.index.json")) {
    m.weights = dir / "model.safetensors.index.json";
    m.sharded = true;
    const auto index_json = read_json_file(m.weights);
    const ConfigObject index(index_json, m.weights.string());
    const auto map = index.object("weight_map");
    if (!map) throw index.error("weight_map", "missing: the index must map every tensor to its shard file");
    std::set<std::string> seen;
    for (const auto& [tensor, shard] : index_json.at("weight_map").items()) {
      if (!shard.is_string()) throw map->error(tensor, "expected a shard file name");
      if (seen.insert(shard.get<std::string>()).second) m.shards.push_back(shard.get<std::string>());
    }
  }
  return scan;
}

std::vector<MissingFile> list_missing(const Scan& scan, const std::optional<GateFiles>& gates) {
  const ModelFiles& m = scan.files;
  std::vector<MissingFile> missing;
  auto add = [&](std::string file, std::string why) {
    missing.push_back({file, std::move(why), download_hint(m, file)});
  };
  if (m.weights.empty()) {
    if (is_file(m.dir / "pytorch_model.bin") || is_file(m.dir / "pytorch_model.bin.index.json")) {
      missing.push_back({"model.safetensors", "trimvl reads safetensors weights only; this snapshot has PyTorch .bin "
                         "weights", m.hub_repo ? fmt::format("huggingface-cli download {} --include '*.safetensors*'",
                                                             *m.hub_repo)
                                               : "convert them with safetensors' convert script, or download the "
                                                 "repository's safetensors files"});
    } else {
      add("model.safetensors", "the model weights (or model.safetensors.index.json and its shards)");
    }
  }
  for (const auto& shard : m.shards)
    if (!is_file(m.dir / shard)) add(shard, "a weight shard named by model.safetensors.index.json");
  if (m.tokenizer.empty()) add("tokenizer.json", "the tokenizer");
  if (m.tokenizer_config.empty()) add("tokenizer_config.json", "the tokenizer's special tokens and settings");
  if (m.chat_template.empty())
    add("chat_template.jinja", "the chat format (also accepted: chat_template.json, or a chat_template entry in "
                               "tokenizer_config.json)");
  if (scan.vision && m.preprocessor_config.empty())
    add("preprocessor_config.json", "the image preprocessing settings of a vision-language model");
  if (gates && gates->weights.empty()) {
    const auto repo = hub_repo_of(gates->dir);
    missing.push_back({kGateWeights, "the retention-gate weights of this gate directory",
                       repo ? fmt::format("huggingface-cli download {} {}", *repo, kGateWeights)
                            : fmt::format("copy {} from the gate checkpoint's repository into {}", kGateWeights,
                                          gates->dir.string())});
  }
  return missing;
}

fs::path resolve_argument(const std::string& arg) {
  const fs::path p(arg);
  std::error_code ec;
  if (fs::exists(p, ec)) {
    if (!is_dir(p))
      throw Error("expected a model directory, got a file (pass the directory that holds config.json)").file(arg);
    const fs::path dir = normalized(p);
    if (dir.filename().string().rfind("models--", 0) == 0 && is_dir(dir / "snapshots")) {
      const std::string folder = dir.filename().string().substr(8);
      if (auto snapshot = resolve_repo_folder(dir, folder)) return *snapshot;
      throw Error("a Hugging Face cache folder without any snapshot", Error::Kind::NotFound).file(arg);
    }
    return dir;
  }
  if (looks_like_repo_id(arg)) {
    if (auto snapshot = find_in_hub_cache(arg)) return *snapshot;
    throw Error(fmt::format("'{}' is neither a directory nor a model in the Hugging Face cache ({}). trimvl never "
                            "downloads; fetch it with: huggingface-cli download {}",
                            arg, repo_folder(arg).string(), arg), Error::Kind::NotFound);
  }
  throw Error("no such directory", Error::Kind::NotFound).file(arg);
}

}  // namespace

fs::path hub_cache_dir() {
  if (auto v = env("HF_HUB_CACHE")) return *v;
  if (auto v = env("HUGGINGFACE_HUB_CACHE")) return *v;  // the older spelling huggingface_hub still reads
  if (auto v = env("HF_HOME")) return fs::path(*v) / "hub";
  if (auto v = env("XDG_CACHE_HOME")) return fs::path(*v) / "huggingface" / "hub";
  return fs::path(env("HOME").value_or("/")) / ".cache" / "huggingface" / "hub";
}

bool looks_like_repo_id(std::string_view text) {
  auto valid_part = [](std::string_view part) {
    if (part.empty() || part.size() > 96 || !std::isalnum(static_cast<unsigned char>(part.front()))) return false;
    return std::all_of(part.begin(), part.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    }) && part.find("--") == std::string_view::npos && part.find("..") == std::string_view::npos;
  };
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return valid_part(text);
  return valid_part(text.substr(0, slash)) && valid_part(text.substr(slash + 1));
}

std::optional<fs::path> find_in_hub_cache(std::string_view repo) {
  const fs::path folder = repo_folder(repo);
  if (!is_dir(folder)) return std::nullopt;
  return resolve_repo_folder(folder, repo);
}

Snapshot discover_snapshot(const std::string& path_or_repo) {
  Snapshot snap;
  snap.requested = path_or_repo;
  const fs::path dir = resolve_argument(path_or_repo);
  const fs::path config_path = dir / "config.json";
  if (!is_file(config_path)) {
    std::string hint;
    if (auto repo = hub_repo_of(dir)) hint = fmt::format("; fetch it with: huggingface-cli download {}", *repo);
    throw Error(fmt::format("no config.json: not a Hugging Face model snapshot (expected config.json, "
                            "model.safetensors, tokenizer.json, ...){}", hint), Error::Kind::NotFound)
        .file(dir.string());
  }
  const auto config_json = read_json_file(config_path);
  const ConfigObject config(config_json, config_path.string());
  const fs::path gate_weights = dir / kGateWeights;

  std::optional<std::string> base_model = config.optional_string("base_model");
  fs::path base_dir = dir;
  if (base_model) {
    base_dir = resolve_base_model(*base_model, dir, config_path);
    std::error_code ec;
    if (fs::equivalent(base_dir, dir, ec)) base_model.reset();  // the gates sit in their own base snapshot
  }
  if (base_model) {
    snap.gates = GateFiles{dir, config_path, is_file(gate_weights) ? gate_weights : fs::path(), base_model};
    const fs::path base_config = base_dir / "config.json";
    if (!is_file(base_config))
      throw Error(fmt::format("base_model '{}' resolves to {}, which has no config.json", *base_model,
                              base_dir.string()), Error::Kind::NotFound).file(config_path.string());
    const auto base_json = read_json_file(base_config);
    if (ConfigObject(base_json, base_config.string()).has("base_model"))
      throw Error(fmt::format("base_model '{}' is itself a gate directory (its config.json names a base_model); "
                              "point base_model at the base model's snapshot", *base_model))
          .file(config_path.string());
  } else if (is_file(gate_weights)) {
    snap.gates = GateFiles{dir, config_path, gate_weights, std::nullopt};
  }
  const Scan scan = scan_model(base_dir, snap.gates && snap.gates->base_model ? dir : fs::path());
  snap.model = scan.files;
  snap.missing = list_missing(scan, snap.gates);
  return snap;
}

}  // namespace trimvl::app
