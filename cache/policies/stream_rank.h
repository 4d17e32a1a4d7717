#pragma once
// Ranking inside Candidates' packed variable-length streams, vectorised over all streams at once
// (no loop over the L·H_kv streams, no host synchronisation).
//
// One order everywhere: the higher score first, NaN above everything (as torch.topk ranks it, so a
// token whose lookahead score is NaN is kept first), then the newer token (the higher stream
// position), then the lower stream id. The reference's top-k breaks ties in an
// implementation-defined way; ours is fixed so that runs reproduce, and recent tokens win ties.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "cache/policy.h"

namespace trimvl::cache {

// Throws Internal unless lengths has L·H_kv entries summing to the packed size and `scores`, when
// given, is [N].
void check_candidates(const Candidates& candidates, const at::Tensor& scores = at::Tensor());

at::Tensor stream_lengths(const Candidates& candidates);  // [S] int64 on the candidates' device
// [N] int64: each candidate's index inside its stream (0 = the oldest retained).
at::Tensor index_in_stream(const Candidates& candidates);
// [N] bool: whether the candidate is among its stream's last `count` (count ≥ 0).
at::Tensor most_recent(const Candidates& candidates, int64_t count);

// [N] bool: the first min(k, N) candidates in the order above, over all streams together.
at::Tensor keep_top_global(const Candidates& candidates, const at::Tensor& scores, int64_t k);
// [N] bool: stream s keeps its first min(counts[s], length) candidates in the order above; counts
// is [S] int64 on the candidates' device.
at::Tensor keep_top_per_stream(const Candidates& candidates, const at::Tensor& scores, const at::Tensor& counts);

// [S] int64: how many kept candidates each stream has.
at::Tensor kept_per_stream(const Candidates& candidates, const at::Tensor& keep);

}  // namespace trimvl::cache
