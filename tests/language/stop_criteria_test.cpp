// Stop conditions: EOS ids, token and length limits, and stop strings matched on decoded text
// across token boundaries, with the shown text holding back what may still become a stop string.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "language/sampling/stop_criteria.h"
#include "language/tokenizer/tokenizer.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

StopConditions stops(std::vector<std::string> strings) {
  StopConditions c;
  c.stop_strings = std::move(strings);
  return c;
}

TEST(StopCriteria, EosStopsWithoutShowingItsText) {
  StopConditions c;
  c.eos_token_ids = {7, 9};
  StopCriteria s(c, 3);
  StopStep a = s.step(1, "Hi");
  EXPECT_EQ(a.text, "Hi");
  EXPECT_FALSE(a.reason);
  StopStep b = s.step(9, "<|im_end|>");
  EXPECT_EQ(b.reason, StopReason::Eos);
  EXPECT_EQ(b.text, "");
  EXPECT_EQ(s.generated(), 2);
}

TEST(StopCriteria, TokenAndLengthLimits) {
  StopConditions c;
  c.max_new_tokens = 2;
  StopCriteria by_count(c, 10);
  EXPECT_FALSE(by_count.step(1, "a").reason);
  EXPECT_EQ(by_count.step(1, "b").reason, StopReason::MaxNewTokens);

  c.max_new_tokens.reset();
  c.max_length = 12;  // prompt 10 + 2 generated
  StopCriteria by_length(c, 10);
  EXPECT_FALSE(by_length.step(1, "a").reason);
  EXPECT_EQ(by_length.step(1, "b").reason, StopReason::MaxLength);
}

TEST(StopCriteria, StopStringAcrossPiecesIsHeldBackAndNotShown) {
  StopCriteria s(stops({"User:"}), 0);
  StopStep a = s.step(1, "Hel");
  EXPECT_EQ(a.text, "Hel");
  StopStep b = s.step(2, "lo Us");  // "Us" may begin "User:"
  EXPECT_EQ(b.text, "lo ");
  EXPECT_FALSE(b.reason);
  StopStep c = s.step(3, "er: more");
  EXPECT_EQ(c.reason, StopReason::StopString);
  EXPECT_EQ(c.stop_string, "User:");
  EXPECT_EQ(c.text, "");
}

TEST(StopCriteria, HeldBackTextIsReleasedWhenItCannotMatch) {
  StopCriteria s(stops({"###"}), 0);
  EXPECT_EQ(s.step(1, "a#").text, "a");
  EXPECT_EQ(s.step(2, "#").text, "");
  EXPECT_EQ(s.step(3, "b").text, "##b");
  EXPECT_EQ(s.step(4, "##").text, "");
  EXPECT_EQ(s.finish("!"), "##!");  // generation ended for another reason
}

TEST(StopCriteria, EarliestStopStringWinsAndTextBeforeItIsShown) {
  StopCriteria s(stops({"cd", "bc", "xyz"}), 0);
  EXPECT_EQ(s.step(1, "a").text, "a");
  StopStep b = s.step(2, "bcde");
  EXPECT_EQ(b.reason, StopReason::StopString);
  EXPECT_EQ(b.stop_string, "bc");
  EXPECT_EQ(b.text, "");
}

TEST(StopCriteria, LimitsReleaseHeldBackText) {
  StopConditions c = stops({"STOP"});
  c.max_new_tokens = 1;
  StopCriteria s(c, 0);
  StopStep a = s.step(1, "ok ST");
  EXPECT_EQ(a.reason, StopReason::MaxNewTokens);
  EXPECT_EQ(a.text, "ok ST");
}

TEST(StopCriteria, StopStringSpanningRealTokens) {
  const Tokenizer tokenizer = Tokenizer::from_dir(test::qwen3_tokenizer_dir());
  const std::vector<int32_t> ids = tokenizer.encode("The answer is 42.\nUser: next question");
  StopCriteria s(stops({"\nUser:"}), 0);
  StreamDecoder decoder = tokenizer.stream_decoder();
  std::string shown;
  std::size_t stopped_at = ids.size();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    StopStep step = s.step(ids[i], decoder.step(ids[i]));
    shown += step.text;
    if (step.reason) {
      EXPECT_EQ(step.reason, StopReason::StopString);
      stopped_at = i;
      break;
    }
  }
  EXPECT_EQ(shown, "The answer is 42.");
  ASSERT_LT(stopped_at, ids.size());
  // It stopped at the token that completed the string, which took more than one token to spell.
  const std::vector<int32_t> head(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(stopped_at) + 1);
  const std::vector<int32_t> before(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(stopped_at));
  EXPECT_NE(tokenizer.decode(head).find("\nUser:"), std::string::npos);
  EXPECT_EQ(tokenizer.decode(before).find("\nUser:"), std::string::npos);
  EXPECT_EQ(tokenizer.decode(before).find("\nUser"), tokenizer.decode(before).size() - 5);
}

TEST(StopCriteria, RejectsBadConditions) {
  EXPECT_THROW(StopCriteria(stops({""}), 0), Error);
  StopConditions c;
  c.max_new_tokens = 0;
  EXPECT_THROW(StopCriteria(c, 0), Error);
  c.max_new_tokens.reset();
  c.eos_token_ids = {-1};
  EXPECT_THROW(StopCriteria(c, 0), Error);
  EXPECT_THROW(StopCriteria(StopConditions{}, -1), Error);
}

}  // namespace
}  // namespace trimvl
