#pragma once
// Hands a checkpoint's tensors to model modules by their Hugging Face names, converted to the
// model's dtype and device, and keeps account: a module asks for each parameter with the shape it
// expects, and finish() reports every problem at once — missing tensors, shape mismatches, and
// tensors under the model's prefixes that nobody asked for — in one Error naming the checkpoint.
// The tensors come from a WeightSource: a safetensors checkpoint, or random weights in memory.
// (One error listing all of them beats fixing a conversion one tensor per run.)
//
// Modules walk the tree with scopes, mirroring the checkpoint:
//   auto layer = weights.scope("model.language_model.layers").scope(i);
//   q_proj = layer.scope("self_attn.q_proj").take("weight", {q_dim, hidden});
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "kernels/io/weight_source.h"

namespace trimvl::io {

class WeightLoader {
 public:
  class Scope;

  WeightLoader(const WeightSource& source, c10::ScalarType dtype, c10::Device device);

  Scope root();
  // Throws one InvalidInput Error listing all missing tensors, wrong shapes, and unused tensors
  // whose names start with one of `owned_prefixes` (tensors of other prefixes — another model
  // part loaded elsewhere — are not this loader's business).
  void finish(const std::vector<std::string>& owned_prefixes);

  class Scope {
   public:
    Scope scope(std::string_view name) const;
    Scope scope(int64_t index) const { return scope(std::to_string(index)); }
    // The tensor `prefix.name` with exactly `shape`, in the loader's dtype and device. When it is
    // missing or misshapen the problem is recorded and a placeholder of the expected shape is
    // returned, so loading continues to finish() and all problems surface together.
    at::Tensor take(std::string_view name, std::vector<int64_t> shape) const;
    // As take(), in the dtype stored in the checkpoint (e.g. norms kept fp32 by some exports).
    at::Tensor take_as_stored(std::string_view name, std::vector<int64_t> shape) const;
    bool contains(std::string_view name) const;
    std::string name(std::string_view leaf) const;

   private:
    friend class WeightLoader;
    Scope(WeightLoader* loader, std::string prefix) : loader_(loader), prefix_(std::move(prefix)) {}
    at::Tensor fetch(std::string_view name, std::vector<int64_t> shape, bool convert) const;
    WeightLoader* loader_;
    std::string prefix_;
  };

 private:
  const WeightSource& source_;
  c10::ScalarType dtype_;
  c10::Device device_;
  std::set<std::string, std::less<>> taken_;
  std::vector<std::string> missing_, misshapen_;
};

}  // namespace trimvl::io
