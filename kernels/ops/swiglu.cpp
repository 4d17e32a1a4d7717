#include "kernels/ops/swiglu.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/swiglu.h"
#endif

namespace trimvl::ops {

bool silu_mul_supported(const at::Tensor& gate, const at::Tensor& up) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(gate) || gate.dim() != 2) return false;
  const auto type = cuda_dtype(gate.scalar_type());
  if (!type) return false;
  const int64_t width = cuda::vector_width(*type);
  // Strides of a single row are free: the kernel never steps by them.
  const auto rows_of = [&](const at::Tensor& t) {
    return t.defined() && t.device() == gate.device() && t.scalar_type() == gate.scalar_type() &&
           t.sizes() == gate.sizes() && t.stride(1) == 1 && (t.size(0) <= 1 || t.stride(0) % width == 0) &&
           aligned_16(t);
  };
  return rows_of(gate) && rows_of(up) && gate.size(1) > 0 && gate.size(1) % width == 0;
#else
  (void)gate, (void)up;
  return false;
#endif
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  TRIMVL_CHECK(silu_mul_supported(gate, up), "silu_mul: no CUDA kernel for gate {} and up {}", describe(gate),
               describe(up));
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(gate.device());
  at::Tensor out = at::empty(gate.sizes(), gate.options());
  cuda::SiluMulArgs a;
  a.dtype = *cuda_dtype(gate.scalar_type());
  a.rows = gate.size(0);
  a.width = gate.size(1);
  a.gate = gate.data_ptr();
  a.gate_stride = gate.stride(0);
  a.up = up.data_ptr();
  a.up_stride = up.stride(0);
  a.out = out.data_ptr();
  check_cuda(cuda::silu_mul(a, static_cast<cudaStream_t>(current_stream(gate.device()))), "silu_mul");
  return out;
#else
  return {};
#endif
}

}  // namespace trimvl::ops
