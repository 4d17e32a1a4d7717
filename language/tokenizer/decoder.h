#pragma once
// Decoders of tokenizer.json: token strings -> text. Supported: ByteLevel, Replace, ByteFallback,
// Fuse, Strip, Metaspace and Sequence of them; no decoder joins tokens with spaces, as HF does.
//
// HF applies each decoder to the whole list of tokens. trimvl runs the same chain incrementally,
// token by token, so one implementation serves decode() and streaming: each step passes on what
// can no longer change and holds back the rest (bytes of an unfinished UTF-8 character, a run of
// <0xXX> byte tokens that may continue, trailing characters a Strip may still remove, the start
// of a Replace pattern). ByteLevel and Fuse join their input into one string; steps after them
// see that string in pieces and treat it as the single token HF gives them. ByteLevel and
// ByteFallback after such a joining step cannot work piecewise and are rejected as Unsupported.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "language/tokenizer/config_node.h"

namespace trimvl::tok {

class DecodeStep;
class DecodeStage;

// One decoding of one token sequence; movable, not thread-safe (each stream has its own).
class DecodeRun {
 public:
  DecodeRun(DecodeRun&&) noexcept;
  DecodeRun& operator=(DecodeRun&&) noexcept;
  ~DecodeRun();

  void push(std::string_view token);
  // Ends the sequence: flushes everything held back.
  void finish();
  // Text that became final since the last call; never ends inside a UTF-8 character.
  std::string take_output();

 private:
  friend class Decoder;
  DecodeRun();
  std::unique_ptr<std::string> output_;  // stable address: the last stage writes here
  std::vector<std::unique_ptr<DecodeStage>> stages_;
};

class Decoder {
 public:
  // `node` null: tokenizer.json has no decoder.
  static Decoder from_config(const ConfigNode* node);
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;
  ~Decoder();

  DecodeRun start() const;

 private:
  Decoder();
  bool present_ = false;  // tokenizer.json has a decoder
  std::vector<std::unique_ptr<DecodeStep>> steps_;
};

}  // namespace trimvl::tok
