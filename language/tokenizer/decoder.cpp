#include "language/tokenizer/decoder.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "language/tokenizer/byte_level.h"
#include "language/tokenizer/regex.h"
#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

// A decoder step at work on one sequence. Token mode: push() receives whole tokens. Joined mode
// (after ByteLevel or Fuse): push() receives consecutive pieces of the single joined token.
class DecodeStage {
 public:
  explicit DecodeStage(DecodeStage* next) : next_(next) {}
  virtual ~DecodeStage() = default;
  virtual void push(std::string text) = 0;
  virtual void finish() {
    if (next_ != nullptr) next_->finish();
  }

 protected:
  DecodeStage* next_;
};

// The configuration of one decoder; makes a fresh stage for every run.
class DecodeStep {
 public:
  virtual ~DecodeStep() = default;
  // True when the output is one string (HF returns a single token): later steps run joined.
  virtual bool joins() const { return false; }
  virtual std::unique_ptr<DecodeStage> make(DecodeStage* next, bool joined) const = 0;
};

namespace {

// ---- the end of the chain -----------------------------------------------------------------

class Collect final : public DecodeStage {
 public:
  Collect(std::string* out, bool space_separated) : DecodeStage(nullptr), out_(out), separated_(space_separated) {}
  void push(std::string text) override {
    if (separated_ && !first_) *out_ += ' ';
    *out_ += text;
    first_ = false;
  }

 private:
  std::string* out_;
  bool separated_;
  bool first_ = true;
};

// ---- ByteLevel: alphabet characters -> bytes -> UTF-8 (lossy) ---------------------------------

class ByteLevelStage final : public DecodeStage {
 public:
  using DecodeStage::DecodeStage;
  void push(std::string token) override {
    byte_level::decode_token(token, pending_);
    emit(false);
  }
  void finish() override {
    emit(true);
    DecodeStage::finish();
  }

 private:
  void emit(bool final_chunk) {
    std::string text;
    pending_.erase(0, utf8::decode_lossy(pending_, text, final_chunk));
    if (!text.empty()) next_->push(std::move(text));
  }
  std::string pending_;  // bytes of an unfinished character
};

class ByteLevelStep final : public DecodeStep {
 public:
  bool joins() const override { return true; }
  std::unique_ptr<DecodeStage> make(DecodeStage* next, bool) const override {
    return std::make_unique<ByteLevelStage>(next);
  }
};

// ---- ByteFallback: runs of <0xXX> tokens -> the UTF-8 they spell ------------------------------

// HF parses the two characters after "<0x" with u8::from_str_radix(_, 16), which also accepts a
// leading '+' ("<0x+A>" is byte 10); mirrored for exact parity.
std::optional<uint8_t> byte_token(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int hi = token[3] == '+' ? 0 : digit(token[3]);
  const int lo = digit(token[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

class ByteFallbackStage final : public DecodeStage {
 public:
  using DecodeStage::DecodeStage;
  void push(std::string token) override {
    if (const auto byte = byte_token(token)) {
      pending_ += static_cast<char>(*byte);
      return;
    }
    flush();
    next_->push(std::move(token));
  }
  void finish() override {
    flush();
    DecodeStage::finish();
  }

 private:
  // A run that is not valid UTF-8 as a whole becomes one U+FFFD per byte (HF's rule, unlike
  // lossy decoding), so nothing of a run can be passed on before the run ends.
  void flush() {
    if (pending_.empty()) return;
    if (utf8::is_valid(pending_)) {
      next_->push(std::move(pending_));
    } else {
      for (std::size_t i = 0; i < pending_.size(); ++i) next_->push(std::string(utf8::kReplacement));
    }
    pending_.clear();
  }
  std::string pending_;
};

class ByteFallbackStep final : public DecodeStep {
 public:
  std::unique_ptr<DecodeStage> make(DecodeStage* next, bool) const override {
    return std::make_unique<ByteFallbackStage>(next);
  }
};

// ---- Fuse: all tokens -> one string -----------------------------------------------------------

class PassThrough final : public DecodeStage {
 public:
  using DecodeStage::DecodeStage;
  void push(std::string text) override { next_->push(std::move(text)); }
};

class FuseStep final : public DecodeStep {
 public:
  bool joins() const override { return true; }
  std::unique_ptr<DecodeStage> make(DecodeStage* next, bool) const override {
    return std::make_unique<PassThrough>(next);
  }
};

// ---- Replace ----------------------------------------------------------------------------------

class ReplaceStep;

class ReplaceTokens final : public DecodeStage {
 public:
  ReplaceTokens(DecodeStage* next, const ReplaceStep& step) : DecodeStage(next), step_(step) {}
  void push(std::string token) override;

 private:
  const ReplaceStep& step_;
};

// Joined mode with a literal pattern: holds back a tail that may be the start of a match.
class ReplaceJoinedLiteral final : public DecodeStage {
 public:
  ReplaceJoinedLiteral(DecodeStage* next, const ReplaceStep& step) : DecodeStage(next), step_(step) {}
  void push(std::string text) override;
  void finish() override;

 private:
  const ReplaceStep& step_;
  std::string held_;
};

// Joined mode with a regex: a match may span any number of pieces, so the joined string is
// replaced once, at the end.
class ReplaceJoinedRegex final : public DecodeStage {
 public:
  ReplaceJoinedRegex(DecodeStage* next, const ReplaceStep& step) : DecodeStage(next), step_(step) {}
  void push(std::string text) override { held_ += text; }
  void finish() override;

 private:
  const ReplaceStep& step_;
  std::string held_;
};

class ReplaceStep final : public DecodeStep {
 public:
  explicit ReplaceStep(const ConfigNode& node)
      : pattern_(regex_from_config(node.at("pattern"))),
        literal_(node.at("pattern").optional_string("String")),
        content_(node.string("content")) {
    if (literal_ && literal_->empty()) node.at("pattern").fail("the Replace decoder's pattern is empty");
  }

  std::unique_ptr<DecodeStage> make(DecodeStage* next, bool joined) const override {
    if (!joined) return std::make_unique<ReplaceTokens>(next, *this);
    if (literal_) return std::make_unique<ReplaceJoinedLiteral>(next, *this);
    return std::make_unique<ReplaceJoinedRegex>(next, *this);
  }

  // Appends `text` up to the end of its last match, matches replaced; returns that end (0: none).
  std::size_t replace(std::string_view text, std::string& out) const {
    std::size_t copied = 0;
    pattern_->for_each_match(text, [&](std::size_t start, std::size_t end) {
      out.append(text.substr(copied, start - copied));
      out += content_;
      copied = end;
    });
    return copied;
  }
  const std::string& literal() const { return *literal_; }

 private:
  std::unique_ptr<Regex> pattern_;
  std::optional<std::string> literal_;
  std::string content_;
};

void ReplaceTokens::push(std::string token) {
  std::string out;
  const std::size_t done = step_.replace(token, out);
  out.append(std::string_view(token).substr(done));
  next_->push(std::move(out));
}

void ReplaceJoinedLiteral::push(std::string text) {
  held_ += text;
  std::string out;
  const std::size_t done = step_.replace(held_, out);
  // Keep the earliest unmatched position from which the rest is a proper prefix of the pattern.
  const std::string& pattern = step_.literal();
  std::size_t keep = held_.size();
  for (std::size_t q = std::max(done, held_.size() - std::min(held_.size(), pattern.size() - 1)); q < held_.size(); ++q) {
    if (std::string_view(pattern).starts_with(std::string_view(held_).substr(q))) {
      keep = q;
      break;
    }
  }
  out.append(held_, done, keep - done);
  held_.erase(0, keep);
  if (!out.empty()) next_->push(std::move(out));
}

void ReplaceJoinedLiteral::finish() {
  if (!held_.empty()) next_->push(std::move(held_));  // too short to match
  DecodeStage::finish();
}

void ReplaceJoinedRegex::finish() {
  std::string out;
  const std::size_t done = step_.replace(held_, out);
  out.append(held_, done);
  if (!out.empty()) next_->push(std::move(out));
  DecodeStage::finish();
}

// ---- Strip: up to `start` leading and `stop` trailing `content` characters per token ----------

class StripStep final : public DecodeStep {
 public:
  explicit StripStep(const ConfigNode& node) {
    utf8::append(content_, node.character("content"));
    const int64_t start = node.integer("start"), stop = node.integer("stop");
    if (start < 0 || stop < 0) node.fail("start and stop must not be negative");
    start_ = static_cast<std::size_t>(start);
    stop_ = static_cast<std::size_t>(stop);
  }
  std::unique_ptr<DecodeStage> make(DecodeStage* next, bool joined) const override;

  const std::string& content() const { return content_; }
  std::size_t start() const { return start_; }
  std::size_t stop() const { return stop_; }

 private:
  std::string content_;
  std::size_t start_ = 0, stop_ = 0;
};

// Removes up to `limit` copies of `content` from the front of text[from..]; returns the new start.
std::size_t strip_front(std::string_view text, std::size_t from, std::string_view content, std::size_t& limit) {
  while (limit > 0 && text.substr(from).starts_with(content)) {
    from += content.size();
    --limit;
  }
  return from;
}

class StripTokens final : public DecodeStage {
 public:
  StripTokens(DecodeStage* next, const StripStep& step) : DecodeStage(next), step_(step) {}
  void push(std::string token) override {
    const std::string& c = step_.content();
    std::size_t limit = step_.start();
    const std::size_t begin = strip_front(token, 0, c, limit);
    std::size_t end = token.size();
    for (std::size_t k = 0; k < step_.stop() && end >= begin + c.size() &&
                            std::string_view(token).substr(end - c.size(), c.size()) == c;
         ++k)
      end -= c.size();
    next_->push(token.substr(begin, end - begin));
  }

 private:
  const StripStep& step_;
};

// Joined mode: the front is stripped once, at the start of the string; up to `stop` trailing
// copies are held back until the end shows whether they are trailing.
class StripJoined final : public DecodeStage {
 public:
  StripJoined(DecodeStage* next, const StripStep& step)
      : DecodeStage(next), step_(step), front_left_(step.start()) {}
  void push(std::string text) override {
    const std::string& c = step_.content();
    std::size_t begin = 0;
    if (front_left_ > 0) {
      begin = strip_front(text, 0, c, front_left_);
      if (begin < text.size()) front_left_ = 0;  // something else came first: stripping is over
    }
    held_.append(text, begin);
    // Hold the trailing run of `content`, at most `stop` copies of it.
    std::size_t end = held_.size();
    for (std::size_t k = 0; k < step_.stop() && end >= c.size() &&
                            std::string_view(held_).substr(end - c.size(), c.size()) == c;
         ++k)
      end -= c.size();
    if (end > 0) {
      next_->push(held_.substr(0, end));
      held_.erase(0, end);
    }
  }
  void finish() override {
    held_.clear();  // at most `stop` trailing copies: stripped
    DecodeStage::finish();
  }

 private:
  const StripStep& step_;
  std::size_t front_left_;
  std::string held_;
};

std::unique_ptr<DecodeStage> StripStep::make(DecodeStage* next, bool joined) const {
  if (joined) return std::make_unique<StripJoined>(next, *this);
  return std::make_unique<StripTokens>(next, *this);
}

// ---- Metaspace: replacement character -> space; dropped in the first token --------------------

class MetaspaceStep final : public DecodeStep {
 public:
  explicit MetaspaceStep(const ConfigNode& node) {
    utf8::append(replacement_, node.character("replacement"));
    const std::string scheme = node.has("prepend_scheme") ? node.string("prepend_scheme") : "always";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      node.at("prepend_scheme").fail(fmt::format("unknown prepend_scheme '{}'", scheme));
    if (!node.boolean("add_prefix_space", true) && scheme != "never")
      node.fail("add_prefix_space is false but prepend_scheme is not \"never\"");
    drop_in_first_ = scheme != "never";
  }
  std::unique_ptr<DecodeStage> make(DecodeStage* next, bool joined) const override;

  void map(std::string_view token, bool first, std::string& out) const {
    std::size_t from = 0;
    for (std::size_t at = token.find(replacement_); at != std::string_view::npos;
         at = token.find(replacement_, from)) {
      out.append(token.substr(from, at - from));
      if (!(first && drop_in_first_)) out += ' ';
      from = at + replacement_.size();
    }
    out.append(token.substr(from));
  }

 private:
  std::string replacement_;
  bool drop_in_first_ = true;
};

class MetaspaceStage final : public DecodeStage {
 public:
  MetaspaceStage(DecodeStage* next, const MetaspaceStep& step, bool joined)
      : DecodeStage(next), step_(step), joined_(joined) {}
  void push(std::string token) override {
    std::string out;
    step_.map(token, joined_ || first_, out);
    first_ = false;
    next_->push(std::move(out));
  }

 private:
  const MetaspaceStep& step_;
  bool joined_;  // joined input is HF's single token, hence the first one throughout
  bool first_ = true;
};

std::unique_ptr<DecodeStage> MetaspaceStep::make(DecodeStage* next, bool joined) const {
  return std::make_unique<MetaspaceStage>(next, *this, joined);
}

void add_steps(const ConfigNode& node, std::vector<std::unique_ptr<DecodeStep>>& steps, bool& joined) {
  const std::string type = node.type();
  if (type == "Sequence") {
    for (const ConfigNode& child : node.elements("decoders")) add_steps(child, steps, joined);
    return;
  }
  if ((type == "ByteLevel" || type == "ByteFallback") && joined)
    node.unsupported(fmt::format("decoder {} after a ByteLevel or Fuse decoder is not supported", type));
  std::unique_ptr<DecodeStep> step;
  if (type == "ByteLevel") step = std::make_unique<ByteLevelStep>();
  else if (type == "ByteFallback") step = std::make_unique<ByteFallbackStep>();
  else if (type == "Fuse") step = std::make_unique<FuseStep>();
  else if (type == "Replace") step = std::make_unique<ReplaceStep>(node);
  else if (type == "Strip") step = std::make_unique<StripStep>(node);
  else if (type == "Metaspace") step = std::make_unique<MetaspaceStep>(node);
  else node.unsupported(fmt::format("unsupported decoder type '{}'", type));
  joined = joined || step->joins();
  steps.push_back(std::move(step));
}

}  // namespace

// ---- DecodeRun / Decoder ----------------------------------------------------------------------

DecodeRun::DecodeRun() : output_(std::make_unique<std::string>()) {}
DecodeRun::DecodeRun(DecodeRun&&) noexcept = default;
DecodeRun& DecodeRun::operator=(DecodeRun&&) noexcept = default;
DecodeRun::~DecodeRun() = default;

void DecodeRun::push(std::string_view token) { stages_.front()->push(std::string(token)); }
void DecodeRun::finish() { stages_.front()->finish(); }
std::string DecodeRun::take_output() { return std::exchange(*output_, std::string()); }

Decoder::Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;
Decoder::~Decoder() = default;

Decoder Decoder::from_config(const ConfigNode* node) {
  Decoder decoder;
  bool joined = false;
  decoder.present_ = node != nullptr;
  if (node != nullptr) add_steps(*node, decoder.steps_, joined);
  return decoder;
}

DecodeRun Decoder::start() const {
  DecodeRun run;
  // Built back to front: each stage needs its successor. Without a decoder HF joins tokens with
  // spaces; with one (even an empty Sequence), with nothing.
  std::vector<std::unique_ptr<DecodeStage>> reversed;
  reversed.push_back(std::make_unique<Collect>(run.output_.get(), !present_));
  std::vector<bool> joined_before(steps_.size() + 1, false);
  for (std::size_t i = 0; i < steps_.size(); ++i) joined_before[i + 1] = joined_before[i] || steps_[i]->joins();
  for (std::size_t i = steps_.size(); i-- > 0;)
    reversed.push_back(steps_[i]->make(reversed.back().get(), joined_before[i]));
  run.stages_.assign(std::make_move_iterator(reversed.rbegin()), std::make_move_iterator(reversed.rend()));
  return run;
}

}  // namespace trimvl::tok
