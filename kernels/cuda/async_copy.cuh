#pragma once
// cp.async (sm_80+): 16-byte copies from global to shared memory that proceed while the thread
// goes on, grouped by commit_async() and awaited by group with wait_async<N>() (at most N groups
// still in flight). A thread sees its own copies after the wait; other threads' need a barrier.
#include <cstdint>

namespace trimvl::cuda {

// For data a kernel streams once (a decode step's K/V): an L2 policy under which its lines are the
// first L2 gives up, so streaming it does not push out lines that are read again.
__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

// Through L2 only (.cg): the data is streamed once, not worth L1. `policy` is an L2 cache policy
// (evict_first_policy(), say).
__device__ __forceinline__ void copy16_async(void* smem, const void* global, uint64_t policy) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(global), "l"(policy));
}
// The same, but only the first `bytes` (0 or 16) come from global; the rest of the 16 are zeroed.
// With 0, `global` is not read (it must still be a valid address).
__device__ __forceinline__ void copy16_async_or_zero(void* smem, const void* global, int bytes, uint64_t policy) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(global),
               "r"(bytes), "l"(policy));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void wait_async() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

}  // namespace trimvl::cuda
