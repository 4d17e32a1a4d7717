#include "language/qwen3vl/text_decoder.h"

#include <ATen/ATen.h>

#include "kernels/io/weight_loader.h"
#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::qwen3vl {

TextDecoder TextDecoder::load(const io::WeightSource& checkpoint, const TextConfig& config,
                              c10::ScalarType dtype, c10::Device device, const cache::GateCheckpoint* gates) {
  if (dtype != at::kBFloat16 && dtype != at::kHalf && dtype != at::kFloat)
    throw Error(fmt::format("the Qwen3-VL decoder runs in bf16, fp16 or fp32, not {}", dtype_name(dtype)),
                Error::Kind::Unsupported);
  io::WeightLoader loader(checkpoint, dtype, device);
  const auto root = loader.root();
  TextModel model(config, root.scope("model.language_model"), gates);
  std::vector<std::string> owned = {"model.language_model."};
  at::Tensor head;
  if (config.tie_word_embeddings) {
    head = model.embed_tokens();
    if (root.contains("lm_head.weight"))
      log::warn("{}: lm_head.weight is ignored: text_config.tie_word_embeddings is true, so the output projection "
                "is embed_tokens (as in transformers)", checkpoint.origin());
  } else {
    head = root.scope("lm_head").take("weight", {config.vocab_size, config.hidden_size});
    owned.push_back("lm_head.");
  }
  loader.finish(owned);
  return TextDecoder{std::move(model), LmHead(std::move(head))};
}

}  // namespace trimvl::qwen3vl
