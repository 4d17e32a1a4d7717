// Per-sample scoring (app/eval/task_metrics.h) and the MCQ prompt (app/eval/prompt.h) of
// `trimvl eval`: which metrics a sample gets and the values the metric functions give them.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/eval/prompt.h"
#include "app/eval/task_metrics.h"

namespace trimvl::app::eval {
namespace {

using Answers = std::vector<std::string>;

Sample mcq_sample() {
  Sample s;
  s.id = "1";
  s.task = "animals";
  s.messages = {Message{Role::User, {Part::image("/data/pet.png"), Part::of_text("Which animal is this?")}}};
  s.choices = {"cat", "dog"};
  s.answers = {"B"};
  return s;
}

Sample free_sample(Answers answers) {
  Sample s;
  s.id = "2";
  s.task = "count";
  s.messages = {Message{Role::User, {Part::of_text("How many?")}}};
  s.answers = std::move(answers);
  return s;
}

TEST(ScoreResponse, MultipleChoiceScoresTheExtractedLetter) {
  const Sample s = mcq_sample();
  SampleScore r = score_response(s, "The answer is (B).");
  EXPECT_EQ(r.filtered_response, "B");
  EXPECT_EQ(r.metrics, (std::map<std::string, double>{{"exact_match", 1.0}}));
  r = score_response(s, "cat");
  EXPECT_EQ(r.filtered_response, "A");
  EXPECT_EQ(r.metrics.at("exact_match"), 0.0);
  r = score_response(s, "I don't know");
  EXPECT_EQ(r.filtered_response, "");
  EXPECT_EQ(r.metrics.at("exact_match"), 0.0);
  // Only what follows the reasoning counts.
  r = score_response(s, "<think>It could be A.</think>\nB");
  EXPECT_EQ(r.filtered_response, "B");
  EXPECT_EQ(r.metrics.at("exact_match"), 1.0);
  // Likelihood multiple choice goes through the letter.
  EXPECT_EQ(score_response(s, "B").metrics.at("exact_match"), 1.0);
}

TEST(ScoreResponse, FreeFormMetrics) {
  SampleScore r = score_response(free_sample({"3"}), "3");
  EXPECT_EQ(r.metrics, (std::map<std::string, double>{{"anls", 1.0}, {"exact_match", 1.0}, {"relaxed_numeric", 1.0}}));
  // "three." vs "3": 6 edits over 6 characters -> ANLS 0; not equal; the number matches.
  r = score_response(free_sample({"3"}), "Three.");
  EXPECT_EQ(r.filtered_response, "three");
  EXPECT_EQ(r.metrics, (std::map<std::string, double>{{"anls", 0.0}, {"exact_match", 0.0}, {"relaxed_numeric", 1.0}}));
  // Text answers get no numeric metric; a list is numeric only when every answer is.
  r = score_response(free_sample({"red car"}), "A red car.");
  EXPECT_EQ(r.metrics.at("exact_match"), 1.0);
  EXPECT_FALSE(r.metrics.contains("relaxed_numeric"));
  EXPECT_TRUE(score_response(free_sample({"3", "three"}), "3").metrics.contains("relaxed_numeric"));
  EXPECT_FALSE(score_response(free_sample({"3", "many"}), "3").metrics.contains("relaxed_numeric"));
}

TEST(Prompt, McqOptionsAsMmmuWritesThem) {
  const std::vector<std::string> choices = {"cat", "dog"};
  EXPECT_EQ(mcq_prompt("Which animal is this?", choices),
            "Which animal is this?\nA. cat\nB. dog\n\nAnswer with the option's letter from the given choices directly.");
  const std::vector<Message> m = prompt_messages(mcq_sample());
  ASSERT_EQ(m.size(), 1u);
  ASSERT_EQ(m[0].parts.size(), 2u);
  EXPECT_EQ(m[0].parts[0].path, "/data/pet.png");
  EXPECT_EQ(m[0].parts[1].text, mcq_prompt("Which animal is this?", choices));
  // A last message without text gets the options as a text part of its own.
  Sample image_only = mcq_sample();
  image_only.messages[0].parts.pop_back();
  const std::vector<Message> m2 = prompt_messages(image_only);
  ASSERT_EQ(m2[0].parts.size(), 2u);
  EXPECT_EQ(m2[0].parts[1].text, "A. cat\nB. dog\n\nAnswer with the option's letter from the given choices directly.");
  // Free-form samples are asked as they are.
  EXPECT_EQ(prompt_messages(free_sample({"3"}))[0].parts[0].text, "How many?");
}

}  // namespace
}  // namespace trimvl::app::eval
