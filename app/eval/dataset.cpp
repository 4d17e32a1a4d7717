#include "app/eval/dataset.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/eval/unicode_text.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::app::eval {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The first problem of a line; it becomes a DatasetIssue, or the strict mode's Error.
struct LineError {
  std::string message;
};

[[noreturn]] void fail(std::string message) { throw LineError{std::move(message)}; }

std::string describe(const json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  std::size_t b = 0, e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// A present, non-null value (null is absent, as pandas writes a missing field).
const json* find(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string letter_name(std::size_t index) { return std::string(1, static_cast<char>('A' + index)); }

// Keys that are easy to write instead of ours; the warning suggests the right one.
std::string hint(const std::string& key) {
  static const std::map<std::string, std::string> kNear = {
      {"image", "images"}, {"video", "videos"}, {"answers", "answer"}, {"options", "choices"}};
  auto it = kNear.find(key);
  return it == kNear.end() ? "" : fmt::format("; did you mean '{}'?", it->second);
}

class LineParser {
 public:
  LineParser(const fs::path& dir, int64_t line, std::map<std::string, int64_t>& unknown)
      : dir_(dir), line_(line), unknown_(unknown) {}

  Sample parse(const json& object) {
    if (!object.is_object()) fail(fmt::format("expected a JSON object, got {}", describe(object)));
    note_unknown(object, "", {"id", "task", "question", "images", "videos", "messages", "choices", "answer"});
    Sample s;
    s.line = line_;
    s.id = id(object);
    s.task = task(object);
    const json* messages = find(object, "messages");
    const json* question = find(object, "question");
    if (messages && question) fail("give either 'messages' or 'question', not both");
    if (messages) {
      for (const char* key : {"images", "videos"})
        if (find(object, key))
          fail(fmt::format("'{}' goes with 'question'; with 'messages', put media in the message content", key));
      s.messages = parse_messages(*messages);
    } else if (question) {
      s.messages = {question_message(object, *question)};
    } else {
      fail("missing key 'question' (or 'messages')");
    }
    if (const json* choices = find(object, "choices")) s.choices = parse_choices(*choices);
    s.answers = parse_answers(object, s.choices);
    return s;
  }

 private:
  void note_unknown(const json& object, std::string_view prefix, std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : object.items()) {
      bool found = false;
      for (std::string_view k : known) found |= key == k;
      if (!found) unknown_.try_emplace(std::string(prefix) + key, line_);
    }
  }

  static std::string id(const json& object) {
    const json* v = find(object, "id");
    if (!v) fail("missing key 'id'");
    if (v->is_number_integer()) return v->dump();
    if (v->is_string() && !trim(v->get<std::string>()).empty()) return v->get<std::string>();
    fail(fmt::format("key 'id': expected a non-empty string or an integer, got {}", describe(*v)));
  }

  static std::string task(const json& object) {
    const json* v = find(object, "task");
    if (!v) fail("missing key 'task'");
    if (v->is_string() && !trim(v->get<std::string>()).empty()) return v->get<std::string>();
    fail(fmt::format("key 'task': expected a non-empty string, got {}", describe(*v)));
  }

  Message question_message(const json& object, const json& question) {
    if (!question.is_string() || trim(question.get<std::string>()).empty())
      fail(fmt::format("key 'question': expected a non-empty string, got {}", describe(question)));
    Message m{Role::User, {}};
    for (const auto& [key, kind] : {std::pair{"images", Part::Kind::Image}, std::pair{"videos", Part::Kind::Video}}) {
      const json* v = find(object, key);
      if (!v) continue;
      if (v->is_string()) {
        m.parts.push_back(media_part(kind, v->get<std::string>(), key));
        continue;
      }
      if (!v->is_array()) fail(fmt::format("key '{}': expected a path or a list of paths, got {}", key, describe(*v)));
      for (std::size_t i = 0; i < v->size(); ++i) {
        const std::string where = fmt::format("{}[{}]", key, i);
        if (!(*v)[i].is_string()) fail(fmt::format("{}: expected a path, got {}", where, describe((*v)[i])));
        m.parts.push_back(media_part(kind, (*v)[i].get<std::string>(), where));
      }
    }
    m.parts.push_back(Part::of_text(question.get<std::string>()));
    return m;
  }

  Part media_part(Part::Kind kind, const std::string& ref, const std::string& where) const {
    return kind == Part::Kind::Image ? Part::image(media_path(ref, "image", where)) : Part::video(media_path(ref, "video", where));
  }

  // A media reference as a path that exists: relative to the dataset's directory, file:// stripped.
  fs::path media_path(const std::string& ref, std::string_view what, const std::string& where) const {
    if (trim(ref).empty()) fail(fmt::format("{}: empty {} path", where, what));
    std::string_view r = ref;
    if (r.starts_with("http://") || r.starts_with("https://"))
      fail(fmt::format("{}: '{}' is a remote URL; trimvl does not download (save the {} and give its path)", where, ref,
                       what));
    if (r.starts_with("data:"))
      fail(fmt::format("{}: inline data: URLs are not supported; save the {} to a file and give its path", where, what));
    if (r.starts_with("file://")) r.remove_prefix(7);
    fs::path p(r);
    if (p.is_relative()) p = dir_ / p;
    p = p.lexically_normal();
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (!fs::exists(st)) fail(fmt::format("{}: {} not found: {}", where, what, p.string()));
    if (fs::is_directory(st)) fail(fmt::format("{}: {} path is a directory: {}", where, what, p.string()));
    return p;
  }

  std::vector<Message> parse_messages(const json& v) {
    if (!v.is_array() || v.empty())
      fail(fmt::format("key 'messages': expected a non-empty list of messages, got {}", describe(v)));
    std::vector<Message> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const json& m = v[i];
      const std::string where = fmt::format("messages[{}]", i);
      if (!m.is_object()) fail(fmt::format("{}: expected an object with 'role' and 'content', got {}", where, describe(m)));
      note_unknown(m, "messages[].", {"role", "content"});
      Message message;
      const json* role = find(m, "role");
      const std::string r = role && role->is_string() ? role->get<std::string>() : "";
      if (r == "system") message.role = Role::System;
      else if (r == "user") message.role = Role::User;
      else if (r == "assistant") message.role = Role::Assistant;
      else fail(fmt::format("{}.role: expected system, user or assistant, got {}", where, role ? describe(*role) : "nothing"));
      const json* content = find(m, "content");
      if (content && content->is_string()) {
        message.parts.push_back(Part::of_text(content->get<std::string>()));
      } else if (content && content->is_array() && !content->empty()) {
        for (std::size_t j = 0; j < content->size(); ++j)
          message.parts.push_back(parse_part((*content)[j], fmt::format("{}.content[{}]", where, j)));
      } else {
        fail(fmt::format("{}.content: expected a string or a non-empty list of parts, got {}", where,
                         content ? describe(*content) : "nothing"));
      }
      out.push_back(std::move(message));
    }
    if (out.back().role != Role::User)
      fail(fmt::format("messages[{}]: the last message must be the user's (the model answers it)", out.size() - 1));
    return out;
  }

  Part parse_part(const json& p, const std::string& where) {
    if (!p.is_object()) fail(fmt::format("{}: expected a part object, got {}", where, describe(p)));
    std::string type;
    if (const json* t = find(p, "type")) {
      if (!t->is_string()) fail(fmt::format("{}.type: expected a string, got {}", where, describe(*t)));
      type = t->get<std::string>();
    } else {
      for (const char* key : {"text", "image", "image_url", "video", "video_url"}) {
        if (!find(p, key)) continue;
        if (!type.empty()) fail(fmt::format("{}: no 'type', and both '{}' and '{}' given", where, type, key));
        type = key;
      }
      if (type.empty()) fail(fmt::format("{}: no 'type' and none of text, image, image_url, video, video_url", where));
    }
    if (type == "text") {
      note_unknown(p, "messages[].content[].", {"type", "text"});
      const json* t = find(p, "text");
      if (!t || !t->is_string()) fail(fmt::format("{}.text: expected a string, got {}", where, t ? describe(*t) : "nothing"));
      return Part::of_text(t->get<std::string>());
    }
    if (type == "image" || type == "image_url") {
      note_unknown(p, "messages[].content[].", {"type", "image", "path", "url", "image_url"});
      return Part::image(media_path(media_ref(p, type, where), "image", where));
    }
    if (type == "video" || type == "video_url") {
      note_unknown(p, "messages[].content[].", {"type", "video", "path", "url", "video_url", "fps", "max_frames"});
      Part part = Part::video(media_path(media_ref(p, type, where), "video", where));
      if (const json* fps = find(p, "fps")) {
        if (!fps->is_number() || !(fps->get<double>() > 0) || !std::isfinite(fps->get<double>()))
          fail(fmt::format("{}.fps: expected a positive number, got {}", where, describe(*fps)));
        part.fps = fps->get<double>();
      }
      if (const json* frames = find(p, "max_frames")) {
        if (!frames->is_number_integer() || frames->get<int64_t>() <= 0)
          fail(fmt::format("{}.max_frames: expected a positive integer, got {}", where, describe(*frames)));
        part.max_frames = frames->get<int64_t>();
      }
      return part;
    }
    fail(fmt::format("{}: unknown part type '{}' (text, image, image_url, video, video_url)", where, type));
  }

  // The one media reference of an image/video part, in whichever spelling it came.
  static std::string media_ref(const json& p, const std::string& type, const std::string& where) {
    const bool is_image = type.starts_with("image");
    const std::string media = is_image ? "image" : "video";
    if (type.ends_with("_url")) {  // OpenAI: {"image_url": {"url": ...}} or a plain string
      const json* v = find(p, type);
      if (v && v->is_object()) v = find(*v, "url");
      if (!v || !v->is_string())
        fail(fmt::format("{}.{}: expected a string or {{\"url\": string}}, got {}", where, type, v ? describe(*v) : "nothing"));
      return v->get<std::string>();
    }
    const std::array<std::string, 3> keys = {media, "path", "url"};
    const json* found = nullptr;
    std::string found_key;
    for (const std::string& key : keys) {
      const json* v = find(p, key);
      if (!v) continue;
      if (found) fail(fmt::format("{}: give one of '{}', 'path', 'url', not both '{}' and '{}'", where, media, found_key, key));
      found = v;
      found_key = key;
    }
    if (!found) fail(fmt::format("{}: {} part without '{}', 'path' or 'url'", where, media, media));
    if (!is_image && found->is_array())
      fail(fmt::format("{}.{}: a video given as a list of frames is not supported; give a video file (or frames "
                       ".safetensors)", where, found_key));
    if (!found->is_string()) fail(fmt::format("{}.{}: expected a path, got {}", where, found_key, describe(*found)));
    return found->get<std::string>();
  }

  static std::string scalar_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

  static std::vector<std::string> parse_choices(const json& v) {
    if (!v.is_array() || v.size() < 2 || v.size() > 26)
      fail(fmt::format("key 'choices': expected a list of 2 to 26 options, got {}", describe(v)));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string() && !v[i].is_number())
        fail(fmt::format("choices[{}]: expected a string or a number, got {}", i, describe(v[i])));
      std::string text = scalar_text(v[i]);
      if (trim(text).empty()) fail(fmt::format("choices[{}]: empty option", i));
      for (std::size_t j = 0; j < out.size(); ++j)
        if (trim(out[j]) == trim(text))
          fail(fmt::format("choices[{}] and choices[{}] are both '{}' (options must differ)", j, i, trim(text)));
      out.push_back(std::move(text));
    }
    return out;
  }

  static std::vector<std::string> parse_answers(const json& object, const std::vector<std::string>& choices) {
    const json* v = find(object, "answer");
    if (!v) fail("missing key 'answer'");
    std::vector<std::pair<std::string, const json*>> given;  // (where, value)
    if (v->is_array()) {
      if (v->empty()) fail("key 'answer': empty list");
      for (std::size_t i = 0; i < v->size(); ++i) given.emplace_back(fmt::format("answer[{}]", i), &(*v)[i]);
    } else {
      given.emplace_back("answer", v);
    }
    std::vector<std::string> out;
    for (const auto& [where, value] : given) {
      if (!value->is_string() && !value->is_number())
        fail(fmt::format("{}: expected a string or a number (or a list of them), got {}", where, describe(*value)));
      std::string text = scalar_text(*value);
      if (trim(text).empty()) fail(fmt::format("{}: empty answer", where));
      if (!choices.empty()) text = to_letter(text, choices, where);
      if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(std::move(text));
    }
    return out;
  }

  // An MCQ answer as its letter: a single letter in range, or a choice's text (exact, else
  // ignoring case). Both readings naming different options is an error rather than a guess.
  static std::string to_letter(const std::string& answer, const std::vector<std::string>& choices, const std::string& where) {
    const std::string t = trim(answer);
    std::optional<std::size_t> by_letter;
    if (t.size() == 1 && std::isalpha(static_cast<unsigned char>(t[0]))) {
      const auto index = static_cast<std::size_t>(std::toupper(static_cast<unsigned char>(t[0])) - 'A');
      if (index < choices.size()) by_letter = index;
    }
    std::vector<std::size_t> by_text;
    for (std::size_t i = 0; i < choices.size(); ++i)
      if (trim(choices[i]) == t) by_text.push_back(i);
    if (by_text.empty()) {
      const std::u32string folded = text::lower(text::decode(t));
      for (std::size_t i = 0; i < choices.size(); ++i)
        if (text::lower(text::decode(trim(choices[i]))) == folded) by_text.push_back(i);
    }
    if (by_letter && !by_text.empty() && (by_text.size() > 1 || by_text[0] != *by_letter))
      fail(fmt::format("{} '{}' is ambiguous: the letter {} or the text of choice {}", where, t, letter_name(*by_letter),
                       letter_name(by_text[0])));
    if (by_letter) return letter_name(*by_letter);
    if (by_text.size() == 1) return letter_name(by_text[0]);
    if (by_text.size() > 1)
      fail(fmt::format("{} '{}' matches choices {} and {} (ignoring case)", where, t, letter_name(by_text[0]),
                       letter_name(by_text[1])));
    fail(fmt::format("{} '{}' is neither a letter A-{} nor one of the choices", where, t, letter_name(choices.size() - 1)));
  }

  const fs::path& dir_;
  int64_t line_;
  std::map<std::string, int64_t>& unknown_;
};

// nlohmann says "[json.exception.parse_error.101] parse error at line 1, column 5: ..."; a dataset
// line is one JSON text, so only the column is worth keeping.
std::string json_error(const nlohmann::json::parse_error& e) {
  std::string what = e.what();
  if (auto at = what.find("at line 1, "); at != std::string::npos) return "invalid JSON at " + what.substr(at + 11);
  if (auto end = what.find("] "); end != std::string::npos) what = what.substr(end + 2);
  return "invalid JSON: " + what;
}

void warn_unknown(const fs::path& file, const std::map<std::string, int64_t>& unknown) {
  if (unknown.empty()) return;
  std::string list;
  for (const auto& [key, line] : unknown) {
    const std::string base = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
    list += fmt::format("{}{} (first on line {}{})", list.empty() ? "" : ", ", key, line, key == base ? hint(key) : "");
  }
  log::warn("{}: ignoring keys trimvl does not use: {}", file.string(), list);
}

}  // namespace

Dataset load_dataset(const fs::path& jsonl, bool strict) {
  std::error_code ec;
  const fs::file_status st = fs::status(jsonl, ec);
  if (!fs::exists(st)) throw Error("dataset file not found", Error::Kind::NotFound).file(jsonl.string());
  if (fs::is_directory(st)) throw Error("is a directory; expected a JSONL dataset file").file(jsonl.string());
  std::ifstream in(jsonl, std::ios::binary);
  if (!in) throw Error("cannot open for reading").file(jsonl.string());

  Dataset out{jsonl, {}, {}};
  const fs::path dir = jsonl.parent_path().empty() ? fs::path(".") : jsonl.parent_path();
  std::map<std::string, int64_t> unknown;
  std::map<std::string, int64_t> id_lines;  // ids of accepted samples
  bool any = false;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (number == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // a UTF-8 byte order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    any = true;
    std::optional<std::string> problem;
    try {
      Sample sample = LineParser(dir, number, unknown).parse(json::parse(line));
      if (auto [it, fresh] = id_lines.try_emplace(sample.id, number); !fresh)
        fail(fmt::format("id '{}' is already used on line {}", sample.id, it->second));
      out.samples.push_back(std::move(sample));
    } catch (const LineError& e) {
      problem = e.message;
    } catch (const nlohmann::json::parse_error& e) {
      problem = json_error(e);
    }
    if (!problem) continue;
    if (strict) throw Error(*problem).file(jsonl.string()).line(number);
    out.issues.push_back({number, std::move(*problem)});
  }
  if (in.bad()) throw Error("read error").file(jsonl.string());
  if (!any) throw Error("no samples: the file is empty").file(jsonl.string());
  warn_unknown(jsonl, unknown);
  return out;
}

std::string describe_issues(const Dataset& dataset, std::size_t max_lines) {
  if (dataset.issues.empty()) return "";
  std::string out = fmt::format("{}: {} of {} samples skipped:", dataset.file.string(), dataset.issues.size(),
                                dataset.issues.size() + dataset.samples.size());
  for (std::size_t i = 0; i < dataset.issues.size() && i < max_lines; ++i)
    out += fmt::format("\n  line {}: {}", dataset.issues[i].line, dataset.issues[i].message);
  if (dataset.issues.size() > max_lines) out += fmt::format("\n  ... and {} more", dataset.issues.size() - max_lines);
  return out;
}

}  // namespace trimvl::app::eval
