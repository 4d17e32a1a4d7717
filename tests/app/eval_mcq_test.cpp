// Multiple-choice letter extraction (app/eval/mcq_extract.h) over answers the way models write
// them. Each expected letter is what a person reads in the answer; the comment names the tier of the
// header's precedence list that must find it.
#include "app/eval/mcq_extract.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

struct Case {
  std::string response;
  std::size_t n_choices;
  std::vector<std::string> choices;  // empty: letters only
  std::optional<char> expected;
};

const std::vector<std::string> kAnimals = {"cat", "dog", "bird", "fish"};
const std::vector<std::string> kVitamins = {"Vitamin C", "Vitamin D", "Iron"};

class ExtractChoice : public ::testing::TestWithParam<Case> {};

TEST_P(ExtractChoice, ReadsTheLetterAPersonWouldRead) {
  const Case& c = GetParam();
  const std::optional<char> got = extract_choice(c.response, c.n_choices, c.choices);
  EXPECT_EQ(got, c.expected) << "response: " << c.response;
}

INSTANTIATE_TEST_SUITE_P(
    Answers, ExtractChoice,
    ::testing::Values(
        // 1: the whole answer is a letter
        Case{"B", 4, {}, 'B'}, Case{"b", 4, {}, 'B'}, Case{"(D)", 4, {}, 'D'}, Case{"**B**", 4, {}, 'B'},
        Case{"C.", 4, {}, 'C'}, Case{"[c]", 4, {}, 'C'}, Case{"  A\n", 4, {}, 'A'},
        // 2: the whole answer is a choice's text
        Case{"cat", 4, kAnimals, 'A'}, Case{"Dog.", 4, kAnimals, 'B'}, Case{"Vitamin C", 3, kVitamins, 'A'},
        Case{"2", 3, {"1", "2", "3"}, 'B'},
        // 3: a leading option label, even when a choice's text follows
        Case{"B) cat", 4, kAnimals, 'B'}, Case{"B. dog because it barks", 4, kAnimals, 'B'},
        Case{"(C) bird", 4, kAnimals, 'C'}, Case{"**B. dog**", 4, kAnimals, 'B'}, Case{"a: red", 4, {}, 'A'},
        // 4: an answer statement, the last one winning
        Case{"The answer is (B).", 4, {}, 'B'}, Case{"Answer: C", 4, {}, 'C'}, Case{"answer: c", 4, {}, 'C'},
        Case{"**Final answer:** D", 4, {}, 'D'}, Case{"The correct answer is option (A).", 4, {}, 'A'},
        Case{"The answer is: **C**", 4, {}, 'C'}, Case{"The answer is b because the dog barks", 4, kAnimals, 'B'},
        Case{"Let me think. A cat has whiskers, but the image shows a bird. The answer is C, the bird.", 4, kAnimals,
             'C'},
        Case{"Final Answer: The final answer is C.", 4, {}, 'C'},
        // 5: a bracketed letter anywhere
        Case{"I pick (B) since it barks", 4, kAnimals, 'B'},
        // 6: a standalone capital, with the article rule and the choice-text exception
        Case{"I think C is correct.", 4, {}, 'C'}, Case{"Option A is correct.", 4, {}, 'A'},
        Case{"Answer with the option's letter from the given choices directly. B", 4, {}, 'B'},
        Case{"\u7b54\u6848\uff1aB", 4, {}, 'B'},  // 答案：B (full-width colon)
        // 7: the text of one choice mentioned
        Case{"A cat is shown.", 2, {"dog", "cat"}, 'B'}, Case{"the answer is a cat", 2, {"dog", "cat"}, 'B'},
        Case{"It is a black cat", 3, {"cat", "black cat", "dog"}, 'B'},
        Case{"I would pick Vitamin C here", 3, kVitamins, 'A'}, Case{"There are 2 dogs.", 3, {"1", "2", "3"}, 'B'},
        // no answer: nothing found, out of range, or a tier naming two letters
        Case{"", 4, {}, std::nullopt}, Case{"I don't know.", 4, {}, std::nullopt},
        Case{"None of the above.", 4, {}, std::nullopt}, Case{"A cat is shown.", 4, {}, std::nullopt},
        Case{"The answer is E", 4, {}, std::nullopt}, Case{"E", 4, {}, std::nullopt},
        Case{"Either A or B.", 4, {}, std::nullopt}, Case{"(A) and (C) both fit", 4, {}, std::nullopt},
        Case{"Both (A) and (C) fit", 4, {}, std::nullopt}, Case{"A) or B)", 4, {}, std::nullopt},
        Case{"Apple", 4, {}, std::nullopt}, Case{"CAT", 4, {}, std::nullopt},
        Case{"The image shows a bird", 4, {}, std::nullopt}, Case{"It's a cat, not a dog", 4, kAnimals, std::nullopt},
        Case{"\u7b54\u6848\u662fB", 4, {}, std::nullopt}));  // 答案是B: B continues a word, as Python's \w sees it

TEST(ExtractChoice, RefusesMoreThan26ChoicesAndMismatchedTexts) {
  EXPECT_THROW(extract_choice("A", 27), Error);
  const std::vector<std::string> two = {"cat", "dog"};
  EXPECT_THROW(extract_choice("A", 3, two), Error);
  EXPECT_EQ(extract_choice("A", 0), std::nullopt);
  EXPECT_EQ(extract_choice("Z", 26), 'Z');
}

TEST(PickByLoglik, LargestTotalFirstOnTiesNanNeverWins) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(pick_by_loglik(std::vector<double>{-3.0, -1.0, -2.0}), 1u);
  EXPECT_EQ(pick_by_loglik(std::vector<double>{-1.0, -1.0}), 0u);
  EXPECT_EQ(pick_by_loglik(std::vector<double>{nan, -5.0, -7.0}), 1u);
  EXPECT_EQ(pick_by_loglik(std::vector<double>{nan, nan}), 0u);
  EXPECT_THROW(pick_by_loglik(std::vector<double>{}), Error);
}

}  // namespace
}  // namespace trimvl::app::eval
