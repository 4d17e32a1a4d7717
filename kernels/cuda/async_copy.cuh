#pragma once
// cp.async (sm_80+): 16-byte copies from global to shared memory that proceed while the thread
// goes on, grouped by commit_async() and awaited by group with wait_async<N>() (at most N groups
// still in flight). A thread sees its own copies after the wait; other threads' need a barrier.
namespace trimvl::cuda {

// Through L2 only (.cg): the data is streamed once, not worth L1.
__device__ __forceinline__ void copy16_async(void* smem, const void* global) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(global));
}
// The same, but only the first `bytes` (0 or 16) come from global; the rest of the 16 are zeroed.
// With 0, `global` is not read (it must still be a valid address).
__device__ __forceinline__ void copy16_async_or_zero(void* smem, const void* global, int bytes) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(global), "r"(bytes));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void wait_async() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

}  // namespace trimvl::cuda
