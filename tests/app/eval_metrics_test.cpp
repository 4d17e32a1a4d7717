// Free-form metrics and per-task aggregation of `trimvl eval`. Expected values are worked out by
// hand from the definitions in the headers (lmms-eval's functions), each with its arithmetic in a
// comment.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/eval/aggregate.h"
#include "app/eval/text_metrics.h"
#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

using Answers = std::vector<std::string>;

TEST(NormalizeAnswer, SquadSteps) {
  EXPECT_EQ(normalize_answer("The Cat!"), "cat");                   // "the cat" -> " cat"
  EXPECT_EQ(normalize_answer("  An apple,  a day "), "apple day");  // both articles, comma, spaces
  EXPECT_EQ(normalize_answer("theory"), "theory");                  // "the" inside a word stays
  EXPECT_EQ(normalize_answer("rock_and_roll"), "rockandroll");      // '_' is in string.punctuation
  EXPECT_EQ(normalize_answer("A"), "");
  EXPECT_EQ(normalize_answer("\xC3\x89" "CLAIR au lait."), "\xC3\xA9" "clair au lait");  // ÉCLAIR: Unicode lower-case
  EXPECT_EQ(normalize_answer("red\xC2\xA0" "car"), "red car");  // a no-break space is whitespace to str.split()
  EXPECT_EQ(normalize_answer("caf\xC3\xA9s"), "caf\xC3\xA9s");   // é is a word character: no boundary inside
}

TEST(ExactMatch, NormalisedEqualityWithAnyAnswer) {
  EXPECT_EQ(exact_match("The cat.", Answers{"cat"}), 1.0);
  EXPECT_EQ(exact_match("cats", Answers{"cat"}), 0.0);
  EXPECT_EQ(exact_match("a dog", Answers{"cat", "Dog"}), 1.0);
  EXPECT_EQ(exact_match("The answer is cat", Answers{"cat"}), 0.0);  // the whole response is compared
  // An answer that SQuAD normalises to nothing is compared with fewer steps, so "" cannot match it.
  EXPECT_EQ(exact_match("", Answers{"A"}), 0.0);
  EXPECT_EQ(exact_match("a", Answers{"A"}), 1.0);
  EXPECT_EQ(exact_match("A.", Answers{"A"}), 1.0);
  EXPECT_EQ(exact_match("b", Answers{"A"}), 0.0);
  EXPECT_EQ(exact_match("?", Answers{"?"}), 1.0);
  EXPECT_EQ(exact_match("", Answers{"?"}), 0.0);
}

TEST(Anls, LevenshteinOverRawLengthWithThreshold) {
  // "helo" vs "hello": one insertion; max(len "HELLO", len "HELO") = 5 -> 1 - 1/5.
  EXPECT_DOUBLE_EQ(anls("helo", Answers{"hello"}), 0.8);
  EXPECT_DOUBLE_EQ(anls("Hello", Answers{"hello"}), 1.0);  // lower-cased before the distance
  // Two substitutions over 11 characters.
  EXPECT_DOUBLE_EQ(anls("hxllo wxrld", Answers{"hello world"}), 1.0 - 2.0 / 11.0);
  // The best answer counts: "xyz" is 4 edits over 4 (ratio 1), "hello" 1 over 5.
  EXPECT_DOUBLE_EQ(anls("helo", Answers{"xyz", "hello"}), 0.8);
  // lmms-eval divides by the raw lengths: "helo   " is 7 characters, though compared as "helo".
  EXPECT_DOUBLE_EQ(anls("helo   ", Answers{"hello"}), 1.0 - 1.0 / 7.0);
  // Exactly the threshold stands ("ab"/"ac": 1 - 1/2); below it is 0 ("abcde"/"abxyz": 1 - 3/5).
  EXPECT_DOUBLE_EQ(anls("ab", Answers{"ac"}), 0.5);
  EXPECT_DOUBLE_EQ(anls("abcde", Answers{"abxyz"}), 0.0);
  EXPECT_DOUBLE_EQ(anls("abc", Answers{"xyz"}), 0.0);
  // Code points, not bytes, and str.upper()'s length: "STRASSE" and "straße".upper() both have 7;
  // "strasse" -> "straße" is 2 edits (s->ß, delete s) -> 1 - 2/7.
  EXPECT_DOUBLE_EQ(anls("stra\xC3\x9F" "e", Answers{"STRASSE"}), 1.0 - 2.0 / 7.0);
  EXPECT_DOUBLE_EQ(anls("anything", Answers{}), 0.0);
}

TEST(Numbers, ParseWholeText) {
  EXPECT_EQ(parse_number("1,234"), 1234.0);
  EXPECT_EQ(parse_number("1,234,567.5"), 1234567.5);
  EXPECT_EQ(parse_number("3.5%"), 3.5);
  EXPECT_EQ(parse_number("-2"), -2.0);
  EXPECT_EQ(parse_number("+7"), 7.0);
  EXPECT_EQ(parse_number(".5"), 0.5);
  EXPECT_EQ(parse_number("2e3"), 2000.0);
  EXPECT_EQ(parse_number(" 42 "), 42.0);
  EXPECT_EQ(parse_number("seven"), 7.0);
  EXPECT_EQ(parse_number("Twenty"), 20.0);
  EXPECT_EQ(parse_number("zero"), 0.0);
  EXPECT_EQ(parse_number("1,23"), std::nullopt);  // not a thousands group
  EXPECT_EQ(parse_number("3 cats"), std::nullopt);
  EXPECT_EQ(parse_number("twenty-one"), std::nullopt);
  EXPECT_EQ(parse_number("1e999"), std::nullopt);  // not a finite double
  EXPECT_EQ(parse_number(""), std::nullopt);
}

TEST(Numbers, FirstInText) {
  EXPECT_EQ(first_number("There are three cats and 2 dogs"), 3.0);
  EXPECT_EQ(first_number("The answer is 1,234."), 1234.0);
  EXPECT_EQ(first_number("about 3.5% of them"), 3.5);
  EXPECT_EQ(first_number("H2O has 3 atoms"), 3.0);
  EXPECT_EQ(first_number("COVID-19"), 19.0);
  EXPECT_EQ(first_number("5-6 apples"), 5.0);
  EXPECT_EQ(first_number("twenty-one birds and 4 cats"), 4.0);
  EXPECT_EQ(first_number("v1.2 is out, 7 left"), 7.0);
  EXPECT_EQ(first_number("the 3rd one"), 3.0);
  EXPECT_EQ(first_number("temperature: -4"), -4.0);
  EXPECT_EQ(first_number("someone saw nothing"), std::nullopt);
  EXPECT_EQ(first_number("no numbers here"), std::nullopt);
}

TEST(RelaxedNumeric, RelativeTolerance) {
  EXPECT_EQ(relaxed_numeric("105", Answers{"100"}), 1.0);    // |105 - 100| / 100 = 0.05
  EXPECT_EQ(relaxed_numeric("105.1", Answers{"100"}), 0.0);  // 0.051
  EXPECT_EQ(relaxed_numeric("It is about 95 percent", Answers{"100"}), 1.0);
  EXPECT_EQ(relaxed_numeric("12", Answers{"10", "12.5"}), 1.0);  // 2/10 fails, 0.5/12.5 = 0.04 passes
  EXPECT_EQ(relaxed_numeric("0", Answers{"0"}), 1.0);
  EXPECT_EQ(relaxed_numeric("0.001", Answers{"0"}), 0.0);  // a zero target needs equality
  EXPECT_EQ(relaxed_numeric("three", Answers{"3"}), 1.0);
  EXPECT_EQ(relaxed_numeric("35%", Answers{"35"}), 1.0);
  EXPECT_EQ(relaxed_numeric("no idea", Answers{"3"}), 0.0);
  EXPECT_EQ(relaxed_numeric("3", Answers{"cat"}), 0.0);
  EXPECT_EQ(relaxed_numeric("11", Answers{"10"}, 0.1), 1.0);  // 1/10 within a 10% tolerance
}

TEST(Aggregate, MeanAndSampleStandardError) {
  // mean 0.75; squared deviations 0.0625 + 0.5625 + 0.0625 + 0.0625 = 0.75; /(n-1) = 0.25;
  // sd 0.5; / sqrt(4) = 0.25.
  const std::vector<double> four = {1, 0, 1, 1};
  const MetricSummary s = summarize(four);
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.mean, 0.75);
  ASSERT_TRUE(s.std_error.has_value());
  EXPECT_DOUBLE_EQ(*s.std_error, 0.25);
  // mean 0.5; deviations -0.3, -0.1, 0.4 -> 0.09 + 0.01 + 0.16 = 0.26; /2 = 0.13; / sqrt(3) under the root.
  const std::vector<double> three = {0.2, 0.4, 0.9};
  EXPECT_NEAR(*summarize(three).std_error, std::sqrt(0.13 / 3.0), 1e-12);
  // One value: lmms-eval's "N/A".
  const std::vector<double> one = {0.8};
  EXPECT_EQ(summarize(one).std_error, std::nullopt);
  EXPECT_DOUBLE_EQ(summarize(one).mean, 0.8);
  EXPECT_THROW(summarize(std::vector<double>{}), Error);
}

TEST(Aggregate, PerTaskAndMetric) {
  TaskAggregator agg;
  agg.add("count", {{"exact_match", 1.0}, {"anls", 1.0}});
  agg.add("count", {{"exact_match", 0.0}, {"anls", 0.8}});
  agg.add("colour", {{"exact_match", 1.0}});
  const auto s = agg.summaries();
  ASSERT_EQ(s.size(), 2u);
  // exact_match on count: mean 0.5; deviations ±0.5 -> 0.5 / 1 -> sd sqrt(0.5); / sqrt(2) = 0.5.
  EXPECT_DOUBLE_EQ(s.at("count").at("exact_match").mean, 0.5);
  EXPECT_DOUBLE_EQ(*s.at("count").at("exact_match").std_error, 0.5);
  // anls on count: mean 0.9; deviations ±0.1 -> 0.02 -> sd sqrt(0.02); / sqrt(2) = 0.1.
  EXPECT_DOUBLE_EQ(s.at("count").at("anls").mean, 0.9);
  EXPECT_NEAR(*s.at("count").at("anls").std_error, 0.1, 1e-12);
  EXPECT_EQ(s.at("colour").at("exact_match").n, 1);
  EXPECT_EQ(s.at("colour").at("exact_match").std_error, std::nullopt);
  EXPECT_FALSE(s.at("colour").contains("anls"));
}

}  // namespace
}  // namespace trimvl::app::eval
