// Parity with HF `tokenizers` 0.22.2 on the corpus of tests/golden/gen_tokenizer.py: the real Qwen3
// and Llama-2 tokenizer.json files and variants that exercise the other supported components.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "language/tokenizer/regex.h"
#include "language/tokenizer/tokenizer.h"
#include "language/tokenizer/utf8.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json load_json(const fs::path& path) { return json::parse(test::read_file(path)); }

// The outputs of gen_tokenizer.py, which the golden_generate fixture links in. (This is what
// test::golden_dir() checks; support/golden.cpp is not part of the test support library on this
// branch yet.)
fs::path golden() {
  const fs::path dir = test::env_path("TRIMVL_GOLDEN_DIR") / "tokenizer";
  if (!fs::exists(dir / ".complete"))
    throw std::runtime_error("golden outputs for 'tokenizer' are missing in " + dir.string() +
                             " (run ctest, whose golden_generate fixture runs tests/golden/gen_tokenizer.py)");
  return dir;
}

struct Sample {
  std::string bytes;  // what encode() gets
  std::string text;   // as HF saw it: invalid UTF-8 replaced
};

std::vector<Sample> load_corpus(const fs::path& path) {
  std::vector<Sample> out;
  const json corpus = load_json(path);
  for (const json& s : corpus.at("samples")) {
    Sample sample{"", s.at("text").get<std::string>()};
    if (s.contains("hex")) {
      const std::string hex = s.at("hex").get<std::string>();
      for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        sample.bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    } else {
      sample.bytes = sample.text;
    }
    out.push_back(std::move(sample));
  }
  return out;
}

std::vector<int32_t> ids_of(const json& j) { return j.get<std::vector<int32_t>>(); }

std::optional<std::string> optional_text(const json& j) {
  if (j.is_null()) return std::nullopt;  // HF panicked: no reference
  return j.get<std::string>();
}

std::string show(const std::string& s) { return json(s).dump(-1, ' ', true); }

// Where two id sequences part, with a little context, for a failure message.
std::string first_difference(const std::vector<int32_t>& actual, const std::vector<int32_t>& expected) {
  std::size_t i = 0;
  while (i < actual.size() && i < expected.size() && actual[i] == expected[i]) ++i;
  const auto slice = [&](const std::vector<int32_t>& v) {
    std::string s;
    for (std::size_t k = i >= 3 ? i - 3 : 0; k < std::min(v.size(), i + 5); ++k) s += std::to_string(v[k]) + " ";
    return s;
  };
  return "first difference at index " + std::to_string(i) + " (lengths " + std::to_string(actual.size()) + " vs " +
         std::to_string(expected.size()) + "): actual ... " + slice(actual) + "| expected ... " + slice(expected);
}

// Feeds ids one by one; checks every piece is valid UTF-8 and returns their concatenation.
std::string stream(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
  StreamDecoder decoder = tokenizer.stream_decoder(skip_special);
  std::string text;
  for (const int32_t id : ids) {
    const std::string piece = decoder.step(id);
    EXPECT_TRUE(tok::utf8::is_valid(piece)) << "stream piece " << show(piece) << " splits a character";
    text += piece;
  }
  const std::string rest = decoder.finish();
  EXPECT_TRUE(tok::utf8::is_valid(rest));
  return text + rest;
}

// Every check of one tokenizer against one reference file. Failures are reported for the first
// few samples only, with counts at the end, so a systematic bug does not flood the log.
void check_parity(const Tokenizer& tokenizer, const std::vector<Sample>& corpus, const json& expected) {
  EXPECT_EQ(tokenizer.vocab_size(), expected.at("vocab_size").get<int32_t>());
  const json& samples = expected.at("samples");
  ASSERT_EQ(samples.size(), corpus.size());
  int id_failures = 0, decode_failures = 0, roundtrips = 0, stream_failures = 0;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const json& e = samples[i];
    const std::vector<int32_t> want = ids_of(e.at("ids"));
    const std::vector<int32_t> got = tokenizer.encode(corpus[i].bytes);
    if (got != want && ++id_failures <= 5)
      ADD_FAILURE() << "sample " << i << " " << show(corpus[i].text.substr(0, 300)) << ": " << first_difference(got, want);
    if (e.contains("ids_special")) {
      const std::vector<int32_t> special = tokenizer.encode(corpus[i].bytes, true);
      if (special != ids_of(e.at("ids_special")) && ++id_failures <= 5)
        ADD_FAILURE() << "sample " << i << " with special tokens: " << first_difference(special, ids_of(e.at("ids_special")));
    }
    for (const bool skip : {false, true}) {
      const std::string decoded = tokenizer.decode(want, skip);
      if (stream(tokenizer, want, skip) != decoded && ++stream_failures <= 5)
        ADD_FAILURE() << "sample " << i << ": streamed decode differs from decode (skip=" << skip << ")";
      const auto reference = optional_text(e.at(skip ? "decode_skip" : "decode"));
      if (reference && decoded != *reference && ++decode_failures <= 5)
        ADD_FAILURE() << "sample " << i << " decode(skip_special_tokens=" << skip << "): " << show(decoded)
                      << " != " << show(*reference);
    }
    // decode(encode(x)) == x wherever it holds for HF.
    if (optional_text(e.at("decode")) == corpus[i].text) {
      ++roundtrips;
      EXPECT_EQ(tokenizer.decode(got), corpus[i].text) << "sample " << i << " does not round-trip";
    }
  }
  for (const json& r : expected.at("random")) {
    const std::vector<int32_t> ids = ids_of(r.at("ids"));
    for (const bool skip : {false, true}) {
      const std::string decoded = tokenizer.decode(ids, skip);
      if (stream(tokenizer, ids, skip) != decoded && ++stream_failures <= 5)
        ADD_FAILURE() << "random ids " << r.at("ids").dump() << ": streamed decode differs from decode";
      const auto reference = optional_text(r.at(skip ? "decode_skip" : "decode"));
      if (reference && decoded != *reference && ++decode_failures <= 5)
        ADD_FAILURE() << "random ids " << r.at("ids").dump() << " decode(skip=" << skip << "): " << show(decoded)
                      << " != " << show(*reference);
    }
  }
  for (const json& p : expected.at("pieces"))
    EXPECT_EQ(tokenizer.id_to_piece(p.at(0).get<int32_t>()), p.at(1).get<std::string>());
  EXPECT_EQ(id_failures, 0) << "samples with different ids";
  EXPECT_EQ(decode_failures, 0) << "decodes that differ from HF's";
  EXPECT_EQ(stream_failures, 0) << "streamed decodes that differ from decode()";
  std::cout << "  " << corpus.size() << " samples, " << expected.at("random").size() << " random id sequences, "
            << roundtrips << " round trips checked\n";
}

class RealTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(RealTokenizer, MatchesHuggingFace) {
  const fs::path dir = golden();
  const std::vector<Sample> corpus = load_corpus(dir / "corpus.json");
  std::size_t bytes = 0;
  for (const Sample& s : corpus) bytes += s.bytes.size();
  ASSERT_GE(bytes, 1'000'000u) << "the parity corpus must be at least 1 MB";
  const Tokenizer tokenizer = Tokenizer::from_dir(test::shared_dir() / "assets" / (GetParam() + "-tokenizer"));
  check_parity(tokenizer, corpus, load_json(dir / (GetParam() + ".json")));
}

INSTANTIATE_TEST_SUITE_P(Golden, RealTokenizer, ::testing::Values("qwen3", "llama2"));

TEST(TokenizerGolden, VariantsMatchHuggingFace) {
  const fs::path dir = golden() / "variants";
  const std::vector<Sample> corpus = load_corpus(dir / "corpus.json");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().string().ends_with(".tokenizer.json")) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u) << "variant tokenizers are missing from " << dir;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string().substr(0, file.filename().string().find('.'));
    SCOPED_TRACE(name);
    std::cout << name << "\n";
    check_parity(Tokenizer::from_file(file), corpus, load_json(dir / (name + ".json")));
  }
}

// The code points each single-character pattern matches, against HF's regex engine (Oniguruma,
// Unicode 16), over every assigned and unassigned code point outside the empty and private
// planes: the compatibility rewrite (language/tokenizer/onig_compat.h) on PCRE2's tables.
TEST(TokenizerGolden, RegexCharacterSetsMatchOniguruma) {
  const json classes = load_json(golden() / "classes.json");
  std::string every;
  for (const json& range : classes.at("domain"))
    for (auto cp = range.at(0).get<char32_t>(); cp <= range.at(1).get<char32_t>(); ++cp) tok::utf8::append(every, cp);
  const json& sets = classes.at("sets");
  ASSERT_GE(sets.size(), 60u);
  for (const json& entry : sets) {
    const std::string pattern = entry.at("pattern").get<std::string>();
    std::vector<std::pair<uint32_t, uint32_t>> runs;
    tok::Regex(pattern).for_each_match(every, [&](std::size_t start, std::size_t end) {
      for (std::size_t i = start; i < end;) {
        const auto cp = static_cast<uint32_t>(tok::utf8::next(every, i));
        if (!runs.empty() && runs.back().second + 1 == cp) runs.back().second = cp;
        else runs.emplace_back(cp, cp);
      }
    });
    const auto expected = entry.at("ranges").get<std::vector<std::pair<uint32_t, uint32_t>>>();
    if (runs == expected) continue;
    std::size_t k = 0;
    while (k < runs.size() && k < expected.size() && runs[k] == expected[k]) ++k;
    const auto show_run = [](const std::vector<std::pair<uint32_t, uint32_t>>& v, std::size_t k) {
      return k < v.size() ? fmt::format("U+{:04X}..U+{:04X}", v[k].first, v[k].second) : std::string("none");
    };
    ADD_FAILURE() << "/" << pattern << "/: run " << k << " is " << show_run(runs, k) << ", HF's is " << show_run(expected, k);
  }
}

// Concurrent const use: four threads encode the corpus through one Tokenizer (and its shared
// word cache) and must all get HF's ids.
TEST(TokenizerGolden, ConcurrentEncodeMatches) {
  const fs::path dir = golden();
  const std::vector<Sample> corpus = load_corpus(dir / "corpus.json");
  const json expected = load_json(dir / "qwen3.json").at("samples");
  ASSERT_EQ(corpus.size(), expected.size());
  ASSERT_FALSE(corpus.empty());
  const Tokenizer tokenizer = Tokenizer::from_dir(test::qwen3_tokenizer_dir());
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t k = 0; k < corpus.size(); ++k) {
        const std::size_t i = (k + static_cast<std::size_t>(t) * corpus.size() / 4) % corpus.size();
        if (tokenizer.encode(corpus[i].bytes) != ids_of(expected[i].at("ids"))) ++failures[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace trimvl
