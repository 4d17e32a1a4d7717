#pragma once
// model.visual.merger and model.visual.deepstack_merger_list.{j} (transformers 4.57.1
// Qwen3VLVisionPatchMerger): each run of m*m consecutive patches (one merge block, grid.h) becomes
// one token of out_hidden_size:
//   norm -> view(-1, m*m*hidden) -> linear_fc1 (m*m*hidden -> same) -> exact GELU -> linear_fc2
// The main merger normalises each patch (LayerNorm over hidden_size) before the shuffle; the
// DeepStack mergers normalise the shuffled m*m*hidden vector after it.
#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "vision/qwen3vl/layers.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::vision::qwen3vl {

class PatchMerger {
 public:
  enum class Norm { BeforeShuffle, AfterShuffle };  // merger | DeepStack mergers

  PatchMerger(const VisionConfig& config, const io::WeightLoader::Scope& scope, Norm norm);
  // [patches, hidden_size] -> [patches / (m*m), out_hidden_size]
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Norm where_;
  LayerNorm norm_;
  Linear fc1_, fc2_;
  int64_t merged_ = 0;  // m*m*hidden_size
};

}  // namespace trimvl::vision::qwen3vl
