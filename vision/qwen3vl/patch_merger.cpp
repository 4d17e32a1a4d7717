#include "vision/qwen3vl/patch_merger.h"

#include <ATen/ATen.h>

namespace trimvl::vision::qwen3vl {

PatchMerger::PatchMerger(const VisionConfig& c, const io::WeightLoader::Scope& scope, Norm norm)
    : where_(norm),
      norm_(LayerNorm::load(scope.scope("norm"), norm == Norm::AfterShuffle ? c.merged_hidden_size() : c.hidden_size,
                            kLayerNormEps)),
      fc1_(Linear::load(scope.scope("linear_fc1"), c.merged_hidden_size(), c.merged_hidden_size())),
      fc2_(Linear::load(scope.scope("linear_fc2"), c.merged_hidden_size(), c.out_hidden_size)),
      merged_(c.merged_hidden_size()) {}

at::Tensor PatchMerger::forward(const at::Tensor& x) const {
  const at::Tensor shuffled =
      where_ == Norm::BeforeShuffle ? norm_(x).reshape({-1, merged_}) : norm_(x.reshape({-1, merged_}));
  return fc2_(at::gelu(fc1_(shuffled)));
}

}  // namespace trimvl::vision::qwen3vl
