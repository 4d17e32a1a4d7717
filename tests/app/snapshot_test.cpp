// Snapshot discovery on hand-built directories and Hugging Face cache layouts (placeholder file
// contents: discovery reads only config.json, the shard index and tokenizer_config.json).
#include "app/snapshot.h"

#include <cstdlib>
#include <optional>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;

// Sets (or unsets) an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

const char* kLlmConfig = R"({"model_type": "qwen3", "hidden_size": 32})";
const char* kVlmConfig = R"({"model_type": "qwen3_vl", "text_config": {}})";

void write_complete_llm(const fs::path& dir) {
  test::write_file(dir / "config.json", kLlmConfig);
  for (const char* f : {"generation_config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"})
    test::write_file(dir / f, "x");
  test::write_file(dir / "tokenizer_config.json", "{}");
}

std::vector<std::string> missing_names(const Snapshot& s) {
  std::vector<std::string> out;
  for (const auto& m : s.missing) out.push_back(m.file);
  return out;
}

const MissingFile* find_missing(const Snapshot& s, const std::string& file) {
  for (const auto& m : s.missing)
    if (m.file == file) return &m;
  return nullptr;
}

// Runs `f` and expects one Error of `kind` whose text contains every fragment.
template <typename F>
Error expect_error(F f, Error::Kind kind, const std::vector<std::string>& fragments) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& frag : fragments)
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << "'" << frag << "' not in: " << e.what();
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error("none");
}

class SnapshotTest : public ::testing::Test {
 protected:
  test::TempDir tmp;
  ScopedEnv hub{"HF_HUB_CACHE", (tmp.path() / "hub").string()};

  // models--Org--Name with one snapshot per commit; refs/main names `main` when given.
  fs::path hub_snapshot(const std::string& folder, const std::string& commit) {
    const auto dir = tmp.path() / "hub" / folder / "snapshots" / commit;
    fs::create_directories(dir);
    return dir;
  }
  void hub_ref(const std::string& folder, const std::string& commit) {
    test::write_file(tmp.path() / "hub" / folder / "refs" / "main", commit);
  }
};

TEST_F(SnapshotTest, FindsEveryFileOfAnLlmSnapshot) {
  write_complete_llm(tmp.path() / "m");
  const auto s = discover_snapshot((tmp / "m").string());
  EXPECT_EQ(s.model.dir, tmp.path() / "m");
  EXPECT_FALSE(s.model.hub_repo);
  EXPECT_EQ(s.model.weights, tmp.path() / "m" / "model.safetensors");
  EXPECT_FALSE(s.model.sharded);
  EXPECT_EQ(s.model.tokenizer, tmp.path() / "m" / "tokenizer.json");
  EXPECT_EQ(s.model.chat_template, tmp.path() / "m" / "chat_template.jinja");
  EXPECT_EQ(s.model.generation_config, tmp.path() / "m" / "generation_config.json");
  EXPECT_TRUE(s.model.preprocessor_config.empty());  // an LLM needs none
  EXPECT_FALSE(s.gates);
  EXPECT_TRUE(s.missing.empty()) << missing_names(s).front();
}

TEST_F(SnapshotTest, ListsWhatAnEmptySnapshotLacks) {
  test::write_file(tmp / "m" / "config.json", kVlmConfig);
  const auto s = discover_snapshot((tmp / "m").string());
  EXPECT_EQ(missing_names(s), (std::vector<std::string>{"model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                                        "chat_template.jinja", "preprocessor_config.json"}));
  EXPECT_NE(s.missing.front().hint.find((tmp / "m").string()), std::string::npos) << s.missing.front().hint;
}

TEST_F(SnapshotTest, ChatTemplateMayLiveInTokenizerConfig) {
  write_complete_llm(tmp / "m");
  fs::remove(tmp / "m" / "chat_template.jinja");
  test::write_file(tmp / "m" / "tokenizer_config.json", R"({"chat_template": "{{ messages }}"})");
  EXPECT_EQ(discover_snapshot((tmp / "m").string()).model.chat_template, tmp / "m" / "tokenizer_config.json");
  test::write_file(tmp / "m" / "chat_template.json", "{}");
  EXPECT_EQ(discover_snapshot((tmp / "m").string()).model.chat_template, tmp / "m" / "chat_template.json");
}

TEST_F(SnapshotTest, ShardIndexNamesEachMissingShard) {
  write_complete_llm(tmp / "m");
  fs::remove(tmp / "m" / "model.safetensors");
  test::write_file(tmp / "m" / "model.safetensors.index.json",
                   R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                       "c": "model-00001-of-00002.safetensors"}})");
  test::write_file(tmp / "m" / "model-00001-of-00002.safetensors", "x");
  const auto s = discover_snapshot((tmp / "m").string());
  EXPECT_TRUE(s.model.sharded);
  EXPECT_EQ(s.model.shards, (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                                      "model-00002-of-00002.safetensors"}));
  EXPECT_EQ(missing_names(s), std::vector<std::string>{"model-00002-of-00002.safetensors"});
}

TEST_F(SnapshotTest, BrokenShardIndex) {
  write_complete_llm(tmp / "m");
  fs::remove(tmp / "m" / "model.safetensors");
  test::write_file(tmp / "m" / "model.safetensors.index.json", R"({"metadata": {}})");
  const auto e = expect_error([&] { discover_snapshot((tmp / "m").string()); }, Error::Kind::InvalidInput,
                              {"weight_map"});
  EXPECT_EQ(e.file(), (tmp / "m" / "model.safetensors.index.json").string());
}

TEST_F(SnapshotTest, PytorchBinWeightsAreNamedAsUnsupported) {
  write_complete_llm(tmp / "m");
  fs::remove(tmp / "m" / "model.safetensors");
  test::write_file(tmp / "m" / "pytorch_model.bin", "x");
  const auto s = discover_snapshot((tmp / "m").string());
  const auto* m = find_missing(s, "model.safetensors");
  ASSERT_NE(m, nullptr);
  EXPECT_NE(m->why.find("safetensors weights only"), std::string::npos);
}

// ---- the Hugging Face cache --------------------------------------------------------------------

TEST_F(SnapshotTest, HubIdResolvesThroughRefsMain) {
  hub_snapshot("models--Org--Name", "aaa");
  const auto dir = hub_snapshot("models--Org--Name", "bbb");
  hub_ref("models--Org--Name", "bbb\n");
  test::write_file(dir / "config.json", kVlmConfig);
  const auto s = discover_snapshot("Org/Name");
  EXPECT_EQ(s.model.dir, dir);
  ASSERT_TRUE(s.model.hub_repo);
  EXPECT_EQ(*s.model.hub_repo, "Org/Name");
  const auto* tokenizer = find_missing(s, "tokenizer.json");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->hint, "huggingface-cli download Org/Name tokenizer.json");
  // The cache folder and the snapshot directory name the same model.
  EXPECT_EQ(discover_snapshot((tmp / "hub" / "models--Org--Name").string()).model.dir, dir);
  EXPECT_EQ(discover_snapshot(dir.string()).model.hub_repo, "Org/Name");
}

TEST_F(SnapshotTest, SingleSnapshotWithoutRefs) {
  const auto dir = hub_snapshot("models--solo", "ccc");
  test::write_file(dir / "config.json", kLlmConfig);
  EXPECT_EQ(discover_snapshot("solo").model.dir, dir);
}

TEST_F(SnapshotTest, SeveralSnapshotsWithoutRefsAreAmbiguous) {
  hub_snapshot("models--Org--Name", "aaa");
  hub_snapshot("models--Org--Name", "bbb");
  expect_error([] { discover_snapshot("Org/Name"); }, Error::Kind::InvalidInput,
               {"2 snapshots (aaa, bbb)", "no refs/main", "snapshots/aaa"});
}

TEST_F(SnapshotTest, RefsMainNamingAMissingSnapshot) {
  hub_snapshot("models--Org--Name", "aaa");
  hub_ref("models--Org--Name", "fff");
  expect_error([] { discover_snapshot("Org/Name"); }, Error::Kind::NotFound,
               {"refs/main names snapshot fff", "huggingface-cli download Org/Name"});
}

TEST_F(SnapshotTest, SnapshotWithoutConfigSaysWhatToDownload) {
  hub_snapshot("models--Org--Name", "aaa");
  expect_error([] { discover_snapshot("Org/Name"); }, Error::Kind::NotFound,
               {"no config.json", "huggingface-cli download Org/Name"});
}

TEST_F(SnapshotTest, UnknownHubIdSaysWhatToDownload) {
  expect_error([] { discover_snapshot("Qwen/Qwen3-VL-4B-Instruct"); }, Error::Kind::NotFound,
               {"neither a directory nor a model in the Hugging Face cache", "models--Qwen--Qwen3-VL-4B-Instruct",
                "huggingface-cli download Qwen/Qwen3-VL-4B-Instruct"});
}

TEST_F(SnapshotTest, CacheLocationFollowsHuggingFaceEnvironment) {
  EXPECT_EQ(hub_cache_dir(), tmp / "hub");
  ScopedEnv no_hub("HF_HUB_CACHE", std::nullopt), no_legacy("HUGGINGFACE_HUB_CACHE", std::nullopt);
  {
    ScopedEnv home("HF_HOME", "/hf");
    EXPECT_EQ(hub_cache_dir(), fs::path("/hf/hub"));
  }
  ScopedEnv no_home("HF_HOME", std::nullopt);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(hub_cache_dir(), fs::path("/xdg/huggingface/hub"));
  }
  ScopedEnv no_xdg("XDG_CACHE_HOME", std::nullopt), user_home("HOME", "/home/u");
  EXPECT_EQ(hub_cache_dir(), fs::path("/home/u/.cache/huggingface/hub"));
}

TEST_F(SnapshotTest, RepoIdSyntax) {
  EXPECT_TRUE(looks_like_repo_id("Qwen/Qwen3-VL-4B-Instruct"));
  EXPECT_TRUE(looks_like_repo_id("llava-hf/llava-1.5-7b-hf"));
  EXPECT_TRUE(looks_like_repo_id("gpt2"));
  EXPECT_FALSE(looks_like_repo_id("../base"));
  EXPECT_FALSE(looks_like_repo_id("a/b/c"));
  EXPECT_FALSE(looks_like_repo_id("/abs/path"));
  EXPECT_FALSE(looks_like_repo_id("Org/na--me"));
  EXPECT_FALSE(looks_like_repo_id(""));
}

// ---- gate directories ----------------------------------------------------------------------

TEST_F(SnapshotTest, GateDirectoryResolvesAHubBase) {
  const auto base = hub_snapshot("models--Org--Base", "aaa");
  write_complete_llm(base);
  test::write_file(tmp / "g" / "config.json", R"({"model_type": "qwen3", "base_model": "Org/Base"})");
  test::write_file(tmp / "g" / "trimkv_weights.pth", "x");
  const auto s = discover_snapshot((tmp / "g").string());
  EXPECT_EQ(s.model.dir, base);
  ASSERT_TRUE(s.gates);
  EXPECT_EQ(s.gates->dir, tmp / "g");
  EXPECT_EQ(s.gates->config, tmp / "g" / "config.json");
  EXPECT_EQ(s.gates->weights, tmp / "g" / "trimkv_weights.pth");
  EXPECT_EQ(s.gates->base_model, "Org/Base");
  EXPECT_TRUE(s.missing.empty());
}

TEST_F(SnapshotTest, GateDirectoryResolvesARelativeBaseAndFillsGapsFromItself) {
  write_complete_llm(tmp / "models" / "base");
  fs::remove(tmp / "models" / "base" / "tokenizer.json");
  test::write_file(tmp / "models" / "gates" / "config.json", R"({"model_type": "qwen3", "base_model": "../base"})");
  test::write_file(tmp / "models" / "gates" / "trimkv_weights.pth", "x");
  test::write_file(tmp / "models" / "gates" / "tokenizer.json", "x");  // trimkv saves the processor beside the gates
  const auto s = discover_snapshot((tmp / "models" / "gates").string());
  EXPECT_EQ(s.model.dir, tmp / "models" / "base");
  EXPECT_EQ(s.model.tokenizer, tmp / "models" / "gates" / "tokenizer.json");
  EXPECT_EQ(s.model.weights, tmp / "models" / "base" / "model.safetensors");
  EXPECT_TRUE(s.missing.empty());
}

TEST_F(SnapshotTest, GatesInsideTheBaseSnapshot) {
  write_complete_llm(tmp / "m");
  test::write_file(tmp / "m" / "trimkv_weights.pth", "x");
  const auto s = discover_snapshot((tmp / "m").string());
  ASSERT_TRUE(s.gates);
  EXPECT_FALSE(s.gates->base_model);
  EXPECT_EQ(s.gates->config, tmp / "m" / "config.json");
  EXPECT_EQ(s.model.dir, tmp / "m");
}

TEST_F(SnapshotTest, GateDirectoryWithoutItsWeights) {
  write_complete_llm(tmp / "base");
  test::write_file(tmp / "g" / "config.json", R"({"model_type": "qwen3", "base_model": "../base"})");
  const auto s = discover_snapshot((tmp / "g").string());
  ASSERT_TRUE(s.gates);
  EXPECT_TRUE(s.gates->weights.empty());
  EXPECT_EQ(missing_names(s), std::vector<std::string>{"trimkv_weights.pth"});
}

TEST_F(SnapshotTest, BaseModelNotDownloaded) {
  test::write_file(tmp / "g" / "config.json", R"({"model_type": "qwen3_vl", "base_model": "Qwen/Qwen3-VL-4B-Instruct"})");
  test::write_file(tmp / "g" / "trimkv_weights.pth", "x");
  const auto e = expect_error([&] { discover_snapshot((tmp / "g").string()); }, Error::Kind::NotFound,
                              {"base_model 'Qwen/Qwen3-VL-4B-Instruct' is not available locally",
                               "never downloads", "huggingface-cli download Qwen/Qwen3-VL-4B-Instruct"});
  EXPECT_EQ(e.file(), (tmp / "g" / "config.json").string());
}

TEST_F(SnapshotTest, BaseModelPathDoesNotExist) {
  test::write_file(tmp / "g" / "config.json", R"({"model_type": "qwen3", "base_model": "/nonexistent/base"})");
  expect_error([&] { discover_snapshot((tmp / "g").string()); }, Error::Kind::NotFound,
               {"base_model '/nonexistent/base' does not exist"});
}

TEST_F(SnapshotTest, BaseModelThatIsItselfAGateDirectory) {
  test::write_file(tmp / "g1" / "config.json", R"({"model_type": "qwen3", "base_model": "../g2"})");
  test::write_file(tmp / "g2" / "config.json", R"({"model_type": "qwen3", "base_model": "../base"})");
  expect_error([&] { discover_snapshot((tmp / "g1").string()); }, Error::Kind::InvalidInput,
               {"is itself a gate directory"});
}

TEST_F(SnapshotTest, BaseModelNamingTheGateDirectoryItself) {
  write_complete_llm(tmp / "m");
  test::write_file(tmp / "m" / "config.json", R"({"model_type": "qwen3", "base_model": "."})");
  test::write_file(tmp / "m" / "trimkv_weights.pth", "x");
  const auto s = discover_snapshot((tmp / "m").string());
  ASSERT_TRUE(s.gates);
  EXPECT_FALSE(s.gates->base_model);
  EXPECT_EQ(s.model.dir, tmp / "m");
}

// ---- bad arguments and bad config.json -----------------------------------------------------

TEST_F(SnapshotTest, NoSuchDirectory) {
  expect_error([&] { discover_snapshot((tmp / "nope").string()); }, Error::Kind::NotFound, {"no such directory"});
}

TEST_F(SnapshotTest, AFileIsNotAModel) {
  test::write_file(tmp / "config.json", kLlmConfig);
  expect_error([&] { discover_snapshot((tmp / "config.json").string()); }, Error::Kind::InvalidInput,
               {"expected a model directory, got a file"});
}

TEST_F(SnapshotTest, MissingConfigJson) {
  fs::create_directories(tmp / "m");
  const auto e = expect_error([&] { discover_snapshot((tmp / "m").string()); }, Error::Kind::NotFound,
                              {"no config.json", "not a Hugging Face model snapshot"});
  EXPECT_EQ(e.file(), (tmp / "m").string());
}

TEST_F(SnapshotTest, InvalidConfigJson) {
  test::write_file(tmp / "m" / "config.json", "{\n  \"model_type\": \"qwen3\",\n}");
  const auto e = expect_error([&] { discover_snapshot((tmp / "m").string()); }, Error::Kind::InvalidInput,
                              {"invalid JSON", "line 3"});
  EXPECT_EQ(e.file(), (tmp / "m" / "config.json").string());
}

TEST_F(SnapshotTest, ConfigJsonThatIsNotAnObject) {
  test::write_file(tmp / "m" / "config.json", "[1, 2]");
  expect_error([&] { discover_snapshot((tmp / "m").string()); }, Error::Kind::InvalidInput,
               {"expected a JSON object"});
}

TEST_F(SnapshotTest, BaseModelOfTheWrongType) {
  test::write_file(tmp / "g" / "config.json", R"({"model_type": "qwen3", "base_model": 7})");
  expect_error([&] { discover_snapshot((tmp / "g").string()); }, Error::Kind::InvalidInput,
               {"key 'base_model': expected a string, got 7"});
}

}  // namespace
}  // namespace trimvl::app
