#pragma once
// Streaming decode for generation (obtained from Tokenizer::stream_decoder()).
#include <cstdint>
#include <memory>
#include <string>

namespace trimvl {

namespace tok {
class Pipeline;
class DecodeRun;
}  // namespace tok

// Decodes ids one at a time. Each step() returns the text that became final with that id;
// the pieces never split a UTF-8 character, and the concatenation of all step() results and
// finish() equals Tokenizer::decode() of the same ids. Text is held back while it can still
// change: bytes of an unfinished character, a run of byte-fallback tokens (Llama-2: a run that
// ends up invalid as a whole decodes to one U+FFFD per byte), trailing characters a Strip
// decoder may remove. Not thread-safe; one per sequence. Keeps its tokenizer's data alive.
class StreamDecoder {
 public:
  StreamDecoder(StreamDecoder&&) noexcept;
  StreamDecoder& operator=(StreamDecoder&&) noexcept;
  ~StreamDecoder();

  std::string step(int32_t id);
  // Ends the sequence and returns what was held back; the decoder then starts a new sequence.
  std::string finish();

 private:
  friend class Tokenizer;
  StreamDecoder(std::shared_ptr<const tok::Pipeline> pipeline, bool skip_special_tokens);

  std::shared_ptr<const tok::Pipeline> pipeline_;
  std::unique_ptr<tok::DecodeRun> run_;
  bool skip_special_tokens_;
};

}  // namespace trimvl
