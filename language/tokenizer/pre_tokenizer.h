#pragma once
// Pre-tokenizers of tokenizer.json: they cut a normalized segment into the pieces the model
// tokenizes independently (and may rewrite them, as ByteLevel and Metaspace do).
// Supported types: Split (PCRE2 regex or literal; all five delimiter behaviors; invert),
// ByteLevel (add_prefix_space, use_regex), Metaspace (prepend_scheme, split), Sequence.
// Others (Whitespace, BertPreTokenizer, Digits, ...) are rejected as Unsupported.
#include <memory>
#include <string>
#include <vector>

#include "language/tokenizer/config_node.h"

namespace trimvl::tok {

struct Piece {
  std::string text;
  // Starts at offset 0 of the caller's input: Metaspace's prepend_scheme "first" prepends only
  // there (HF tests the piece's original offset).
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their subdivision, in order; empty pieces are dropped, as HF does.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;

  static std::unique_ptr<PreTokenizer> from_config(const ConfigNode& node);
};

}  // namespace trimvl::tok
