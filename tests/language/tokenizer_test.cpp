// Behaviour of trimvl::Tokenizer on small hand-made tokenizer.json files (expected ids worked out
// by hand from HF's rules) and on the real Qwen3 / Llama-2 files (expected ids from their
// vocabularies' documented layout).
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"
#include "language/tokenizer/tokenizer.h"
#include "language/tokenizer/utf8.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const std::string R = std::string(tok::utf8::kReplacement);

// A tokenizer.json around a BPE model; `fields` overrides top-level keys.
json config(json vocab, json merges, json model_fields = json::object(), json fields = json::object()) {
  json model = {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}};
  model.update(model_fields);
  json root = {{"version", "1.0"}, {"added_tokens", json::array()}, {"normalizer", nullptr},
               {"pre_tokenizer", nullptr}, {"post_processor", nullptr}, {"decoder", nullptr}, {"model", model}};
  root.update(fields);
  return root;
}

Tokenizer load(const json& root) {
  test::TempDir dir;
  test::write_file(dir / "tokenizer.json", root.dump());
  return Tokenizer::from_dir(dir.path());
}

json added(const std::string& content, int id, json flags = json::object()) {
  json t = {{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
            {"rstrip", false}, {"normalized", false}, {"special", true}};
  t.update(flags);
  return t;
}

std::string stream_all(const Tokenizer& t, const Ids& ids, std::vector<std::string>* pieces = nullptr,
                       bool skip = false) {
  StreamDecoder d = t.stream_decoder(skip);
  std::string text;
  for (const int32_t id : ids) {
    std::string piece = d.step(id);
    if (pieces) pieces->push_back(piece);
    text += piece;
  }
  return text + d.finish();
}

// The real files, loaded once for the whole binary (the Qwen3 one takes a moment).
const Tokenizer& qwen3() {
  static const Tokenizer t = Tokenizer::from_dir(test::qwen3_tokenizer_dir());
  return t;
}
const Tokenizer& llama2() {
  static const Tokenizer t = Tokenizer::from_dir(test::llama2_tokenizer_dir());
  return t;
}

// ---- BPE ----------------------------------------------------------------------------------------

const json kAbc = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}};

TEST(Bpe, LowestRankMergesFirst) {
  EXPECT_EQ(load(config(kAbc, {"a b", "b c"})).encode("abc"), (Ids{3, 2}));
  EXPECT_EQ(load(config(kAbc, {"b c", "a b"})).encode("abc"), (Ids{0, 4}));
  EXPECT_EQ(load(config(kAbc, {"b c", "a b", "a bc"})).encode("abc"), (Ids{5}));
}

TEST(Bpe, LeftmostOfEqualRanks) {
  EXPECT_EQ(load(config({{"a", 0}, {"aa", 1}}, {"a a"})).encode("aaa"), (Ids{1, 0}));
  EXPECT_EQ(load(config({{"a", 0}, {"aa", 1}, {"aaaa", 2}}, {"a a", "aa aa"})).encode("aaaaa"), (Ids{2, 0}));
}

TEST(Bpe, BothMergeFormats) {
  EXPECT_EQ(load(config(kAbc, json::array({{"b", "c"}, {"a", "bc"}}))).encode("abc"), (Ids{5}));
}

TEST(Bpe, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  // The merges alone would give ab + c; the word itself is in the vocabulary.
  EXPECT_EQ(load(config(kAbc, {"a b"}, {{"ignore_merges", true}})).encode("abc"), (Ids{5}));
  EXPECT_EQ(load(config(kAbc, {"a b"}, {{"ignore_merges", false}})).encode("abc"), (Ids{3, 2}));
}

TEST(Bpe, UnknownCharactersAndFuseUnk) {
  const json vocab = {{"<unk>", 0}, {"a", 1}, {"b", 2}};
  EXPECT_EQ(load(config(vocab, json::array(), {{"unk_token", "<unk>"}})).encode("axyb"), (Ids{1, 0, 0, 2}));
  EXPECT_EQ(load(config(vocab, json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", true}})).encode("axyb"),
            (Ids{1, 0, 2}));
  // Without an unk token HF drops unknown characters.
  EXPECT_EQ(load(config(vocab, json::array())).encode("axyb"), (Ids{1, 2}));
}

TEST(Bpe, ContinuingSubwordPrefixAndEndOfWordSuffix) {
  // Characters after the first carry the prefix, the last one the suffix; a merge drops the
  // right side's prefix: "a" + "##b" -> "ab".
  const json vocab = {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"ab", 3}, {"abc</w>", 4}, {"a</w>", 5}};
  const Tokenizer t = load(config(vocab, {"a ##b", "ab ##c</w>"},
                                  {{"continuing_subword_prefix", "##"}, {"end_of_word_suffix", "</w>"}}));
  EXPECT_EQ(t.encode("abc"), (Ids{4}));
  EXPECT_EQ(t.encode("a"), (Ids{5}));
}

TEST(Bpe, WholeSentencesMergeAcrossMetaspaceWhenTheVocabularyAllows) {
  // Without a pre-tokenizer BPE sees "a▁b" whole. Here "a▁" is a token, so the merge across the
  // "▁" must happen (trimvl cuts such words before "▁" only when no token could join there).
  const json vocab = {{"▁", 0}, {"a", 1}, {"b", 2}, {"a▁", 3}, {"▁b", 4}};
  EXPECT_EQ(load(config(vocab, {"a ▁", "▁ b"})).encode("a▁b"), (Ids{3, 2}));
  EXPECT_EQ(load(config(vocab, {"▁ b", "a ▁"})).encode("a▁b"), (Ids{1, 4}));
}

TEST(Bpe, ByteFallbackSpellsUnknownCharactersInBytes) {
  const Tokenizer& t = llama2();
  const auto id = [&](const char* piece) { return t.piece_to_id(piece).value(); };
  // U+1D11E (F0 9D 84 9E) is not in the Llama-2 vocabulary; the normalizer prepends "▁".
  EXPECT_EQ(t.encode("\xF0\x9D\x84\x9E"), (Ids{id("▁"), id("<0xF0>"), id("<0x9D>"), id("<0x84>"), id("<0x9E>")}));
  // Decoding joins a run of byte tokens into its UTF-8; a run that is not valid UTF-8 becomes
  // one U+FFFD per byte.
  EXPECT_EQ(t.decode(Ids{id("<0xF0>"), id("<0x9D>"), id("<0x84>"), id("<0x9E>")}), "\xF0\x9D\x84\x9E");
  EXPECT_EQ(t.decode(Ids{id("▁a"), id("<0xE4>"), id("<0xB8>"), id("▁b")}), "a" + R + R + " b");
}

// ---- added tokens -------------------------------------------------------------------------------

// Characters a..z, space and newline as single tokens (ids 0..27), no merges.
json char_vocab() {
  json v = json::object();
  for (char c = 'a'; c <= 'z'; ++c) v[std::string(1, c)] = c - 'a';
  v[" "] = 26;
  v["\n"] = 27;
  return v;
}

TEST(AddedTokens, SplitTheRawTextEvenInsideWords) {
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(), {{"added_tokens", {added("<x>", 28)}}}));
  EXPECT_EQ(t.encode("ab<x>cd"), (Ids{0, 1, 28, 2, 3}));
  EXPECT_EQ(t.encode("<x><x>"), (Ids{28, 28}));
  EXPECT_EQ(t.decode(Ids{0, 28, 1}), "a <x> b");  // no decoder: tokens joined with spaces
  EXPECT_EQ(t.decode(Ids{0, 28, 1}, /*skip_special_tokens=*/true), "a b");
  EXPECT_TRUE(t.is_special(28));
  EXPECT_FALSE(t.is_special(0));
  EXPECT_EQ(t.vocab_size(), 29);
}

TEST(Decode, AnEmptyDecoderSequenceJoinsWithNothing) {
  // Reference: HF's decode of the same file ("a <x> b" with "decoder": null).
  const json decoder = {{"type", "Sequence"}, {"decoders", json::array()}};
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(),
                                  {{"decoder", decoder}, {"added_tokens", {added("<x>", 28)}}}));
  EXPECT_EQ(t.decode(Ids{0, 28, 1}), "a<x>b");
}

TEST(AddedTokens, LeftmostLongestMatch) {
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(),
                                  {{"added_tokens", {added("<x>", 28), added("<x><y>", 29), added("y>", 30)}}}));
  EXPECT_EQ(t.encode("a<x><y>y>"), (Ids{0, 29, 30}));
}

TEST(AddedTokens, LstripAndRstripTakeAdjacentWhitespace) {
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(),
                                  {{"added_tokens", {added("<l>", 28, {{"lstrip", true}}),
                                                     added("<r>", 29, {{"rstrip", true}})}}}));
  EXPECT_EQ(t.encode("a  <l>  b"), (Ids{0, 28, 26, 26, 1}));
  EXPECT_EQ(t.encode("a  <r> \n b"), (Ids{0, 26, 26, 29, 1}));
  // lstrip never reaches back into the previous token's span.
  EXPECT_EQ(t.encode("<r>  <l>b"), (Ids{29, 28, 1}));
}

TEST(AddedTokens, SingleWordOnlyMatchesWholeWords) {
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(),
                                  {{"added_tokens", {added("cat", 28, {{"single_word", true}, {"special", false}})}}}));
  EXPECT_EQ(t.encode("a cat"), (Ids{0, 26, 28}));
  EXPECT_EQ(t.encode("cats"), (Ids{2, 0, 19, 18}));
  EXPECT_EQ(t.encode("bobcat"), (Ids{1, 14, 1, 2, 0, 19}));
  EXPECT_EQ(t.encode("cat\n"), (Ids{28, 27}));
}

TEST(AddedTokens, NormalizedTokensMatchAfterNormalization) {
  const json normalizer = {{"type", "Lowercase"}};
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(),
                                  {{"normalizer", normalizer},
                                   {"added_tokens", {added("Hi", 28, {{"normalized", true}}), added("OK", 29)}}}));
  // "Hi" is matched in the lowercased text (as "hi"); "OK" only in the raw text.
  EXPECT_EQ(t.encode("HI ok OK"), (Ids{28, 26, 14, 10, 26, 29}));
}

TEST(AddedTokens, IdsOfKnownContentsComeFromTheVocabulary) {
  // HF numbers added tokens itself: a content the model has keeps the model's id, others
  // follow the model vocabulary, whatever the file says.
  const Tokenizer t = load(config(char_vocab(), json::array(), json::object(),
                                  {{"added_tokens", {added("q", 500), added("<new>", 501)}}}));
  EXPECT_EQ(t.piece_to_id("q"), 16);
  EXPECT_EQ(t.piece_to_id("<new>"), 28);
  EXPECT_EQ(t.encode("<new>q"), (Ids{28, 16}));
}

// ---- invalid UTF-8 --------------------------------------------------------------------------------

TEST(Encode, InvalidUtf8IsReplacedAsPythonDoes) {
  const Tokenizer& t = qwen3();
  EXPECT_EQ(t.encode("a\xFF" "b"), t.encode("a" + R + "b"));
  EXPECT_EQ(t.encode("x\xE4\xB8"), t.encode("x" + R));                 // truncated: one U+FFFD
  EXPECT_EQ(t.encode("\xED\xA0\x80!"), t.encode(R + R + R + "!"));     // surrogate: one per byte
  EXPECT_EQ(t.encode("\xC3\xA9\x80"), t.encode("\xC3\xA9" + R));
}

// ---- decoding and streaming ---------------------------------------------------------------------

TEST(StreamDecoder, HoldsBackUnfinishedCharacters) {
  const Tokenizer& t = qwen3();
  // 中 is E4 B8 AD; byte-level tokens for single bytes are the alphabet characters ä ¸ Ń.
  const Ids ids = {t.piece_to_id("a").value(), t.piece_to_id("\xC3\xA4").value(), t.piece_to_id("\xC2\xB8").value(),
                   t.piece_to_id("\xC5\x83").value(), t.piece_to_id("b").value()};
  std::vector<std::string> pieces;
  EXPECT_EQ(stream_all(t, ids, &pieces), "a\xE4\xB8\xAD" "b");
  EXPECT_EQ(pieces, (std::vector<std::string>{"a", "", "", "\xE4\xB8\xAD", "b"}));
  // An unfinished character at the very end becomes U+FFFD when the stream finishes.
  StreamDecoder d = t.stream_decoder();
  EXPECT_EQ(d.step(ids[1]), "");
  EXPECT_EQ(d.finish(), R);
  EXPECT_EQ(t.decode(Ids{ids[1]}), R);
}

TEST(StreamDecoder, Llama2LeadingSpaceIsStrippedOnlyAtTheStart) {
  const Tokenizer& t = llama2();
  const int32_t hello = t.piece_to_id("▁Hello").value(), world = t.piece_to_id("▁world").value();
  const int32_t bos = t.piece_to_id("<s>").value();
  std::vector<std::string> pieces;
  EXPECT_EQ(stream_all(t, {hello, world, world}, &pieces), "Hello world world");
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hello", " world", " world"}));
  EXPECT_EQ(t.decode(Ids{world}), "world");
  EXPECT_EQ(t.decode(Ids{bos, hello}), "<s> Hello");
  EXPECT_EQ(t.decode(Ids{bos, hello}, true), "Hello");
  EXPECT_EQ(stream_all(t, {bos, hello}, nullptr, true), "Hello");
}

TEST(StreamDecoder, HoldsByteFallbackRunsUntilTheyEnd) {
  const Tokenizer& t = llama2();
  const auto id = [&](const char* piece) { return t.piece_to_id(piece).value(); };
  std::vector<std::string> pieces;
  const Ids ids = {id("▁a"), id("<0xE4>"), id("<0xB8>"), id("<0xAD>"), id("▁b")};
  EXPECT_EQ(stream_all(t, ids, &pieces), "a\xE4\xB8\xAD b");
  // The run could still turn out invalid as a whole (one U+FFFD per byte), so it waits.
  EXPECT_EQ(pieces, (std::vector<std::string>{"a", "", "", "", "\xE4\xB8\xAD b"}));
}

TEST(StreamDecoder, FinishStartsANewSequence) {
  const Tokenizer& t = llama2();
  const int32_t world = t.piece_to_id("▁world").value();
  StreamDecoder d = t.stream_decoder();
  EXPECT_EQ(d.step(world), "world");
  EXPECT_EQ(d.finish(), "");
  EXPECT_EQ(d.step(world), "world");  // the start-of-sequence strip applies again
}

TEST(Decode, UnknownIdsAreSkippedAndPiecesAreChecked) {
  const Tokenizer& t = qwen3();
  EXPECT_EQ(t.vocab_size(), 151669);
  const Ids ids = t.encode("Hi");
  Ids with_unknown = {-5, ids[0], 999'999, 151'669};
  EXPECT_EQ(t.decode(with_unknown), "Hi");
  EXPECT_EQ(t.id_to_piece(151644), "<|im_start|>");
  EXPECT_THROW(t.id_to_piece(151669), Error);
  EXPECT_THROW(t.id_to_piece(-1), Error);
  EXPECT_FALSE(t.piece_to_id("no such piece"));
}

TEST(Encode, AddSpecialTokensUsesThePostProcessor) {
  const Tokenizer& llama = llama2();
  const Ids plain = llama.encode("Hello");
  Ids with_bos = {llama.piece_to_id("<s>").value()};
  with_bos.insert(with_bos.end(), plain.begin(), plain.end());
  EXPECT_EQ(llama.encode("Hello", true), with_bos);
  const Tokenizer& qwen = qwen3();
  EXPECT_EQ(qwen.encode("Hello", true), qwen.encode("Hello"));  // ByteLevel post-processor adds nothing
  EXPECT_TRUE(qwen.encode("").empty());
  EXPECT_EQ(llama.encode("", true), (Ids{llama.piece_to_id("<s>").value()}));
}

}  // namespace
}  // namespace trimvl
