#include "language/qwen3vl/rope_index.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "kernels/runtime/error.h"

namespace trimvl::qwen3vl {

MropePositions mrope_positions(int64_t num_tokens, std::span<const VisionBlock> blocks) {
  TRIMVL_CHECK_ARG(num_tokens >= 0, "a prompt of {} tokens", num_tokens);
  at::Tensor ids = at::empty({3, num_tokens}, at::kLong);
  int64_t* t = ids.data_ptr<int64_t>();
  int64_t* h = t + num_tokens;
  int64_t* w = h + num_tokens;
  int64_t index = 0;  // next token
  int64_t next = 0;   // its position: one past the largest so far
  auto text_until = [&](int64_t end) {
    for (; index < end; ++index) t[index] = h[index] = w[index] = next++;
  };
  for (const VisionBlock& b : blocks) {
    TRIMVL_CHECK_ARG(b.rows > 0 && b.cols > 0 && b.offset >= index && b.offset + b.size() <= num_tokens,
                     "vision block at token {} ({} x {}) does not fit after token {} in a prompt of {} tokens", b.offset,
                     b.rows, b.cols, index, num_tokens);
    text_until(b.offset);
    for (int64_t r = 0; r < b.rows; ++r)
      for (int64_t c = 0; c < b.cols; ++c, ++index) {
        t[index] = next;
        h[index] = next + r;
        w[index] = next + c;
      }
    next += std::max<int64_t>(b.rows, b.cols);
  }
  text_until(num_tokens);
  return {ids, next - num_tokens};
}

}  // namespace trimvl::qwen3vl
