#include "language/tokenizer/stream_decoder.h"

#include "language/tokenizer/pipeline.h"

namespace trimvl {

StreamDecoder::StreamDecoder(std::shared_ptr<const tok::Pipeline> pipeline, bool skip_special_tokens)
    : pipeline_(std::move(pipeline)),
      run_(std::make_unique<tok::DecodeRun>(pipeline_->start_decoding())),
      skip_special_tokens_(skip_special_tokens) {}
StreamDecoder::StreamDecoder(StreamDecoder&&) noexcept = default;
StreamDecoder& StreamDecoder::operator=(StreamDecoder&&) noexcept = default;
StreamDecoder::~StreamDecoder() = default;

std::string StreamDecoder::step(int32_t id) {
  pipeline_->feed(*run_, id, skip_special_tokens_);
  return run_->take_output();
}

std::string StreamDecoder::finish() {
  run_->finish();
  std::string rest = run_->take_output();
  *run_ = pipeline_->start_decoding();
  return rest;
}

}  // namespace trimvl
