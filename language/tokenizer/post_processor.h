#pragma once
// Post-processors of tokenizer.json, for a single sequence: what encode(text, add_special_tokens
// = true) adds around the model's ids. Supported: TemplateProcessing (e.g. Llama-2's "<s> $A"),
// ByteLevel (offsets only, so nothing for ids), Sequence. Others are rejected as Unsupported.
#include <cstdint>
#include <memory>
#include <vector>

#include "language/tokenizer/config_node.h"

namespace trimvl::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;

  static std::unique_ptr<PostProcessor> from_config(const ConfigNode& node);
};

}  // namespace trimvl::tok
