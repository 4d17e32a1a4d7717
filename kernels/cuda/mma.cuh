#pragma once
// Warp-level tensor-core pieces (sm_80+) for 16-bit operands: ldmatrix from shared memory and the
// m16n8k16 multiply-accumulate into fp32. Fragment layouts are PTX's ("Matrix Fragments for
// mma.m16n8k16"): with q = lane % 4 and r = lane / 4, A (16×16, row-major) holds in its registers
// {(r, 2q..2q+1), (r+8, 2q..), (r, 2q+8..), (r+8, 2q+8..)}, B (16×8, column-major) holds
// {(2q..2q+1, r), (2q+8.., r)} and the fp32 accumulator C (16×8) holds {(r, 2q), (r, 2q+1),
// (r+8, 2q), (r+8, 2q+1)}. The lower half of a 32-bit register is the lower column (A) or row (B).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace trimvl::cuda {

// Four 8×8 matrices of 16-bit elements; lane l gives the shared address of row l % 8 of matrix
// l / 8, and register i receives matrix i: lane l gets row l / 4, columns 2(l % 4) and 2(l % 4) + 1
// — or, transposed, rows 2(l % 4) and 2(l % 4) + 1 of column l / 4.
template <bool kTranspose>
__device__ __forceinline__ void load_matrices(uint32_t (&r)[4], const void* row) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (kTranspose)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// c += a · b for a 16×16 A, a 16×8 B and a 16×8 fp32 C.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  static_assert(sizeof(T) == 2, "16-bit operands");
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as one register of T pairs, lo in the lower half.
template <typename T>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
}

}  // namespace trimvl::cuda
