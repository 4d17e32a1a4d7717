#include "language/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "kernels/runtime/error.h"
#include "language/tokenizer/onig_compat.h"
#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  return n < 0 ? "error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buffer), n);
}

// Per-thread matching scratch. The JIT stack is larger than PCRE2's 32 KiB default so that
// backtracking patterns such as \s+(?!\S) cope with whitespace runs of any realistic length.
struct Scratch {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_data* match_data = nullptr;

  Scratch() {
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    match_data = pcre2_match_data_create(1, nullptr);
    if (context == nullptr || jit_stack == nullptr || match_data == nullptr)
      throw Error("out of memory creating PCRE2 match scratch", Error::Kind::Internal);
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~Scratch() {
    pcre2_match_data_free(match_data);
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

struct Compiled {
  pcre2_code* code;
  int error;
  PCRE2_SIZE offset;
};

Compiled compile(std::string_view pattern, uint32_t options) {
  Compiled c{nullptr, 0, 0};
  c.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &c.error, &c.offset,
                         nullptr);
  return c;
}

}  // namespace

Regex::Regex(std::string pattern, Syntax syntax) : pattern_(std::move(pattern)) {
  // PCRE2 rejects UCP alongside LITERAL; a literal has no character classes for it to affect.
  const uint32_t options = PCRE2_UTF | (syntax == Syntax::Literal ? PCRE2_LITERAL : PCRE2_UCP);
  const Compiled compiled = compile(syntax == Syntax::Literal ? pattern_ : onig_compatible(pattern_), options);
  pcre2_code* code = compiled.code;
  if (code == nullptr) {
    // Report against the pattern as written (offsets in the rewritten one would mislead).
    const Compiled original = compile(pattern_, options);
    if (original.code == nullptr)
      throw Error(fmt::format("invalid regex /{}/ at offset {}: {}", pattern_, original.offset,
                              pcre2_message(original.error)));
    pcre2_code_free(original.code);
    throw Error(fmt::format("regex /{}/ no longer compiles after the Oniguruma compatibility rewrite: {}", pattern_,
                            pcre2_message(compiled.error)), Error::Kind::Internal);
  }
  // JIT is an accelerator only: where it is unavailable the interpreter gives the same matches.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::for_each_match(std::string_view subject,
                           const std::function<void(std::size_t, std::size_t)>& on_match) const {
  if (subject.empty()) return;
  auto* code = static_cast<const pcre2_code*>(code_);
  Scratch& s = scratch();
  const auto* data = reinterpret_cast<PCRE2_SPTR>(subject.data());
  std::size_t pos = 0;
  std::size_t last_end = std::string_view::npos;
  while (pos <= subject.size()) {
    // The subject was validated once by the caller; re-checking it on every call would make
    // matching quadratic in the segment length.
    const int rc = pcre2_match(code, data, subject.size(), pos, PCRE2_NO_UTF_CHECK, s.match_data, s.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      // Resource limits depend on the pattern and the text, both user input; anything else is ours.
      const bool limit = rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
                         rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
      throw Error(fmt::format("regex /{}/ failed on a {}-byte input: {}", pattern_, subject.size(), pcre2_message(rc)),
                  limit ? Error::Kind::InvalidInput : Error::Kind::Internal);
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.match_data);
    const std::size_t start = ovector[0], end = ovector[1];
    if (start == end && start == last_end) {
      if (start >= subject.size()) return;
      pos = start + utf8::char_len(static_cast<unsigned char>(subject[start]));
      continue;
    }
    on_match(start, end);
    last_end = end;
    pos = end;
  }
}

std::unique_ptr<Regex> regex_from_config(const ConfigNode& node) {
  const bool literal = node.has("String");
  if (!literal && !node.has("Regex")) node.fail(R"(expected {"String": ...} or {"Regex": ...})");
  std::string pattern = node.string(literal ? "String" : "Regex");
  try {
    return std::make_unique<Regex>(std::move(pattern), literal ? Regex::Syntax::Literal : Regex::Syntax::Regex);
  } catch (const Error& e) {
    node.fail(e.message());
  }
}

}  // namespace trimvl::tok
