#include "language/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <string_view>

#include "language/tokenizer/byte_level.h"
#include "language/tokenizer/regex.h"
#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

namespace {

// HF's SplitDelimiterBehavior: what happens to the delimiters a pattern finds.
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const ConfigNode& node) {
  const std::string name = node.string("behavior");
  if (name == "Removed") return Behavior::Removed;
  if (name == "Isolated") return Behavior::Isolated;
  if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::MergedWithNext;
  if (name == "Contiguous") return Behavior::Contiguous;
  node.at("behavior").fail(fmt::format("unknown split behavior '{}'", name));
}

struct Span {
  std::size_t start, end;
  bool is_match;
};

// Matches and the gaps between them, covering `text` in order (HF's Pattern::find_matches).
std::vector<Span> find_spans(std::string_view text, const Regex& pattern, bool invert) {
  std::vector<Span> spans;
  std::size_t previous = 0;
  pattern.for_each_match(text, [&](std::size_t start, std::size_t end) {
    if (previous != start) spans.push_back({previous, start, invert});
    spans.push_back({start, end, !invert});
    previous = end;
  });
  if (previous != text.size()) spans.push_back({previous, text.size(), invert});
  return spans;
}

// Applies a delimiter behavior and appends the resulting non-empty pieces of `piece` to `out`.
void emit_split(const Piece& piece, std::vector<Span> spans, Behavior behavior, std::vector<Piece>& out) {
  std::vector<Span> merged;
  merged.reserve(spans.size());
  switch (behavior) {
    case Behavior::Isolated:
      merged = std::move(spans);
      break;
    case Behavior::Removed:
      for (const Span& s : spans)
        if (!s.is_match) merged.push_back(s);
      break;
    case Behavior::Contiguous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match == previous_match && !merged.empty()) merged.back().end = s.end;
        else merged.push_back(s);
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !merged.empty()) merged.back().end = s.end;
        else merged.push_back(s);
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool next_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !next_match && !merged.empty()) merged.back().start = it->start;
        else merged.push_back(*it);
        next_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
  }
  for (const Span& s : merged) {
    if (s.start == s.end) continue;
    out.push_back({piece.text.substr(s.start, s.end - s.start), piece.at_start && s.start == 0});
  }
}

class Split final : public PreTokenizer {
 public:
  explicit Split(const ConfigNode& node)
      : pattern_(regex_from_config(node.at("pattern"))),
        behavior_(parse_behavior(node)),
        invert_(node.boolean("invert", false)) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    for (const Piece& piece : pieces) emit_split(piece, find_spans(piece.text, *pattern_, invert_), behavior_, out);
    pieces = std::move(out);
  }

 private:
  std::unique_ptr<Regex> pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevel final : public PreTokenizer {
 public:
  explicit ByteLevel(const ConfigNode& node)
      : add_prefix_space_(node.boolean("add_prefix_space", true)) {
    if (node.boolean("use_regex", true)) regex_ = std::make_unique<Regex>(std::string(byte_level::kGpt2Pattern));
  }

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    split.reserve(pieces.size() * (regex_ ? 4 : 1));
    for (Piece& piece : pieces) {
      if (add_prefix_space_ && piece.text.front() != ' ') piece.text.insert(0, 1, ' ');
      if (regex_) emit_split(piece, find_spans(piece.text, *regex_, false), Behavior::Isolated, split);
      else split.push_back(std::move(piece));
    }
    for (Piece& piece : split) {
      std::string mapped;
      byte_level::encode(piece.text, mapped);
      piece.text = std::move(mapped);
    }
    pieces = std::move(split);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class Metaspace final : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };

  explicit Metaspace(const ConfigNode& node) : split_(node.boolean("split", true)) {
    std::string replacement;
    utf8::append(replacement, node.character("replacement"));
    replacement_ = std::move(replacement);
    const std::string scheme = node.has("prepend_scheme") ? node.string("prepend_scheme") : "always";
    if (scheme == "always") prepend_ = Prepend::Always;
    else if (scheme == "first") prepend_ = Prepend::First;
    else if (scheme == "never") prepend_ = Prepend::Never;
    else node.at("prepend_scheme").fail(fmt::format("unknown prepend_scheme '{}'", scheme));
    // Older files carry add_prefix_space; HF accepts false only alongside prepend_scheme "never".
    if (!node.boolean("add_prefix_space", true) && prepend_ != Prepend::Never)
      node.fail("add_prefix_space is false but prepend_scheme is not \"never\"");
  }

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    for (Piece& piece : pieces) {
      std::string text;
      text.reserve(piece.text.size() + replacement_.size());
      for (const char c : piece.text) {
        if (c == ' ') text += replacement_;
        else text += c;
      }
      const bool starts_with_replacement = text.starts_with(replacement_);
      if (!starts_with_replacement &&
          (prepend_ == Prepend::Always || (prepend_ == Prepend::First && piece.at_start)))
        text.insert(0, replacement_);
      piece.text = std::move(text);
      if (!split_) {
        out.push_back(std::move(piece));
        continue;
      }
      std::vector<Span> spans;
      std::size_t previous = 0;
      for (std::size_t at = piece.text.find(replacement_); at != std::string::npos;
           at = piece.text.find(replacement_, at + replacement_.size())) {
        if (previous != at) spans.push_back({previous, at, false});
        spans.push_back({at, at + replacement_.size(), true});
        previous = at + replacement_.size();
      }
      if (previous != piece.text.size()) spans.push_back({previous, piece.text.size(), false});
      emit_split(piece, std::move(spans), Behavior::MergedWithNext, out);
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Prepend prepend_ = Prepend::Always;
  bool split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(const ConfigNode& node) {
    for (const ConfigNode& child : node.elements("pretokenizers")) steps_.push_back(from_config(child));
  }

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::from_config(const ConfigNode& node) {
  const std::string type = node.type();
  if (type == "Split") return std::make_unique<Split>(node);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(node);
  if (type == "Metaspace") return std::make_unique<Metaspace>(node);
  if (type == "Sequence") return std::make_unique<Sequence>(node);
  node.unsupported(fmt::format("unsupported pre-tokenizer type '{}'", type));
}

}  // namespace trimvl::tok
