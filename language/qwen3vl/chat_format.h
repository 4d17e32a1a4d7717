#pragma once
// Qwen3-VL's chat format, rendered natively: the text the hub chat templates (chat_template.json of
// Qwen/Qwen3-VL-*-Instruct and -Thinking) produce through transformers' apply_chat_template, with
// one <|vision_start|><|image_pad|><|vision_end|> (or <|video_pad|>) per media part. Expanding those
// pads and tokenizing is build_prompt()'s job (prompt.h).
//
// Supported: system, user and assistant messages whose content is a sequence of text, image and
// video parts; assistant reasoning (Thinking); add_generation_prompt; add_vision_id. Not
// supported: tools, tool calls and the "tool" role.
//
// Where the two templates differ (docs/qwen3vl-prompt.md has the details):
//  - Instruct renders only the text of system and assistant messages and drops media there, and
//    ignores a system message that is not the first; each of those is an error here rather than
//    silently lost input. Assistant text is verbatim, <think> blocks included.
//  - Thinking renders media in every message and system messages anywhere. Assistant turns after
//    the last real user query keep their reasoning as "<think>\n…\n</think>\n\n" (the final one
//    always); earlier ones lose it. Reasoning is Message::reasoning or, when that is unset, the
//    text before "</think>" in the content. The generation prompt opens a <think> block.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::qwen3vl {

enum class Role { System, User, Assistant };

// One piece of a message's content. Media parts carry no pixels: the i-th image (video) part of a
// conversation is the i-th image (video) given to build_prompt.
struct Part {
  enum class Kind { Text, Image, Video };
  Kind kind = Kind::Text;
  std::string text;  // Kind::Text only

  static Part of_text(std::string text) { return {Kind::Text, std::move(text)}; }
  static Part image() { return {Kind::Image, {}}; }
  static Part video() { return {Kind::Video, {}}; }
};

struct Message {
  Role role = Role::User;
  std::vector<Part> parts;
  // Thinking models: the assistant's reasoning (HF's reasoning_content). When set, the content is
  // taken as the answer and not searched for </think>.
  std::optional<std::string> reasoning;
};

enum class ChatStyle { Instruct, Thinking };

struct ChatOptions {
  ChatStyle style = ChatStyle::Instruct;
  bool add_generation_prompt = true;
  bool add_vision_id = false;  // "Picture N: " / "Video N: " before each media part
};

// The rendered conversation. Throws Error(InvalidInput) for no messages (the templates need one),
// and naming the message for what the chosen style cannot render (see above) and for reasoning on
// an Instruct model or a non-assistant turn.
std::string render_chat(std::span<const Message> messages, const ChatOptions& options);

// The style of a chat template's Jinja text (chat_template.json's "chat_template" or
// tokenizer_config.json's): Thinking when its generation prompt opens a <think> block. Throws
// Error(Unsupported) for a template that is not a Qwen3-VL one (it never emits <|image_pad|>).
ChatStyle detect_chat_style(std::string_view jinja_template);

std::string_view role_name(Role role);

}  // namespace trimvl::qwen3vl
