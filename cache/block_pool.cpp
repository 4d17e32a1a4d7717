#include "cache/block_pool.h"

#include <limits>

#include <ATen/ATen.h>

#include "kernels/runtime/error.h"

namespace trimvl::cache {

BlockPool::BlockPool(const BlockPoolSpec& spec, int64_t blocks) : spec_(spec) {
  TRIMVL_CHECK_ARG(spec.block_size > 0, "KV block size must be positive, got {}", spec.block_size);
  TRIMVL_CHECK_ARG(spec.head_dim > 0, "KV head dimension must be positive, got {}", spec.head_dim);
  TRIMVL_CHECK_ARG(blocks > 0 && blocks <= std::numeric_limits<int32_t>::max(),
                   "a KV pool of {} blocks is out of range", blocks);
  allocate(blocks);
  release_all();
}

void BlockPool::allocate(int64_t blocks) {
  const int64_t bs = spec_.block_size, d = spec_.head_dim;
  const auto model = at::TensorOptions().dtype(spec_.dtype).device(spec_.device);
  at::Tensor k = at::zeros({blocks, bs, d}, model);
  at::Tensor v = at::zeros({blocks, bs, d}, model);
  at::Tensor position = at::zeros({blocks * bs}, model.dtype(at::kLong));
  at::Tensor log_beta = at::zeros({blocks * bs}, model);
  at::Tensor accumulated = spec_.accumulate ? at::zeros({blocks * bs}, model.dtype(at::kFloat)) : at::Tensor();
  if (blocks_ > 0) {
    const int64_t slots = blocks_ * bs;
    k.narrow(0, 0, blocks_).copy_(k_);
    v.narrow(0, 0, blocks_).copy_(v_);
    position.narrow(0, 0, slots).copy_(position_);
    log_beta.narrow(0, 0, slots).copy_(log_beta_);
    if (spec_.accumulate) accumulated.narrow(0, 0, slots).copy_(accumulated_);
  }
  k_ = std::move(k);
  v_ = std::move(v);
  k_flat_ = k_.view({-1, d});
  v_flat_ = v_.view({-1, d});
  position_ = std::move(position);
  log_beta_ = std::move(log_beta);
  accumulated_ = std::move(accumulated);
  blocks_ = blocks;
}

void BlockPool::take(int64_t count, std::vector<int32_t>& into) {
  TRIMVL_CHECK(count >= 0 && count <= free_blocks(), "KV pool: {} blocks asked, {} free", count, free_blocks());
  for (int64_t i = 0; i < count; ++i) {
    into.push_back(free_.back());
    free_.pop_back();
  }
}

void BlockPool::give_back(std::span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    TRIMVL_CHECK(b >= 0 && b < blocks_, "KV pool: block {} returned to a pool of {}", b, blocks_);
    free_.push_back(b);
  }
  TRIMVL_CHECK(free_blocks() <= blocks_, "KV pool: {} blocks free in a pool of {}", free_blocks(), blocks_);
}

void BlockPool::grow(int64_t blocks) {
  TRIMVL_CHECK(blocks > blocks_ && blocks <= std::numeric_limits<int32_t>::max(),
               "KV pool: cannot grow from {} to {} blocks", blocks_, blocks);
  const int64_t old = blocks_;
  allocate(blocks);
  std::vector<int32_t> added;
  added.reserve(static_cast<size_t>(blocks - old));
  for (int64_t b = blocks - 1; b >= old; --b) added.push_back(static_cast<int32_t>(b));
  free_.insert(free_.begin(), added.begin(), added.end());
}

void BlockPool::release_all() {
  free_.clear();
  free_.reserve(static_cast<size_t>(blocks_));
  for (int64_t b = blocks_ - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

void BlockPool::move_slots(const at::Tensor& from, const at::Tensor& to) {
  k_flat_.index_copy_(0, to, k_flat_.index_select(0, from));
  v_flat_.index_copy_(0, to, v_flat_.index_select(0, from));
  position_.index_copy_(0, to, position_.index_select(0, from));
  log_beta_.index_copy_(0, to, log_beta_.index_select(0, from));
  if (spec_.accumulate) accumulated_.index_copy_(0, to, accumulated_.index_select(0, from));
}

}  // namespace trimvl::cache
