#include "language/qwen3vl/chat_format.h"

#include <fmt/format.h>

#include "kernels/runtime/error.h"

// Mirrors the two hub templates (tests/data/qwen3vl/*.chat_template.json) as transformers 4.57.1
// renders them: Jinja's "{%-"/"-%}" trimming leaves exactly the strings written below.

namespace trimvl::qwen3vl {
namespace {

constexpr std::string_view kImage = "<|vision_start|><|image_pad|><|vision_end|>";
constexpr std::string_view kVideo = "<|vision_start|><|video_pad|><|vision_end|>";

// Python's str.lstrip/rstrip/strip with "\n" as the character set.
std::string_view lstrip_newlines(std::string_view s) {
  const auto first = s.find_first_not_of('\n');
  return first == std::string_view::npos ? std::string_view{} : s.substr(first);
}
std::string_view rstrip_newlines(std::string_view s) {
  const auto last = s.find_last_not_of('\n');
  return last == std::string_view::npos ? std::string_view{} : s.substr(0, last + 1);
}
std::string_view strip_newlines(std::string_view s) { return rstrip_newlines(lstrip_newlines(s)); }

// The templates' image_count / video_count namespaces, which number media for add_vision_id.
struct MediaCounter {
  int images = 0;
  int videos = 0;
};

class Renderer {
 public:
  Renderer(std::span<const Message> messages, const ChatOptions& options) : messages_(messages), options_(options) {}

  std::string render() {
    if (options_.style == ChatStyle::Instruct) render_instruct();
    else render_thinking();
    if (options_.add_generation_prompt)
      out_ += options_.style == ChatStyle::Thinking ? "<|im_start|>assistant\n<think>\n" : "<|im_start|>assistant\n";
    return std::move(out_);
  }

 private:
  [[nodiscard]] Error error(std::size_t index, std::string_view problem) const {
    return Error(fmt::format("message {} ({}): {}", index, role_name(messages_[index].role), problem));
  }

  // All parts, media as placeholders: Instruct's user turns and Thinking's render_content(),
  // counting media when `count` is set (Thinking numbers a first system message's media without
  // counting them, then counts them when its main loop renders that message again, unused).
  std::string content(const Message& m, bool count) {
    std::string s;
    for (const Part& p : m.parts) {
      switch (p.kind) {
        case Part::Kind::Text: s += p.text; break;
        case Part::Kind::Image:
          if (count) ++counter_.images;
          if (options_.add_vision_id) s += fmt::format("Picture {}: ", counter_.images);
          s += kImage;
          break;
        case Part::Kind::Video:
          if (count) ++counter_.videos;
          if (options_.add_vision_id) s += fmt::format("Video {}: ", counter_.videos);
          s += kVideo;
          break;
      }
    }
    return s;
  }

  // Instruct renders only the text parts of system and assistant messages.
  std::string text_only(std::size_t index) const {
    std::string s;
    for (const Part& p : messages_[index].parts) {
      if (p.kind != Part::Kind::Text)
        throw error(index, fmt::format("Qwen3-VL's Instruct chat template drops images and videos in {} messages; "
                                       "put them in a user message",
                                       role_name(messages_[index].role)));
      s += p.text;
    }
    return s;
  }

  void check_reasoning(std::size_t index) const {
    if (!messages_[index].reasoning) return;
    if (messages_[index].role != Role::Assistant) throw error(index, "only assistant messages carry reasoning");
    if (options_.style == ChatStyle::Instruct)
      throw error(index, "Qwen3-VL's Instruct chat template has no place for reasoning (only Thinking models do)");
  }

  void render_instruct() {
    for (std::size_t i = 0; i < messages_.size(); ++i) {
      check_reasoning(i);
      const Message& m = messages_[i];
      switch (m.role) {
        case Role::System:
          if (i != 0)
            throw error(i, "Qwen3-VL's Instruct chat template ignores a system message that is not the first");
          out_ += "<|im_start|>system\n" + text_only(i) + "<|im_end|>\n";
          break;
        case Role::User: out_ += "<|im_start|>user\n" + content(m, true) + "<|im_end|>\n"; break;
        case Role::Assistant: out_ += "<|im_start|>assistant\n" + text_only(i) + "<|im_end|>\n"; break;
      }
    }
  }

  // The last user message that is a real query, not a "<tool_response>…</tool_response>" relay;
  // assistant turns after it keep their reasoning.
  std::size_t last_query_index() {
    for (std::size_t i = messages_.size(); i-- > 0;) {
      if (messages_[i].role != Role::User) continue;
      const std::string c = content(messages_[i], false);
      if (!(c.starts_with("<tool_response>") && c.ends_with("</tool_response>"))) return i;
    }
    return messages_.size() - 1;
  }

  void render_thinking() {
    for (std::size_t i = 0; i < messages_.size(); ++i) check_reasoning(i);
    if (messages_[0].role == Role::System) out_ += "<|im_start|>system\n" + content(messages_[0], false) + "<|im_end|>\n";
    const std::size_t last_query = last_query_index();
    for (std::size_t i = 0; i < messages_.size(); ++i) {
      const Message& m = messages_[i];
      std::string body = content(m, true);
      if (m.role == Role::User || (m.role == Role::System && i != 0)) {
        out_ += fmt::format("<|im_start|>{}\n{}<|im_end|>\n", role_name(m.role), body);
      } else if (m.role == Role::Assistant) {
        std::string_view answer = body;
        std::string_view reasoning;
        if (m.reasoning) {
          reasoning = *m.reasoning;
        } else if (const auto close = answer.find("</think>"); close != std::string_view::npos) {
          // content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') and
          // content.split('</think>')[-1].lstrip('\n')
          const std::string_view before = rstrip_newlines(answer.substr(0, close));
          const auto open = before.rfind("<think>");
          reasoning = lstrip_newlines(open == std::string_view::npos ? before : before.substr(open + 7));
          answer = lstrip_newlines(answer.substr(answer.rfind("</think>") + 8));
        }
        const bool last = i + 1 == messages_.size();
        if (i > last_query && (last || !reasoning.empty()))
          out_ += fmt::format("<|im_start|>assistant\n<think>\n{}\n</think>\n\n{}", strip_newlines(reasoning),
                              lstrip_newlines(answer));
        else
          out_ += fmt::format("<|im_start|>assistant\n{}", answer);
        out_ += "<|im_end|>\n";
      }
    }
  }

  std::span<const Message> messages_;
  const ChatOptions& options_;
  MediaCounter counter_;
  std::string out_;
};

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::System: return "system";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
  }
  return "?";
}

std::string render_chat(std::span<const Message> messages, const ChatOptions& options) {
  TRIMVL_CHECK_ARG(!messages.empty(), "a chat needs at least one message; there are no messages to render");
  return Renderer(messages, options).render();
}

ChatStyle detect_chat_style(std::string_view jinja_template) {
  if (jinja_template.find("<|image_pad|>") == std::string_view::npos)
    throw Error("not a Qwen3-VL chat template: it never emits <|image_pad|>", Error::Kind::Unsupported);
  // The Thinking template's generation prompt is the Jinja string '<|im_start|>assistant\n<think>\n'.
  return jinja_template.find(R"(assistant\n<think>)") != std::string_view::npos ? ChatStyle::Thinking
                                                                                : ChatStyle::Instruct;
}

}  // namespace trimvl::qwen3vl
