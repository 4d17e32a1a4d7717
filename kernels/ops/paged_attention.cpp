#include "kernels/ops/paged_attention.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include <cuda_runtime_api.h>

#include "kernels/cuda/paged_attention.h"
#endif

namespace trimvl::ops {
namespace {

// Shorter ranges would cost more in partials and their merge than they spread: at 1K tokens, ranges
// of 64 (16 a stream: half of each CTA's warps idle, a merge of 16 partials) decoded 0.7% slower in
// the 4B model than ranges of 128, and ranges of 256 0.5% slower (too few CTAs); docs/perf.md, run J.
constexpr int64_t kMinSplit = 128;
// A stream short enough for its ranges to merge in one cluster (at most kMaxCluster) is cut into at
// most kClusterSplits. The 4B bench's 1K context sits in a table of 2048 tokens: 16 ranges of 128,
// 128 CTAs, one on almost every SM, whose registers then hold back the o_proj launched under them
// (kernels/cuda/gemv.cu, the whole-row variant); with 8 the attention leaves half the SMs to it,
// and decode at 1K ran 1.2% faster (docs/perf.md, run S). Longer streams are unchanged.
constexpr int64_t kMaxCluster = 16, kClusterSplits = 8;
// The kernel's longest range and most ranges per stream (kernels/cuda/paged_attention.h), known
// here in builds without CUDA.
constexpr int64_t kMaxSplit = 4096, kMaxSplits = 1024;

#ifdef TRIMVL_HAS_CUDA
static_assert(kMaxSplit == cuda::kPagedDecodeMaxSplit && kMaxSplits == cuda::kPagedDecodeMaxSplits &&
              kMaxCluster == cuda::kPagedDecodeMaxCluster);

cuda::DType kernel_dtype(c10::ScalarType type) {
  const std::optional<cuda::DType> dtype = cuda_dtype(type);
  if (!dtype) throw Error(fmt::format("paged kernels: no kernel for {}", c10::toString(type)), Error::Kind::Unsupported);
  return *dtype;
}

// An answer the driver gives about a launch shape, asked once per key and kept: the launch asks on
// every eager decode step, and the answer never changes while the process runs. An ask that throws
// keeps nothing.
template <typename Key, typename Value>
class KeptAnswers {
 public:
  template <typename Ask>
  Value get(const Key& key, const Ask& ask) {
    const std::lock_guard lock(mutex_);
    if (const auto it = known_.find(key); it != known_.end()) return it->second;
    return known_.emplace(key, ask()).first->second;
  }

 private:
  std::mutex mutex_;
  std::map<Key, Value> known_;
};

// What the GPU runs of the decode kernel at once: CTAs per SM (its shared memory and registers)
// times SMs.
int64_t resident_ctas(cuda::DType dtype, int64_t head_dim, int64_t group, c10::Device device) {
  static KeptAnswers<std::tuple<cuda::DType, int64_t, int64_t, int>, int64_t> known;
  return known.get(std::make_tuple(dtype, head_dim, group, static_cast<int>(device.index())), [&] {
    int per_sm = 0;
    check_cuda(cuda::paged_decode_ctas_per_sm(dtype, static_cast<int>(head_dim), static_cast<int>(group), per_sm),
               "paged decode occupancy");
    return std::max<int64_t>(1, int64_t{per_sm} * multiprocessor_count(device));
  });
}

// Whether kv_heads clusters of num_splits decode CTAs fit on the device at once.
bool clusters_fit(cuda::DType dtype, int64_t head_dim, int64_t group, int64_t kv_heads, int64_t num_splits,
                  c10::Device device) {
  static KeptAnswers<std::tuple<cuda::DType, int64_t, int64_t, int64_t, int64_t, int>, bool> known;
  const auto key = std::make_tuple(dtype, head_dim, group, kv_heads, num_splits, static_cast<int>(device.index()));
  return known.get(key, [&] {
    bool fits = false;
    check_cuda(cuda::paged_decode_clusters_fit(dtype, static_cast<int>(head_dim), static_cast<int>(group),
                                               static_cast<int>(kv_heads), static_cast<int>(num_splits), fits),
               "paged decode cluster occupancy");
    return fits;
  });
}

// The split of a decode launch over the pool's table, and whether its ranges merge in clusters.
struct DecodeShape {
  DecodeSplit split;
  bool clusters = false;
};

DecodeShape decode_shape(const at::Tensor& q, int64_t kv_heads, int64_t width_tokens, int64_t waves) {
  const int64_t group = q.size(0) / kv_heads, d = q.size(1);
  const cuda::DType dtype = kernel_dtype(q.scalar_type());
  DecodeShape shape;
  shape.split = decode_split(width_tokens, kv_heads, resident_ctas(dtype, d, group, q.device()), waves);
  shape.clusters = shape.split.num_splits > 1 && shape.split.num_splits <= cuda::kPagedDecodeMaxCluster &&
                   clusters_fit(dtype, d, group, kv_heads, shape.split.num_splits, q.device());
  return shape;
}

void check_view(const PagedView& pool, const at::Tensor& like) {
  TRIMVL_CHECK(pool.keys.is_cuda() && pool.keys.dim() == 2 && pool.keys.is_contiguous() &&
                   pool.values.sizes() == pool.keys.sizes() && pool.values.is_contiguous() &&
                   pool.keys.scalar_type() == like.scalar_type() && pool.values.scalar_type() == like.scalar_type(),
               "paged kernels: pool keys/values must be contiguous [slots, D] {} on CUDA",
               c10::toString(like.scalar_type()));
  TRIMVL_CHECK(pool.block_table.scalar_type() == at::kInt && pool.block_table.dim() == 2 &&
                   pool.block_table.is_contiguous() && pool.lengths.scalar_type() == at::kInt &&
                   pool.lengths.dim() == 1 && pool.lengths.size(0) == pool.block_table.size(0),
               "paged kernels: block table must be [streams, width] int32 and lengths [streams] int32");
}
// The appended token checked against the pool and the query, as the kernel's arguments; the
// tensors those point into are held here (contiguous copies, or the caller's own).
struct StagedAppend {
  cuda::PagedAppend args;
  at::Tensor k, v, log_beta;
};

StagedAppend stage_append(const AppendedToken& t, const PagedView& pool, const at::Tensor& q, int64_t kv_heads) {
  const int64_t d = pool.keys.size(1), streams = pool.lengths.size(0);
  TRIMVL_CHECK(t.k.dim() == 2 && t.k.size(0) == kv_heads && t.k.size(1) == d && t.v.sizes() == t.k.sizes() &&
                   t.k.device() == q.device() && t.v.device() == q.device() && t.k.scalar_type() == q.scalar_type() &&
                   t.v.scalar_type() == q.scalar_type(),
               "paged decode attention: the appended k and v must be [{}, {}] {} on {}, got {} and {}", kv_heads, d,
               c10::toString(q.scalar_type()), q.device().str(), t.k.sizes(), t.v.sizes());
  TRIMVL_CHECK(t.slots.is_cuda() && t.slots.scalar_type() == at::kInt && t.slots.is_contiguous() &&
                   t.slots.numel() == streams && t.position.is_cuda() && t.position.scalar_type() == at::kLong &&
                   t.position.numel() == 1,
               "paged decode attention: appended slots must be [{}] int32 and position [1] int64 on CUDA", streams);
  TRIMVL_CHECK(!t.log_beta.defined() || (pool.log_beta.defined() && t.log_beta.numel() == kv_heads),
               "paged decode attention: log β for {} appended heads needs a log β pool", kv_heads);
  StagedAppend s;
  s.k = t.k.contiguous();
  s.v = t.v.contiguous();
  if (t.log_beta.defined()) s.log_beta = t.log_beta.to(pool.keys.scalar_type()).contiguous();
  s.args.k = s.k.data_ptr();
  s.args.v = s.v.data_ptr();
  s.args.log_beta = s.log_beta.defined() ? s.log_beta.data_ptr() : nullptr;
  s.args.slots = t.slots.data_ptr<int32_t>();
  s.args.position = t.position.data_ptr<int64_t>();
  s.args.keys = pool.keys.data_ptr();
  s.args.values = pool.values.data_ptr();
  s.args.positions = pool.positions.data_ptr<int64_t>();
  s.args.log_beta_pool = s.log_beta.defined() ? pool.log_beta.data_ptr() : nullptr;
  s.args.accumulated = pool.accumulated.defined() ? pool.accumulated.data_ptr<float>() : nullptr;
  s.args.block_table = pool.block_table.data_ptr<int32_t>();
  return s;
}
#endif

}  // namespace

DecodeSplit decode_split(int64_t capacity, int64_t kv_heads, int64_t resident_ctas, int64_t waves) {
  TRIMVL_CHECK(capacity > 0 && kv_heads > 0 && resident_ctas > 0 && waves > 0,
               "decode split of capacity {} over {} kv heads, {} resident CTAs and {} waves", capacity, kv_heads,
               resident_ctas, waves);
  const int64_t wanted = (waves * resident_ctas + kv_heads - 1) / kv_heads;
  const int64_t fewest = (capacity + kMaxSplit - 1) / kMaxSplit, most = (capacity + kMinSplit - 1) / kMinSplit;
  TRIMVL_CHECK(fewest <= kMaxSplits, "paged decode: streams of up to {} tokens exceed the kernel's {} ranges of {}",
               capacity, kMaxSplits, kMaxSplit);
  const int64_t splits = std::min(kMaxSplits, std::clamp(wanted, fewest, std::max(fewest, most)));
  return {kMinSplit, splits <= kMaxCluster ? std::min(splits, std::max(kClusterSplits, fewest)) : splits};
}

bool paged_decode_merges_in_clusters(const at::Tensor& q, int64_t kv_heads, int64_t capacity, int64_t waves) {
#ifdef TRIMVL_HAS_CUDA
  return paged_decode_supported(q, kv_heads) && decode_shape(q, kv_heads, capacity, waves).clusters;
#else
  (void)q, (void)kv_heads, (void)capacity, (void)waves;
  return false;
#endif
}

bool paged_decode_supported(const at::Tensor& q, int64_t kv_heads) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(q) || q.dim() != 2 || kv_heads <= 0 || q.size(0) % kv_heads != 0) return false;
  const auto type = q.scalar_type();
  if (type != at::kFloat && type != at::kHalf && type != at::kBFloat16) return false;
  return cuda::paged_decode_supported(static_cast<int>(q.size(1)), static_cast<int>(q.size(0) / kv_heads));
#else
  (void)q;
  (void)kv_heads;
  return false;
#endif
}

at::Tensor paged_decode_attention(const at::Tensor& q, const PagedView& pool, int64_t first_stream, int64_t kv_heads,
                                  int64_t capacity, double scale, int64_t waves, const AppendedToken* appended) {
#ifdef TRIMVL_HAS_CUDA
  TRIMVL_CHECK(paged_decode_supported(q, kv_heads), "paged decode attention: no kernel for q {} {} over {} kv heads",
               q.sizes(), c10::toString(q.scalar_type()), kv_heads);
  check_view(pool, q);
  TRIMVL_CHECK(q.size(1) == pool.keys.size(1), "paged decode attention: q head dim {} vs pool {}", q.size(1),
               pool.keys.size(1));
  TRIMVL_CHECK(first_stream >= 0 && first_stream + kv_heads <= pool.lengths.size(0) &&
                   capacity <= pool.block_table.size(1) * pool.block_size,
               "paged decode attention: streams {}..{} of {}, capacity {} over a table of {} blocks", first_stream,
               first_stream + kv_heads, pool.lengths.size(0), capacity, pool.block_table.size(1));
  const at::Tensor qc = q.contiguous();
  at::Tensor out = at::empty_like(qc);
  const int64_t group = q.size(0) / kv_heads, d = q.size(1);
  const cuda::DType dtype = kernel_dtype(q.scalar_type());
  // The table's width, not `capacity`, bounds what the kernel may meet (it checks the same).
  const DecodeShape shape = decode_shape(qc, kv_heads, pool.block_table.size(1) * pool.block_size, waves);
  const DecodeSplit& split = shape.split;
  at::Tensor partial_out, partial_ml, counters = pool.split_counters;
  if (split.num_splits > 1 && !shape.clusters) {
    const auto floats = q.options().dtype(at::kFloat);
    partial_out = at::empty({kv_heads, split.num_splits, group, d}, floats);
    partial_ml = at::empty({kv_heads, split.num_splits, group, 2}, floats);
    if (counters.defined())
      TRIMVL_CHECK(counters.is_cuda() && counters.scalar_type() == at::kInt && counters.is_contiguous() &&
                       counters.numel() == pool.lengths.size(0),
                   "paged decode attention: split counters must be [{}] int32 on CUDA", pool.lengths.size(0));
    else
      counters = at::zeros({pool.lengths.size(0)}, q.options().dtype(at::kInt));
  }
  cuda::PagedDecodeArgs a;
  a.dtype = dtype;
  a.head_dim = static_cast<int>(d);
  a.kv_heads = static_cast<int>(kv_heads);
  a.group = static_cast<int>(group);
  a.q = qc.data_ptr();
  a.keys = pool.keys.data_ptr();
  a.values = pool.values.data_ptr();
  a.block_table = pool.block_table.data_ptr<int32_t>();
  a.table_stride = pool.block_table.size(1);
  a.lengths = pool.lengths.data_ptr<int32_t>();
  a.first_stream = static_cast<int>(first_stream);
  a.block_size = static_cast<int>(pool.block_size);
  a.min_split_tokens = static_cast<int>(split.min_split_tokens);
  a.num_splits = static_cast<int>(split.num_splits);
  a.scale = static_cast<float>(scale);
  a.out = out.data_ptr();
  a.partial_out = partial_out.defined() ? partial_out.data_ptr<float>() : nullptr;
  a.partial_ml = partial_ml.defined() ? partial_ml.data_ptr<float>() : nullptr;
  a.split_counters = partial_out.defined() ? counters.data_ptr<int32_t>() : nullptr;
  // Holds the contiguous copies the kernel reads until the launch.
  const StagedAppend staged = appended ? stage_append(*appended, pool, q, kv_heads) : StagedAppend{};
  a.append = staged.args;
  a.cluster_merge = shape.clusters;
  check_cuda(cuda::paged_decode_attention(a, static_cast<cudaStream_t>(current_stream(q.device()))),
             "paged decode attention");
  return out;
#else
  (void)pool, (void)first_stream, (void)kv_heads, (void)capacity, (void)scale, (void)waves, (void)appended;
  current_stream(q.device());  // throws: no kernels in this build
  return {};
#endif
}

}  // namespace trimvl::ops
