// Qwen3-VL chat rendering: both hub templates' behaviour on hand-written conversations, the errors
// for what the Instruct template would silently drop, and template style detection. (Parity with
// transformers' Jinja rendering on more conversations: qwen3vl_prompt_golden_test.cpp.)
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"
#include "language/qwen3vl/chat_format.h"
#include "tests/support/test_env.h"

namespace trimvl::qwen3vl {
namespace {

Message msg(Role role, std::vector<Part> parts, std::optional<std::string> reasoning = std::nullopt) {
  return {role, std::move(parts), std::move(reasoning)};
}
Message msg(Role role, std::string text) { return msg(role, {Part::of_text(std::move(text))}); }

ChatOptions instruct() { return {}; }
ChatOptions thinking() { return {ChatStyle::Thinking, true, false}; }

void expect_error(const std::vector<Message>& messages, const ChatOptions& options, const std::string& fragment) {
  try {
    render_chat(messages, options);
    ADD_FAILURE() << "no error; expected one mentioning: " << fragment;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Qwen3VLChatFormat, InstructTurnsWithMediaAndGenerationPrompt) {
  const std::vector<Message> m = {
      msg(Role::System, "Be brief."),
      msg(Role::User, {Part::image(), Part::of_text("What is it?")}),
      msg(Role::Assistant, "A dog."),
      msg(Role::User, {Part::of_text("And "), Part::video(), Part::of_text("?")}),
  };
  EXPECT_EQ(render_chat(m, instruct()),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n"
            "<|im_start|>assistant\nA dog.<|im_end|>\n"
            "<|im_start|>user\nAnd <|vision_start|><|video_pad|><|vision_end|>?<|im_end|>\n"
            "<|im_start|>assistant\n");
  ChatOptions no_prompt = instruct();
  no_prompt.add_generation_prompt = false;
  EXPECT_EQ(render_chat(std::vector<Message>{msg(Role::User, "Hi")}, no_prompt), "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(Qwen3VLChatFormat, VisionIdsNumberImagesAndVideosSeparatelyAcrossTurns) {
  ChatOptions o = instruct();
  o.add_vision_id = true;
  const std::vector<Message> m = {msg(Role::User, {Part::image(), Part::video()}),
                                  msg(Role::User, {Part::image(), Part::video()})};
  EXPECT_EQ(render_chat(m, o),
            "<|im_start|>user\nPicture 1: <|vision_start|><|image_pad|><|vision_end|>"
            "Video 1: <|vision_start|><|video_pad|><|vision_end|><|im_end|>\n"
            "<|im_start|>user\nPicture 2: <|vision_start|><|image_pad|><|vision_end|>"
            "Video 2: <|vision_start|><|video_pad|><|vision_end|><|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(Qwen3VLChatFormat, InstructKeepsThinkBlocksVerbatim) {
  const std::vector<Message> m = {msg(Role::User, "Q"), msg(Role::Assistant, "<think>\nr\n</think>\n\nA")};
  ChatOptions o = instruct();
  o.add_generation_prompt = false;
  EXPECT_EQ(render_chat(m, o), "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\nA<|im_end|>\n");
}

TEST(Qwen3VLChatFormat, InstructRejectsWhatItsTemplateWouldDrop) {
  expect_error({msg(Role::System, {Part::image()}), msg(Role::User, "Hi")}, instruct(), "drops images and videos in system");
  expect_error({msg(Role::User, "Hi"), msg(Role::Assistant, {Part::video()})}, instruct(),
               "drops images and videos in assistant");
  expect_error({msg(Role::User, "Hi"), msg(Role::System, "late")}, instruct(), "message 1 (system)");
  expect_error({msg(Role::User, "Hi"), msg(Role::Assistant, {Part::of_text("A")}, "r")}, instruct(),
               "no place for reasoning");
  expect_error({msg(Role::User, {Part::of_text("Hi")}, "r")}, thinking(), "only assistant messages carry reasoning");
}

TEST(Qwen3VLChatFormat, ThinkingDropsReasoningBeforeTheLastQueryAndOpensThinkBlock) {
  const std::vector<Message> m = {
      msg(Role::User, "2+2?"),
      msg(Role::Assistant, "<think>\nadd\n</think>\n\n4"),
      msg(Role::User, {Part::image(), Part::of_text("This?")}),
  };
  EXPECT_EQ(render_chat(m, thinking()),
            "<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>This?<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n");
}

TEST(Qwen3VLChatFormat, ThinkingKeepsReasoningAfterTheLastQuery) {
  ChatOptions o = thinking();
  o.add_generation_prompt = false;
  // The final assistant turn always gets a think block, empty if it has no reasoning; an earlier
  // one after the last query only when it has reasoning. Reasoning from the field is not split.
  EXPECT_EQ(render_chat(std::vector<Message>{msg(Role::User, "Hi"), msg(Role::Assistant, "\n\nHello")}, o),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello<|im_end|>\n");
  EXPECT_EQ(render_chat(std::vector<Message>{msg(Role::User, "Hi"),
                                             msg(Role::Assistant, {Part::of_text("<think>x</think>A")}, "\nwhy\n")},
                        o),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nwhy\n</think>\n\n<think>x</think>A<|im_end|>\n");
  // A user message that only relays a tool response is not a query: the turns before it keep
  // their reasoning, split at the first </think> and after the last <think>.
  const std::vector<Message> relay = {
      msg(Role::User, "Q"),
      msg(Role::Assistant, "<think>a<think>\nb\n\n</think>mid</think>\n\nanswer"),
      msg(Role::Assistant, "plain"),
      msg(Role::User, "<tool_response>\nok\n</tool_response>"),
  };
  EXPECT_EQ(render_chat(relay, o),
            "<|im_start|>user\nQ<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nb\n</think>\n\nanswer<|im_end|>\n"
            "<|im_start|>assistant\nplain<|im_end|>\n"
            "<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n");
}

TEST(Qwen3VLChatFormat, ThinkingRendersMediaAndSystemMessagesAnywhere) {
  ChatOptions o = thinking();
  o.add_vision_id = true;
  // The template labels a first system message's media before counting them ("Picture 0"), then
  // counts them, so the first user image is "Picture 2".
  const std::vector<Message> m = {
      msg(Role::System, {Part::of_text("See "), Part::image()}),
      msg(Role::User, {Part::image(), Part::of_text("Same?")}),
      msg(Role::Assistant, {Part::video(), Part::of_text("Maybe.")}),
      msg(Role::System, "Be sure."),
  };
  EXPECT_EQ(render_chat(m, o),
            "<|im_start|>system\nSee Picture 0: <|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
            "<|im_start|>user\nPicture 2: <|vision_start|><|image_pad|><|vision_end|>Same?<|im_end|>\n"
            "<|im_start|>assistant\nVideo 1: <|vision_start|><|video_pad|><|vision_end|>Maybe.<|im_end|>\n"
            "<|im_start|>system\nBe sure.<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n");
}

TEST(Qwen3VLChatFormat, NoMessagesIsAnError) {
  // transformers fails too: both templates read messages[0].
  expect_error({}, instruct(), "no messages");
  expect_error({}, thinking(), "no messages");
}

TEST(Qwen3VLChatFormat, DetectsTheStyleOfTheHubTemplates) {
  auto load = [](const char* name) {
    return nlohmann::json::parse(test::read_file(test::test_data_dir() / "qwen3vl" / name))
        .at("chat_template")
        .get<std::string>();
  };
  EXPECT_EQ(detect_chat_style(load("instruct.chat_template.json")), ChatStyle::Instruct);
  EXPECT_EQ(detect_chat_style(load("thinking.chat_template.json")), ChatStyle::Thinking);
  try {
    detect_chat_style("{% for m in messages %}{{ m.content }}{% endfor %}");
    ADD_FAILURE() << "a template without <|image_pad|> was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::Unsupported);
  }
}

}  // namespace
}  // namespace trimvl::qwen3vl
