#include "cache/paged_kv_cache.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "cache/block_pool.h"
#include "cache/paged_attention.h"
#include "kernels/ops/cuda_support.h"
#include "kernels/ops/paged_attention.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

// Why 16 tokens per block (FlashAttention-2's paged path wants 256):
//  - waste is at most one partial block per stream: L·H_kv·(block_size − 1) slots. At 256 that is
//    288 streams × 255 ≈ 73K tokens for Qwen3-VL-4B — as much as a whole M = 256 budget; at 16,
//    4.3K tokens;
//  - a decode kernel reads a head's keys block by block, and a 16-token block of 128-dim bf16 keys
//    is 4 KB, enough for coalesced loads;
//  - eviction compacts each stream's survivors and returns whole tail blocks, so smaller blocks
//    return memory sooner.

namespace trimvl::cache {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The kernel path's smallest stream capacity: capacities double from here, and each new one means
// a new device table and a new graph, so tiny ones are not worth having.
constexpr int64_t kMinCapacity = 256;

// Graph keys are unique in the process: a graph captured on one cache must never replay on
// another, which may reuse neither its addresses nor its shapes.
uint64_t next_graph_key() {
  static std::atomic<uint64_t> key{0};
  return ++key;
}

int64_t sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

at::TensorOptions longs(const c10::Device& device) { return at::TensorOptions(device).dtype(at::kLong); }

// Row-major packing of the first lengths[i] entries of rows i = 0..n−1: each packed entry's row and
// its offset in the row, [Σ lengths] int64 each. No host synchronisation (the total is host-known).
struct Packing {
  at::Tensor row, offset;
};

Packing pack(const std::vector<int64_t>& lengths, const c10::Device& device) {
  const int64_t total = sum(lengths);
  const at::Tensor counts = ops::to_device_async(at::tensor(lengths, at::kLong), device);
  const at::Tensor row = at::repeat_interleave(counts, /*output_size=*/std::optional<int64_t>(total));
  const at::Tensor starts = counts.cumsum(0).sub_(counts);
  return {row, at::arange(total, longs(device)).sub_(starts.index_select(0, row))};
}

// Flat index of the packed entries in a [n, width] row-major layout.
at::Tensor packed_index(const std::vector<int64_t>& lengths, int64_t width, const c10::Device& device) {
  const Packing p = pack(lengths, device);
  return p.row.mul(width).add_(p.offset);
}

ModalityCounts count_modalities(const at::Tensor& positions, const std::vector<TokenInfo>& tokens) {
  ModalityCounts counts{};
  const at::Tensor cpu = positions.to(at::kCPU).contiguous();
  const int64_t* p = cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < cpu.numel(); ++i) ++counts[static_cast<size_t>(tokens[static_cast<size_t>(p[i])].modality)];
  return counts;
}

}  // namespace

struct PagedKvCache::Impl {
  // The last queries of one layer, kept across forwards for window attention statistics.
  struct Window {
    at::Tensor q;         // [n, H_q, D], n ≤ AttentionNeeds::window
    at::Tensor position;  // [n] int64 stream positions
  };
  // What one layer's attend measured for accumulated attention, applied when the forward commits.
  struct Mass {
    at::Tensor slots;  // [Σ (len + T)] the layer's slots, stream-major, chronological
    at::Tensor mass;   // same shape, float32
  };
  // An eviction decided but not applied (computing it may throw; applying it may not).
  struct Eviction {
    Candidates candidates;
    at::Tensor slots;  // [N] each candidate's slot
    at::Tensor score, keep;
    std::vector<int64_t> kept_lengths;
  };

  PagedCacheOptions options;
  std::shared_ptr<const Policy> policy;
  AttentionNeeds needs;
  bool needs_gates = false;
  std::optional<int64_t> trigger_bound, retained_bound;
  int streams = 0;
  int64_t bytes_per_token = 0;  // K and V of one token in one stream
  BlockPool pool;

  std::vector<std::vector<int32_t>> tables;  // per stream: ceil(length / block_size) blocks between forwards
  std::vector<int64_t> lengths;              // per stream, committed
  std::vector<TokenInfo> tokens;
  int64_t seen = 0;
  std::optional<bool> gated;  // whether log β comes with the tokens: fixed by the first attend
  std::vector<Window> windows;
  std::vector<double> scales;  // per layer, from its latest attend
  CacheCounters counters;
  CacheObserver* observer = nullptr;

  // The kernel path of one-token forwards on CUDA (kernels/ops/paged_attention.h): a device mirror
  // of the block tables, and the forward's per-stream lengths and append slots staged by
  // begin_forward in one asynchronous copy, so that attend() issues device work only and a decode
  // step can be captured in a CUDA graph and replayed.
  struct Device {
    bool eligible = false;     // CUDA pool, kernels built, no attention statistics, 16-token tiles fit blocks
    bool active = false;       // this forward runs on the kernels
    std::optional<bool> took;  // whether the kernels took the latest active forward's attends
    at::Tensor table;          // [streams, capacity / block_size] int32; valid up to each length
    at::Tensor meta;           // [2 · streams] int32: lengths after the append, then append slots
    at::Tensor position;       // [1] int64: the new token's stream position
    at::Tensor split_counters; // [streams] int32 zeros: the decode kernel's split-K count
    int64_t capacity = 0;      // a power of two ≥ kMinCapacity bounding every stream
    bool stale = true;         // host tables changed other than through the decode launch's append
    const void* pool_storage = nullptr;
    uint64_t key = 0;          // renewed whenever an address or a launch shape a graph holds changes
  };
  Device dev;

  // The forward in progress.
  int64_t pending = -1;
  std::vector<bool> attended;
  std::vector<int32_t> forward_blocks;  // taken by this forward, in order
  at::Tensor new_positions;             // [H_kv · T] its tokens' stream positions, per stream of a layer
  std::optional<bool> gated_before;
  std::vector<Window> next_windows;
  std::vector<Mass> masses;

  Impl(const PagedCacheOptions& o, std::shared_ptr<const Policy> p)
      : options(o),
        policy(std::move(p)),
        streams(o.num_layers * o.num_kv_heads),
        pool(BlockPoolSpec{o.block_size, o.head_dim, o.dtype, o.device, accumulates(policy.get())},
             initial_blocks(o, policy.get())),
        tables(static_cast<size_t>(streams)),
        lengths(static_cast<size_t>(streams), 0),
        windows(static_cast<size_t>(o.num_layers)),
        scales(static_cast<size_t>(o.num_layers), 1.0),
        attended(static_cast<size_t>(o.num_layers), false),
        next_windows(static_cast<size_t>(o.num_layers)),
        masses(static_cast<size_t>(o.num_layers)) {
    // "cuda" names the current device; the tensors the model hands over name it with its index.
    options.device = pool.keys().device();
    if (const Scorer* scorer = policy->scorer()) {
      needs = scorer->needs();
      needs_gates = scorer->needs_gates();
    }
    if (const Selector* selector = policy->selector()) {
      trigger_bound = selector->trigger_bound(o.num_layers, o.num_kv_heads);
      retained_bound = selector->retained_bound(o.num_layers, o.num_kv_heads);
    }
    bytes_per_token = 2 * o.head_dim * static_cast<int64_t>(c10::elementSize(o.dtype));
    dev.eligible = options.device.is_cuda() && ops::cuda_kernels_built() && needs.window == 0 && !needs.accumulate &&
                   options.block_size % 16 == 0;
  }

  static bool accumulates(const Policy* policy) {
    TRIMVL_CHECK_ARG(policy != nullptr, "a paged KV cache needs a policy");
    return policy->scorer() && policy->scorer()->needs().accumulate;
  }

  // A bounded policy's pool holds, at its peak, the trigger bound plus one forward's tokens in every
  // stream; rounding each stream up to whole blocks adds at most one block per stream.
  static int64_t initial_blocks(const PagedCacheOptions& o, const Policy* policy) {
    TRIMVL_CHECK_ARG(o.num_layers > 0 && o.num_kv_heads > 0 && o.head_dim > 0,
                     "paged KV cache: {} layers, {} kv heads, head dim {}: all must be positive", o.num_layers,
                     o.num_kv_heads, o.head_dim);
    TRIMVL_CHECK_ARG(o.block_size > 0, "paged KV cache: block size must be positive, got {}", o.block_size);
    TRIMVL_CHECK_ARG(o.max_forward_tokens >= 0, "paged KV cache: max forward tokens must not be negative, got {}",
                     o.max_forward_tokens);
    TRIMVL_CHECK_ARG(policy != nullptr, "a paged KV cache needs a policy");
    const int64_t streams = int64_t{o.num_layers} * o.num_kv_heads;
    const int64_t forward = streams * o.max_forward_tokens;
    TRIMVL_CHECK_ARG(o.max_stream_tokens >= 0, "paged KV cache: max stream tokens must not be negative, got {}",
                     o.max_stream_tokens);
    std::optional<int64_t> bound;
    if (policy->selector()) bound = policy->selector()->trigger_bound(o.num_layers, o.num_kv_heads);
    int64_t tokens = bound.value_or(0) + forward;
    // A budget beyond the context never evicts; the stream, not the budget, bounds the pool then.
    if (o.max_stream_tokens > 0) tokens = std::min(tokens, streams * o.max_stream_tokens);
    return ceil_div(tokens, o.block_size) + streams;
  }

  int64_t block_size() const { return options.block_size; }
  int layer_heads() const { return options.num_kv_heads; }
  const c10::Device& device() const { return options.device; }

  // The pool slot of entry `entry` of a stream's block table.
  int64_t slot_of(const std::vector<int32_t>& table, int64_t entry) const {
    return int64_t{table[static_cast<size_t>(entry / block_size())]} * block_size() + entry % block_size();
  }

  // The first slot of each of the first `blocks` blocks of streams first.. (block 0's past a
  // stream's blocks: a valid block, so padded reads stay in bounds; what they read is masked),
  // appended to `out`: a sixteenth of the slots, which padded_slots expands on the device.
  void block_bases_into(std::vector<int64_t>& out, int first, int count, int64_t blocks) const {
    for (int i = 0; i < count; ++i) {
      const auto& table = tables[static_cast<size_t>(first + i)];
      for (int64_t b = 0; b < blocks; ++b)
        out.push_back((b < static_cast<int64_t>(table.size()) ? int64_t{table[static_cast<size_t>(b)]} : 0) *
                      block_size());
    }
  }

  // Row-major [count · width] slots of the first `width` entries of `count` streams, from their
  // block bases [count · ⌈width / block_size⌉] on the device: one add of the offsets in a block.
  at::Tensor padded_slots(const at::Tensor& bases, int64_t count, int64_t width) const {
    const int64_t bs = block_size(), blocks = ceil_div(width, bs);
    return (bases.view({count, blocks, 1}) + at::arange(bs, longs(device())))
        .view({count, blocks * bs})
        .narrow(1, 0, width)
        .reshape(-1);
  }

  at::Tensor padded_slots(int first, int count, int64_t width) const {
    std::vector<int64_t> host;
    block_bases_into(host, first, count, ceil_div(width, block_size()));
    return padded_slots(ops::to_device_async(at::tensor(host, at::kLong), device()), count, width);
  }

  // [Σ counts] the slots of the first counts[i] tokens of streams first + i, stream-major. The host
  // uploads only the blocks those tokens occupy and where each stream's begin, not a table padded
  // to the longest stream: with a global budget one head may hold most of a long context, and a
  // [streams, longest] table made eviction cost grow with the context (docs/perf.md).
  at::Tensor packed_slots(int first, const std::vector<int64_t>& counts) const {
    const int64_t bs = block_size();
    const auto n = static_cast<int64_t>(counts.size());
    std::vector<int64_t> host(static_cast<size_t>(n));  // each stream's first entry in the block list, then the list
    for (int64_t i = 0; i < n; ++i) {
      const auto& table = tables[static_cast<size_t>(first + i)];
      const int64_t blocks = ceil_div(counts[static_cast<size_t>(i)], bs);
      TRIMVL_CHECK(blocks <= static_cast<int64_t>(table.size()), "stream {} holds {} blocks, {} tokens need {}",
                   first + i, table.size(), counts[static_cast<size_t>(i)], blocks);
      host[static_cast<size_t>(i)] = static_cast<int64_t>(host.size()) - n;
      host.insert(host.end(), table.begin(), table.begin() + blocks);
    }
    const at::Tensor uploaded = ops::to_device_async(at::tensor(host, at::kLong), device());
    const at::Tensor starts = uploaded.narrow(0, 0, n), blocks = uploaded.narrow(0, n, uploaded.size(0) - n);
    const Packing p = pack(counts, device());
    const at::Tensor block = blocks.index_select(0, starts.index_select(0, p.row).add_(p.offset.div(bs, "floor")));
    return block.mul_(bs).add_(p.offset.remainder(bs));
  }

  // The same for every layer, so made once a forward.
  const at::Tensor& forward_positions(int64_t t, int64_t h) {
    if (!new_positions.defined()) new_positions = at::arange(seen, seen + t, longs(device())).repeat({h});
    return new_positions;
  }

  std::vector<int64_t> layer_lengths(int layer, int64_t extra) const {
    const auto begin = lengths.begin() + int64_t{layer} * layer_heads();
    std::vector<int64_t> out(begin, begin + layer_heads());
    for (int64_t& l : out) l += extra;
    return out;
  }

  // Grows the pool when this layer's forward tokens do not fit. A bounded pool is sized for its
  // policy's worst case, so it grows only for a forward larger than it was sized for.
  void reserve(int64_t needed, int64_t forward_tokens) {
    if (needed <= pool.free_blocks()) return;
    const bool bounded = trigger_bound.has_value();
    TRIMVL_CHECK(!bounded || options.max_forward_tokens == 0 || forward_tokens > options.max_forward_tokens,
                 "KV pool of {} blocks exhausted under policy '{}' by a {}-token forward (sized for {}): the "
                 "policy kept more than its bound",
                 pool.blocks(), policy->describe(), forward_tokens, options.max_forward_tokens);
    // What the whole forward needs, so that a long prefill grows the pool once, not once per layer.
    int64_t forward_blocks_needed = 0;
    for (int64_t l : lengths) forward_blocks_needed += ceil_div(l + forward_tokens, block_size());
    const int64_t target = std::max(forward_blocks_needed, pool.blocks() + needed - pool.free_blocks());
    const int64_t grown = bounded ? target : std::max(target, 2 * pool.blocks());
    log::debug("KV pool grows from {} to {} blocks for a {}-token forward (policy {})", pool.blocks(), grown,
               forward_tokens, policy->describe());
    pool.grow(grown);
  }

  void check_attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& log_beta) const {
    TRIMVL_CHECK(pending > 0, "attend outside a forward");
    TRIMVL_CHECK(layer >= 0 && layer < options.num_layers, "layer {} of a {}-layer cache", layer, options.num_layers);
    TRIMVL_CHECK(!attended[static_cast<size_t>(layer)], "layer {} attended twice in one forward", layer);
    const int64_t h = layer_heads(), d = options.head_dim;
    TRIMVL_CHECK(q.defined() && k.defined() && v.defined() && q.dim() == 3 && k.dim() == 3 &&
                     v.sizes() == k.sizes() && q.size(0) == pending && k.size(0) == pending && k.size(1) == h &&
                     k.size(2) == d && q.size(2) == d && q.size(1) > 0 && q.size(1) % h == 0,
                 "attend: q {} and k/v {} / {} are not [T, H_q, D] and [T, H_kv, D] with T = {}, H_kv = {}, D = {} "
                 "and H_kv dividing H_q",
                 q.defined() ? q.sizes() : at::IntArrayRef{}, k.defined() ? k.sizes() : at::IntArrayRef{},
                 v.defined() ? v.sizes() : at::IntArrayRef{}, pending, h, d);
    TRIMVL_CHECK(q.scalar_type() == options.dtype && k.scalar_type() == options.dtype &&
                     v.scalar_type() == options.dtype && q.device() == device() && k.device() == device() &&
                     v.device() == device(),
                 "attend: q, k, v must be {} on {}, got {}/{}/{} on {}/{}/{}", c10::toString(options.dtype),
                 device().str(), c10::toString(q.scalar_type()), c10::toString(k.scalar_type()),
                 c10::toString(v.scalar_type()), q.device().str(), k.device().str(), v.device().str());
    if (log_beta.defined())
      TRIMVL_CHECK(log_beta.dim() == 2 && log_beta.size(0) == pending && log_beta.size(1) == h &&
                       at::isFloatingType(log_beta.scalar_type()) && log_beta.device() == device(),
                   "attend: log β {} {} on {} is not a floating [T, H_kv] = [{}, {}] tensor on {}", log_beta.sizes(),
                   c10::toString(log_beta.scalar_type()), log_beta.device().str(), pending, h, device().str());
    if (needs_gates && !log_beta.defined())
      throw Error(fmt::format("policy {} needs retention gates: pass --gates DIR or a gate directory as the model",
                              policy_name(policy->options().kind)));
    TRIMVL_CHECK(!gated || *gated == log_beta.defined(),
                 "attend: log β given for some layers or forwards and not for others (layer {} {})", layer,
                 log_beta.defined() ? "has one" : "has none");
  }

  at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& log_beta, double scale) {
    check_attend(layer, q, k, v, log_beta);
    if (dev.active) {
      if (ops::paged_decode_supported(q.view({q.size(1), q.size(2)}), layer_heads())) {
        dev.took = dev.took.value_or(true);
        return attend_on_device(layer, q, k, v, log_beta, scale);
      }
      dev.took = false;  // the blocks are taken; the reference path below finds them
    }
    dev.stale = true;
    const int64_t t = pending, h = layer_heads(), d = options.head_dim, bs = block_size();
    const int first = layer * options.num_kv_heads;
    const std::vector<int64_t> rows = layer_lengths(layer, t);  // each stream after appending

    int64_t needed = 0;
    for (int64_t i = 0; i < h; ++i)
      needed += ceil_div(rows[static_cast<size_t>(i)], bs) - static_cast<int64_t>(tables[static_cast<size_t>(first + i)].size());
    reserve(needed, t);
    for (int64_t i = 0; i < h; ++i) {
      auto& table = tables[static_cast<size_t>(first + i)];
      const size_t had = table.size();
      pool.take(ceil_div(rows[static_cast<size_t>(i)], bs) - static_cast<int64_t>(had), table);
      forward_blocks.insert(forward_blocks.end(), table.begin() + static_cast<int64_t>(had), table.end());
    }
    gated = log_beta.defined();
    attended[static_cast<size_t>(layer)] = true;
    scales[static_cast<size_t>(layer)] = scale;

    // Append: new token j of stream i goes to entry lengths[i] + j of its row. The host computes
    // those slots and uploads them with the rows' block bases, once: a prefill's layers waited on
    // the host while it issued a table upload and ten index kernels for the same. Streams that held
    // nothing before (a first forward) are their new tokens alone, attended as given.
    const int64_t width = *std::max_element(rows.begin(), rows.end()), blocks = ceil_div(width, bs);
    const bool only_new = std::all_of(rows.begin(), rows.end(), [&](int64_t r) { return r == t; });
    std::vector<int64_t> host;  // [H_kv, T] the new tokens' slots; unless only_new, [H_kv, blocks] bases
    host.reserve(static_cast<size_t>(h * (t + (only_new ? 0 : blocks))));
    for (int64_t i = 0; i < h; ++i) {
      const auto& table = tables[static_cast<size_t>(first + i)];
      for (int64_t e = rows[static_cast<size_t>(i)] - t; e < rows[static_cast<size_t>(i)]; ++e)
        host.push_back(slot_of(table, e));
    }
    if (!only_new) block_bases_into(host, first, static_cast<int>(h), blocks);
    const at::Tensor uploaded = ops::to_device_async(at::tensor(host, at::kLong), device());
    const at::Tensor fresh = uploaded.narrow(0, 0, h * t);
    // [H_kv, T, D]: the rows a gather of an empty stream's slots would give.
    const at::Tensor new_keys = k.transpose(0, 1).contiguous(), new_values = v.transpose(0, 1).contiguous();
    pool.keys().index_copy_(0, fresh, new_keys.view({h * t, d}));
    pool.values().index_copy_(0, fresh, new_values.view({h * t, d}));
    pool.positions().index_copy_(0, fresh, forward_positions(t, h));
    if (log_beta.defined())
      pool.log_beta().index_copy_(0, fresh, log_beta.transpose(0, 1).reshape({h * t}).to(options.dtype));
    if (needs.accumulate) pool.accumulated().index_fill_(0, fresh, 0.0);

    // Every row's slots, padded to the longest: only_new's rows are the new tokens' own.
    const at::Tensor flat = only_new ? fresh : padded_slots(uploaded.narrow(0, h * t, h * blocks), h, width);
    const at::Tensor keys = only_new ? new_keys : pool.keys().index_select(0, flat).view({h, width, d});
    const at::Tensor values = only_new ? new_values : pool.values().index_select(0, flat).view({h, width, d});
    at::Tensor out = attend_new_tokens(q, keys, values, rows, scale);

    if (needs.accumulate) {
      // Decode queries, or a prefill's last `window` queries (its last one without a window).
      const int64_t n = std::min(t, std::max<int64_t>(needs.window, 1));
      const at::Tensor mass = new_token_attention_mass(q.narrow(0, t - n, n), t, keys, rows, scale);
      const at::Tensor index = packed_index(rows, width, device());
      masses[static_cast<size_t>(layer)] = {flat.index_select(0, index), mass.view(-1).index_select(0, index)};
    }
    if (needs.window > 0) {
      const int64_t n = std::min(t, needs.window);
      const Window& old = windows[static_cast<size_t>(layer)];
      at::Tensor wq = q.narrow(0, t - n, n);
      at::Tensor wpos = at::arange(seen + t - n, seen + t, longs(device()));
      if (old.q.defined() && n < needs.window) {
        const int64_t keep = std::min(old.q.size(0), needs.window - n);
        wq = at::cat({old.q.narrow(0, old.q.size(0) - keep, keep), wq});
        wpos = at::cat({old.position.narrow(0, old.position.size(0) - keep, keep), wpos});
      }
      next_windows[static_cast<size_t>(layer)] = {wq.clone(), wpos};
    }
    return out;
  }

  // [Σ held of the layer] mean attention of the layer's window queries over its tokens.
  at::Tensor window_attention(int layer, const std::vector<int64_t>& held) const {
    const int64_t h = layer_heads(), d = options.head_dim;
    const int first = layer * options.num_kv_heads;
    const std::vector<int64_t> rows(held.begin() + first, held.begin() + first + h);
    const int64_t width = *std::max_element(rows.begin(), rows.end());
    const at::Tensor flat = padded_slots(first, static_cast<int>(h), width);
    const at::Tensor keys = pool.keys().index_select(0, flat).view({h, width, d});
    const at::Tensor valid = at::arange(width, longs(device())).view({1, width}) <
                             ops::to_device_async(at::tensor(rows, at::kLong), device()).view({h, 1});
    const at::Tensor key_position = pool.positions().index_select(0, flat).view({h, width}).masked_fill(
        valid.logical_not(), std::numeric_limits<int64_t>::max());
    const Window& w = next_windows[static_cast<size_t>(layer)];
    const at::Tensor mean = windowed_attention_mean(w.q, w.position, keys, key_position, scales[static_cast<size_t>(layer)]);
    return mean.view(-1).index_select(0, packed_index(rows, width, device()));
  }

  // Scores and selects; changes nothing, so a policy that throws leaves the forward abortable.
  Eviction plan_eviction(const std::vector<int64_t>& held, int64_t seen_after) const {
    Eviction e;
    Candidates& c = e.candidates;
    c.num_layers = options.num_layers;
    c.num_kv_heads = options.num_kv_heads;
    c.seen = seen_after;
    c.lengths = held;
    const int64_t n = sum(held);
    e.slots = packed_slots(0, held);
    c.stream = pack(held, device()).row;
    c.position = pool.positions().index_select(0, e.slots);
    if (gated.value_or(false)) c.log_beta = pool.log_beta().index_select(0, e.slots);
    if (needs.window > 0) {
      std::vector<at::Tensor> parts;
      for (int l = 0; l < options.num_layers; ++l) parts.push_back(window_attention(l, held));
      c.window_attention = at::cat(parts);
    }
    if (needs.accumulate) {
      std::vector<at::Tensor> parts;
      for (const Mass& m : masses) parts.push_back(m.mass);
      c.accumulated_attention = pool.accumulated().index_select(0, e.slots).add_(at::cat(parts));
    }

    const std::string name = policy->describe();
    e.score = policy->scorer()->score(c);
    TRIMVL_CHECK(e.score.defined() && e.score.dim() == 1 && e.score.size(0) == n &&
                     e.score.scalar_type() == at::kFloat && e.score.device() == device(),
                 "policy {}: the scorer returned {} {} for {} candidates, expected [{}] float32 on {}", name,
                 e.score.defined() ? e.score.sizes() : at::IntArrayRef{},
                 e.score.defined() ? c10::toString(e.score.scalar_type()) : "nothing", n, n, device().str());
    e.keep = policy->selector()->select(c, e.score);
    TRIMVL_CHECK(e.keep.defined() && e.keep.dim() == 1 && e.keep.size(0) == n && e.keep.scalar_type() == at::kBool &&
                     e.keep.device() == device(),
                 "policy {}: the selector returned {} {} for {} candidates, expected [{}] bool on {}", name,
                 e.keep.defined() ? e.keep.sizes() : at::IntArrayRef{},
                 e.keep.defined() ? c10::toString(e.keep.scalar_type()) : "nothing", n, n, device().str());
    // The one host synchronisation of a forward: how many tokens each stream keeps.
    const at::Tensor kept = at::zeros({streams}, longs(device())).index_add_(0, c.stream, e.keep.to(at::kLong)).cpu();
    e.kept_lengths.assign(kept.data_ptr<int64_t>(), kept.data_ptr<int64_t>() + streams);
    if (retained_bound)
      TRIMVL_CHECK(sum(e.kept_lengths) <= *retained_bound, "policy {} kept {} tokens, above its bound of {}", name,
                   sum(e.kept_lengths), *retained_bound);
    return e;
  }

  // A one-token forward on the kernels: takes every stream's block for the new token now (attend
  // cannot, inside a graph), and stages lengths and slots for the device in one asynchronous copy
  // from pinned memory (the caching host allocator keeps a buffer until its copy has run).
  void begin_device_forward() {
    const int64_t bs = block_size();
    int64_t needed = 0, longest = 0;
    for (size_t s = 0; s < tables.size(); ++s) {
      needed += ceil_div(lengths[s] + 1, bs) - static_cast<int64_t>(tables[s].size());
      longest = std::max(longest, lengths[s] + 1);
    }
    reserve(needed, 1);
    // Addresses and launch shapes a captured graph holds: the pool's storage, the table's size.
    if (pool.keys().data_ptr() != dev.pool_storage) {
      dev.pool_storage = pool.keys().data_ptr();
      dev.key = next_graph_key();
    }
    if (!dev.meta.defined()) {
      dev.meta = at::empty({2 * streams}, longs(device()).dtype(at::kInt));
      dev.position = at::empty({1}, longs(device()));
      dev.split_counters = at::zeros({streams}, longs(device()).dtype(at::kInt));
    }
    if (longest > dev.capacity) {
      int64_t capacity = kMinCapacity;
      while (capacity < longest) capacity *= 2;
      dev.table = at::empty({streams, capacity / bs}, longs(device()).dtype(at::kInt));
      dev.capacity = capacity;
      dev.stale = true;
      dev.key = next_graph_key();
    }
    at::Tensor staged = at::empty({2 * streams}, at::TensorOptions().dtype(at::kInt).pinned_memory(true));

    int32_t* out = staged.data_ptr<int32_t>();
    for (size_t s = 0; s < tables.size(); ++s) {
      auto& table = tables[s];
      const size_t had = table.size();
      pool.take(ceil_div(lengths[s] + 1, bs) - static_cast<int64_t>(had), table);
      forward_blocks.insert(forward_blocks.end(), table.begin() + static_cast<int64_t>(had), table.end());
      out[s] = static_cast<int32_t>(lengths[s] + 1);
      out[static_cast<size_t>(streams) + s] = static_cast<int32_t>(slot_of(table, lengths[s]));
    }
    if (dev.stale) upload_tables();
    dev.meta.copy_(staged, /*non_blocking=*/true);
    dev.position.fill_(seen);  // a kernel argument, not a copy
    dev.active = true;
  }

  // The whole device table from the host tables (after a prefill or an eviction rewrote them).
  void upload_tables() {
    const int64_t width = dev.table.size(1);
    at::Tensor host = at::zeros({streams, width}, at::TensorOptions().dtype(at::kInt).pinned_memory(true));
    int32_t* out = host.data_ptr<int32_t>();
    for (size_t s = 0; s < tables.size(); ++s) {
      // Blocks beyond the width belong to tokens past the capacity, which no stream holds now.
      const int64_t n = std::min<int64_t>(width, static_cast<int64_t>(tables[s].size()));
      std::copy_n(tables[s].begin(), n, out + static_cast<int64_t>(s) * width);
    }
    dev.table.copy_(host, /*non_blocking=*/true);
    dev.stale = false;
  }

  ops::PagedView device_view() const {
    ops::PagedView view;
    view.keys = pool.keys();
    view.values = pool.values();
    view.positions = pool.positions();
    view.log_beta = pool.log_beta();
    view.accumulated = pool.accumulated();
    view.block_table = dev.table;
    view.lengths = dev.meta.narrow(0, 0, streams);
    view.split_counters = dev.split_counters;
    view.block_size = block_size();
    return view;
  }

  at::Tensor attend_on_device(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& log_beta, double scale) {
    const int64_t h = layer_heads(), d = options.head_dim, hq = q.size(1);
    gated = log_beta.defined();
    attended[static_cast<size_t>(layer)] = true;
    scales[static_cast<size_t>(layer)] = scale;
    const ops::PagedView view = device_view();
    const int64_t first = int64_t{layer} * h;
    // The launch appends the token (k, v, log β) to each of the layer's streams as it attends.
    const ops::AppendedToken token{.k = k.view({h, d}),
                                   .v = v.view({h, d}),
                                   .log_beta = log_beta.defined() ? log_beta.view({h}) : at::Tensor(),
                                   .slots = dev.meta.narrow(0, streams, streams),
                                   .position = dev.position};
    return ops::paged_decode_attention(q.view({hq, d}), view, first, h, dev.capacity, scale, ops::kDecodeWaves, &token)
        .view({1, hq, d});
  }

  std::optional<uint64_t> graph_key() const {
    if (!dev.active || dev.took != true) return std::nullopt;
    return dev.key;
  }

  void replayed() {
    TRIMVL_CHECK(dev.active && dev.took == true, "a replayed forward the kernels did not run");
    std::fill(attended.begin(), attended.end(), true);
  }

  // Moves each stream's survivors to its front, in order, and returns the emptied tail blocks.
  void apply(const Eviction& e) {
    dev.stale = true;
    const at::Tensor from = e.slots.index_select(0, at::nonzero(e.keep).view(-1));
    const at::Tensor to = packed_slots(0, e.kept_lengths);
    pool.move_slots(from, to);
    for (size_t s = 0; s < tables.size(); ++s) {
      auto& table = tables[s];
      const auto keep = static_cast<size_t>(ceil_div(e.kept_lengths[s], block_size()));
      std::vector<int32_t> tail(table.rbegin(), table.rend() - static_cast<int64_t>(keep));
      pool.give_back(tail);
      table.resize(keep);
    }
    lengths = e.kept_lengths;
  }

  std::vector<int64_t> held_after_forward() const {
    std::vector<int64_t> held = lengths;
    for (int64_t& l : held) l += pending;
    return held;
  }

  bool eviction_due(const std::vector<int64_t>& held) const {
    const CacheState state{options.num_layers, options.num_kv_heads, seen + pending, pending, &held};
    return policy->evicts() && policy->selector()->due(state);
  }

  void end_forward() {
    TRIMVL_CHECK(pending > 0, "end_forward outside a forward");
    for (size_t i = 0; i < attended.size(); ++i) TRIMVL_CHECK(attended[i], "end_forward: layer {} was not attended", i);
    const int64_t seen_after = seen + pending;
    const std::vector<int64_t> held = held_after_forward();
    std::optional<Eviction> eviction;
    if (eviction_due(held)) eviction = plan_eviction(held, seen_after);

    // Commit.
    dev.active = false;
    seen = seen_after;
    lengths = held;
    pending = -1;
    forward_blocks.clear();
    new_positions = at::Tensor();
    std::fill(attended.begin(), attended.end(), false);
    if (needs.window > 0) windows.swap(next_windows);
    if (needs.accumulate)
      for (Mass& m : masses) pool.accumulated().index_add_(0, m.slots, m.mass);
    next_windows.assign(next_windows.size(), Window{});
    masses.assign(masses.size(), Mass{});
    if (eviction) apply(*eviction);

    const int64_t peak = sum(held), cached = sum(lengths);
    CacheCounters& n = counters;
    ++n.forwards;
    if (eviction) ++n.evictions;
    n.cached_tokens = cached;
    n.kv_bytes = cached * bytes_per_token;
    n.peak_cached_tokens = std::max(n.peak_cached_tokens, peak);
    n.peak_kv_bytes = n.peak_cached_tokens * bytes_per_token;
    n.cache_ratio_sum += static_cast<double>(cached) / static_cast<double>(int64_t{streams} * seen);
    if (observer) notify(eviction ? &*eviction : nullptr, held);
  }

  void notify(const Eviction* eviction, const std::vector<int64_t>& held) {
    const int64_t forward = counters.forwards - 1;
    if (eviction) {
      EvictionEvent event;
      event.index = counters.evictions - 1;
      event.forward = forward;
      event.seen = seen;
      event.num_layers = options.num_layers;
      event.num_kv_heads = options.num_kv_heads;
      event.lengths_before = held;
      event.lengths_after = lengths;
      const Candidates& c = eviction->candidates;
      event.stream = c.stream.cpu();
      event.position = c.position.cpu();
      event.score = eviction->score.cpu();
      event.kept = eviction->keep.cpu();
      event.kept_by_modality = count_modalities(event.position.masked_select(event.kept), tokens);
      event.evicted_by_modality = count_modalities(event.position.masked_select(event.kept.logical_not()), tokens);
      observer->on_eviction(event);
    }
    const int64_t stride = observer->step_stride();
    if (!eviction && (stride <= 0 || forward % stride != 0)) return;
    StepRecord record;
    record.forward = forward;
    record.seen = seen;
    record.lengths = lengths;
    record.cached_tokens = counters.cached_tokens;
    record.kv_bytes = counters.kv_bytes;
    const at::Tensor positions = all_positions();
    record.cached_by_modality = count_modalities(positions, tokens);
    if (observer->wants_positions()) record.positions = positions;
    observer->on_step(record);
  }

  at::Tensor all_positions() const {
    if (sum(lengths) == 0) return at::empty({0}, at::kLong);
    return pool.positions().index_select(0, packed_slots(0, lengths)).cpu();
  }

  void abort_forward() noexcept {
    if (pending < 0) return;
    dev.active = false;
    // This forward's blocks sit past each stream's committed ones; returning them in reverse
    // restores the free stack.
    for (size_t s = 0; s < tables.size(); ++s)
      tables[s].resize(static_cast<size_t>(ceil_div(lengths[s], block_size())));
    std::reverse(forward_blocks.begin(), forward_blocks.end());
    pool.give_back(forward_blocks);
    forward_blocks.clear();
    new_positions = at::Tensor();
    tokens.resize(static_cast<size_t>(seen));
    gated = gated_before;
    pending = -1;
    std::fill(attended.begin(), attended.end(), false);
    next_windows.assign(next_windows.size(), Window{});
    masses.assign(masses.size(), Mass{});
  }

  // One stream's tokens: [len] slots, chronological.
  at::Tensor stream_slots(int layer, int head) const {
    TRIMVL_CHECK(layer >= 0 && layer < options.num_layers && head >= 0 && head < options.num_kv_heads,
                 "stream (layer {}, head {}) of a cache with {} layers and {} kv heads", layer, head,
                 options.num_layers, options.num_kv_heads);
    const int s = layer * options.num_kv_heads + head;
    return packed_slots(s, {lengths[static_cast<size_t>(s)]});
  }
};

PagedKvCache::PagedKvCache(const PagedCacheOptions& options, std::shared_ptr<const Policy> policy)
    : impl_(std::make_unique<Impl>(options, std::move(policy))) {}

PagedKvCache::~PagedKvCache() = default;

int PagedKvCache::num_layers() const { return impl_->options.num_layers; }
int64_t PagedKvCache::seen_tokens() const { return impl_->seen; }

void PagedKvCache::begin_forward(const ForwardTokens& tokens) {
  Impl& m = *impl_;
  TRIMVL_CHECK(m.pending < 0, "begin_forward while a forward of {} tokens is open", m.pending);
  TRIMVL_CHECK(tokens.size() > 0, "a forward must append at least one token");
  m.pending = tokens.size();
  m.gated_before = m.gated;
  m.tokens.insert(m.tokens.end(), tokens.info.begin(), tokens.info.end());
  if (!m.dev.eligible || tokens.size() != 1) return;
  try {
    m.begin_device_forward();
  } catch (...) {
    m.abort_forward();
    throw;
  }
}

std::optional<uint64_t> PagedKvCache::graph_key() const { return impl_->graph_key(); }

bool PagedKvCache::evicts_at_end_forward() const {
  TRIMVL_CHECK(impl_->pending > 0, "evicts_at_end_forward outside a forward");
  return impl_->eviction_due(impl_->held_after_forward());
}
void PagedKvCache::replayed() { impl_->replayed(); }

at::Tensor PagedKvCache::attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& log_beta, double scale) {
  return impl_->attend(layer, q, k, v, log_beta, scale);
}

void PagedKvCache::end_forward() { impl_->end_forward(); }
void PagedKvCache::abort_forward() noexcept { impl_->abort_forward(); }

void PagedKvCache::reset() {
  Impl& m = *impl_;
  TRIMVL_CHECK(m.pending < 0, "reset during a forward");
  for (auto& table : m.tables) table.clear();
  std::fill(m.lengths.begin(), m.lengths.end(), 0);
  m.pool.release_all();
  m.tokens.clear();
  m.seen = 0;
  m.gated.reset();
  m.windows.assign(m.windows.size(), Impl::Window{});
  m.counters = CacheCounters{};
  m.dev.stale = true;
}

const Policy& PagedKvCache::policy() const { return *impl_->policy; }
void PagedKvCache::set_observer(CacheObserver* observer) { impl_->observer = observer; }
const CacheCounters& PagedKvCache::counters() const { return impl_->counters; }
const std::vector<TokenInfo>& PagedKvCache::tokens() const { return impl_->tokens; }
const std::vector<int64_t>& PagedKvCache::lengths() const { return impl_->lengths; }

at::Tensor PagedKvCache::positions(int layer, int head) const {
  return impl_->pool.positions().index_select(0, impl_->stream_slots(layer, head)).cpu();
}
at::Tensor PagedKvCache::keys(int layer, int head) const {
  return impl_->pool.keys().index_select(0, impl_->stream_slots(layer, head));
}
at::Tensor PagedKvCache::values(int layer, int head) const {
  return impl_->pool.values().index_select(0, impl_->stream_slots(layer, head));
}
at::Tensor PagedKvCache::log_beta(int layer, int head) const {
  if (!impl_->gated.value_or(false)) return {};
  return impl_->pool.log_beta().index_select(0, impl_->stream_slots(layer, head));
}

int64_t PagedKvCache::block_size() const { return impl_->block_size(); }
int64_t PagedKvCache::pool_blocks() const { return impl_->pool.blocks(); }
int64_t PagedKvCache::free_blocks() const { return impl_->pool.free_blocks(); }

}  // namespace trimvl::cache
