#pragma once
// A decoder layer's retention gate (DESIGN §1): log β = logsigmoid(out(act(…hidden(x)…)) + bias)
// per KV head for every token, from the layer's post-input_layernorm hidden state. Runs in the
// model dtype, as the reference's bf16 modules do, and returns log β in that dtype; scores are
// formed from it in float32 by the policies.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "cache/gate_checkpoint.h"

namespace trimvl::cache {

class RetentionGate {
 public:
  // Copies `layer`'s tensors to `dtype` on `device`.
  RetentionGate(const GateLayer& layer, c10::ScalarType dtype, c10::Device device);

  // x: [T, hidden] -> log β [T, H_kv] in x's dtype.
  at::Tensor operator()(const at::Tensor& x) const;

  int64_t num_kv_heads() const;

 private:
  GateLayer weights_;
};

}  // namespace trimvl::cache
