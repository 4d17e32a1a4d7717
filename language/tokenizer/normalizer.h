#pragma once
// Normalizers of tokenizer.json: text-to-text rewrites applied to every segment of the input that
// is not an added token (and to the content of added tokens marked normalized=true).
// Supported types: NFC, NFD, NFKC, NFKD (ICU), Lowercase, Strip, Prepend, Replace, Sequence.
// Others (BertNormalizer, Precompiled, Nmt, StripAccents, ByteLevel) are rejected as Unsupported.
#include <memory>
#include <string>

#include "language/tokenizer/config_node.h"

namespace trimvl::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` (valid UTF-8) in place; the result is valid UTF-8.
  virtual void normalize(std::string& text) const = 0;

  static std::unique_ptr<Normalizer> from_config(const ConfigNode& node);
};

}  // namespace trimvl::tok
