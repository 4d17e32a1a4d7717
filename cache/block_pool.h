#pragma once
// The physical storage of the paged KV cache: fixed-size blocks of token slots and the free list
// that hands them out. It knows nothing of streams or policies; PagedKvCache owns the block tables.
//
// Every per-slot tensor is allocated [blocks, block_size, ...] and exposed flat ([slots, ...]), so
// a token's slot is block · block_size + offset. The pool is zero-filled when allocated: padded
// attention reads slots that hold no token (they are masked, but a NaN there would survive the
// mask), so every slot must hold a finite value from the start.
#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace trimvl::cache {

struct BlockPoolSpec {
  int64_t block_size = 16;
  int64_t head_dim = 0;
  c10::ScalarType dtype = c10::kBFloat16;
  c10::Device device = c10::Device(c10::kCPU);
  bool accumulate = false;  // keep a float32 accumulated-attention value per slot (H2O)
};

class BlockPool {
 public:
  BlockPool(const BlockPoolSpec& spec, int64_t blocks);

  int64_t block_size() const { return spec_.block_size; }
  int64_t blocks() const { return blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }

  // Pops `count` blocks off the free stack (LIFO) and appends them to `into`; the caller checked
  // free_blocks() first.
  void take(int64_t count, std::vector<int32_t>& into);
  // Pushes blocks back, in the order given: the last one is handed out next.
  void give_back(std::span<const int32_t> blocks);
  // Enlarges the pool to `blocks`, keeping every slot's contents. The new blocks go to the bottom
  // of the free stack, so the blocks free before the growth are still handed out first and a
  // caller that returns what it took, in reverse, restores the stack it saw (plus the new blocks).
  void grow(int64_t blocks);
  // Every block free again, in the order of a fresh pool (contents stay; they are unreachable).
  void release_all();

  // Flat per-slot views: [slots, D] keys and values, [slots] int64 stream positions, [slots] log β
  // in the model dtype, [slots] float32 accumulated attention (undefined unless spec.accumulate).
  const at::Tensor& keys() const { return k_flat_; }
  const at::Tensor& values() const { return v_flat_; }
  const at::Tensor& positions() const { return position_; }
  const at::Tensor& log_beta() const { return log_beta_; }
  const at::Tensor& accumulated() const { return accumulated_; }

  // Copies every per-slot value from slots `from` to slots `to` (both [n] int64). Reads all of
  // `from` before writing, so the two may overlap (compaction moves a stream's survivors forward).
  void move_slots(const at::Tensor& from, const at::Tensor& to);

 private:
  void allocate(int64_t blocks);

  BlockPoolSpec spec_;
  int64_t blocks_ = 0;
  at::Tensor k_, v_;  // [blocks, block_size, D]
  at::Tensor k_flat_, v_flat_, position_, log_beta_, accumulated_;
  std::vector<int32_t> free_;  // a stack: back() is handed out next
};

}  // namespace trimvl::cache
