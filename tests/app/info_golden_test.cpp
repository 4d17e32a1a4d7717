// `trimvl info` on tiny checkpoints of the real architectures (tests/golden/gen_checkpoints.py):
// every fact in expected.json comes from transformers' config objects, the module tree, the
// safetensors library or the trimkv classes, and must appear unchanged in our --json output.
#include <cstdlib>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "app/model_info.h"
#include "app/snapshot.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class InfoGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(test::golden_dir("checkpoints"));
    expected_ = new json(json::parse(test::read_file(*dir_ / "expected.json")));
    // The tiny Qwen3-VL lives in a Hugging Face cache layout of its own.
    ::setenv("HF_HUB_CACHE", (*dir_ / "hub").c_str(), 1);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete expected_;
  }

  static json info_json(const std::string& path) {
    return json::parse(render_json(inspect_model(discover_snapshot(path))));
  }

  static const fs::path& dir() { return *dir_; }
  static const json& expected() { return *expected_; }

  static fs::path* dir_;
  static json* expected_;
};
fs::path* InfoGolden::dir_ = nullptr;
json* InfoGolden::expected_ = nullptr;

// Every key of `want` must be in `got` with an equal value (numbers compared as numbers).
void expect_subset(const json& want, const json& got, const std::string& where) {
  if (want.is_object()) {
    ASSERT_TRUE(got.is_object()) << where << ": expected an object, got " << got.dump();
    for (const auto& [key, value] : want.items()) {
      if (!got.contains(key)) {
        ADD_FAILURE() << where << "." << key << " missing from " << got.dump();
        continue;
      }
      expect_subset(value, got.at(key), where + "." + key);
    }
  } else if (want.is_array()) {
    ASSERT_TRUE(got.is_array() && got.size() == want.size()) << where << ": " << got.dump() << " != " << want.dump();
    for (size_t i = 0; i < want.size(); ++i) expect_subset(want[i], got[i], where + "[" + std::to_string(i) + "]");
  } else if (want.is_number() && got.is_number()) {
    EXPECT_EQ(want.get<double>(), got.get<double>()) << where;
  } else {
    EXPECT_EQ(want, got) << where;
  }
}

json without_path(json facts) {
  facts.erase("path");
  return facts;
}

std::vector<std::string> missing_files(const json& info) {
  std::vector<std::string> files;
  for (const auto& m : info.at("missing")) files.push_back(m.at("file"));
  return files;
}

TEST_F(InfoGolden, EveryModelMatchesTransformers) {
  ASSERT_GE(expected().at("models").size(), 7u);
  for (const auto& [name, facts] : expected().at("models").items()) {
    SCOPED_TRACE(name);
    const auto got = info_json((dir() / facts.at("path").get<std::string>()).string());
    expect_subset(without_path(facts), got, name);
    EXPECT_TRUE(fs::equivalent(got.at("path").get<std::string>(), dir() / facts.at("path").get<std::string>()));
    EXPECT_TRUE(got.at("gates").is_null());
  }
}

TEST_F(InfoGolden, HubIdResolvesThroughTheCache) {
  const std::string repo = expected().at("hub_repo");
  const auto got = info_json(repo);
  EXPECT_EQ(got.at("hub_repo"), repo);
  EXPECT_TRUE(fs::equivalent(got.at("path").get<std::string>(),
                             dir() / expected().at("models").at("qwen3vl").at("path").get<std::string>()));
  // The cache folder itself is accepted too.
  const auto folder = dir() / "hub" / "models--trimvl-test--Qwen3-VL-Tiny";
  EXPECT_EQ(info_json(folder.string()).at("path"), got.at("path"));
}

TEST_F(InfoGolden, GateDirectoriesResolveTheirBaseAndMatchTheReference) {
  ASSERT_GE(expected().at("gates").size(), 4u);
  for (const auto& [name, facts] : expected().at("gates").items()) {
    SCOPED_TRACE(name);
    const auto got = info_json((dir() / "gates" / name).string());
    expect_subset(facts, got.at("gates"), name + ".gates");
    const std::string base = facts.at("base_model");
    const auto& base_facts = expected().at("models").at(base == expected().at("hub_repo").get<std::string>() ? "qwen3vl" : fs::path(base).filename().string());
    expect_subset(without_path(base_facts), got, name);
    EXPECT_TRUE(fs::equivalent(got.at("path").get<std::string>(), dir() / base_facts.at("path").get<std::string>()));
    EXPECT_TRUE(fs::equivalent(got.at("files").at("gate_weights").get<std::string>(),
                               dir() / "gates" / name / "trimkv_weights.pth"));
  }
}

TEST_F(InfoGolden, ListsWhatEachSnapshotLacks) {
  EXPECT_TRUE(missing_files(info_json(expected().at("hub_repo"))).empty());
  EXPECT_EQ(missing_files(info_json((dir() / "llava").string())),
            (std::vector<std::string>{"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                                      "preprocessor_config.json"}));
  EXPECT_EQ(missing_files(info_json((dir() / "qwen3").string())),
            (std::vector<std::string>{"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}));
  const auto hub_config = info_json((dir() / "configs" / "qwen3vl-4b-hub").string());
  EXPECT_EQ(missing_files(hub_config).front(), "model.safetensors");
  EXPECT_TRUE(hub_config.at("weights").is_null());
}

TEST_F(InfoGolden, BaseModelNotDownloadedSaysWhatToFetch) {
  const auto gate_dir = dir() / "gates" / "missing-base";
  try {
    discover_snapshot(gate_dir.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::NotFound);
    EXPECT_EQ(e.file(), (gate_dir / "config.json").string());
    EXPECT_NE(std::string(e.what()).find("huggingface-cli download trimvl-test/Not-Downloaded"), std::string::npos)
        << e.what();
  }
}

TEST_F(InfoGolden, LlmGatesOnAVlmAreRefusedBeforeAnyCompute) {
  try {
    inspect_model(discover_snapshot((dir() / "gates" / "llm-gates-on-vlm").string()));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different architecture"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trimvl::app
