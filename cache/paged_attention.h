#pragma once
// Attention over the streams of one layer, gathered from the pool into a padded batch: row h of
// keys/values [H_kv, W, D] holds kv head h's tokens in chronological order, then padding up to
// the longest row. The ATen reference of the paged kernels (PagedKvCache's storage is paged; these
// functions see the gathered rows).
//
// Query head q reads kv head q / G (G = H_q / H_kv), as everywhere in the cache: the query heads
// of a group are batched over their kv head's row, so a row is read once per group.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trimvl::cache {

// The forward's T new tokens attending: row h holds lengths[h] − T retained tokens followed by the
// T new ones (so new token i sees the first lengths[h] − T + i + 1 entries of its row).
// q: [T, H_q, D] → softmax(q·kᵀ·scale)·v as [T, H_q, D] in q's dtype.
at::Tensor attend_new_tokens(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                             const std::vector<int64_t>& lengths, double scale);

// For the last n of the forward's T new tokens (q_last: [n, H_q, D], laid out as above), the
// softmax probability each key receives, summed over the n queries and the G query heads of its
// group: [H_kv, W] float32, zero on padding.
at::Tensor new_token_attention_mass(const at::Tensor& q_last, int64_t new_tokens, const at::Tensor& keys,
                                    const std::vector<int64_t>& lengths, double scale);

// For queries from any earlier forwards (q: [n, H_q, D] at stream positions q_position [n]), the
// softmax probability each key receives, each query seeing only the keys at positions ≤ its own
// (key_position [H_kv, W]; padding must hold a position no query reaches), averaged over the n
// queries and the G query heads: [H_kv, W] float32. A query that sees no key contributes zero.
at::Tensor windowed_attention_mean(const at::Tensor& q, const at::Tensor& q_position, const at::Tensor& keys,
                                   const at::Tensor& key_position, double scale);

}  // namespace trimvl::cache
