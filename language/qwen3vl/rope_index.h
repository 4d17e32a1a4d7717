#pragma once
// Qwen3-VL's 3-row M-RoPE position ids (temporal, height, width), as transformers 4.57.1's
// Qwen3VLModel.get_rope_index computes them for one unpadded sequence.
//
// Text tokens advance all three rows together by one. A vision block (a whole image, or one
// temporal group of a video: each group is its own block, its time being in the timestamp text)
// starting where the running position is p puts its token (row, col) at (p, p + row, p + col), and
// the next token starts at p + max(rows, cols). For a prompt without media this is 0..L-1 on every
// row, ordinary 1-D RoPE.
#include <cstdint>
#include <span>

#include <ATen/core/Tensor.h>

#include "language/qwen3vl/prompt.h"

namespace trimvl::qwen3vl {

struct MropePositions {
  at::Tensor ids;     // (3, L) int64 on the CPU: rows t, h, w
  int64_t delta = 0;  // max(ids) + 1 − L (≤ 0): a token appended at stream index i ≥ L (decode)
                      // gets position i + delta on all three rows
};

// `blocks` in prompt order, each inside [0, num_tokens) and not overlapping (Prompt::blocks).
MropePositions mrope_positions(int64_t num_tokens, std::span<const VisionBlock> blocks);

inline MropePositions mrope_positions(const Prompt& prompt) {
  return mrope_positions(static_cast<int64_t>(prompt.input_ids.size()), prompt.blocks);
}

}  // namespace trimvl::qwen3vl
