#include "kernels/ops/gemv.h"

#include <vector>

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/gemv.h"
#endif

namespace trimvl::ops {

bool gemv_supported(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(weight) || weight.dim() != 2 || !weight.is_contiguous() || weight.size(1) == 0) return false;
  const auto type = cuda_dtype(weight.scalar_type());
  if (!type) return false;
  const auto same = [&](const at::Tensor& t) {
    return t.device() == weight.device() && t.scalar_type() == weight.scalar_type() && t.is_contiguous();
  };
  const int64_t n = weight.size(0), k = weight.size(1);
  const bool x_ok = x.defined() && same(x) && (x.dim() == 1 || (x.dim() == 2 && x.size(0) == 1)) &&
                    x.size(-1) == k && aligned_16(x);
  const bool bias_ok = !bias.defined() || (same(bias) && bias.numel() == n &&
                                           (bias.dim() == 1 || (bias.dim() == 2 && bias.size(0) == 1)));
  return x_ok && k % cuda::vector_width(*type) == 0 && aligned_16(weight) && bias_ok;
#else
  (void)x, (void)weight, (void)bias;
  return false;
#endif
}

namespace {

#ifdef TRIMVL_HAS_CUDA
// The kernel's arguments for `rows` outputs into out.
cuda::GemvArgs gemv_args(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t rows,
                         const at::Tensor& out) {
  cuda::GemvArgs a;
  a.dtype = *cuda_dtype(weight.scalar_type());
  a.rows = rows;
  a.cols = weight.size(1);
  a.weight = weight.data_ptr();
  a.x = x.data_ptr();
  a.bias = bias.defined() ? bias.data_ptr() : nullptr;
  a.out = out.data_ptr();
  return a;
}
#endif

// rows outputs of the plain product, or of SwiGLU over weight's two stacked halves.
at::Tensor launch(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t rows, bool silu_mul) {
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(weight.device());
  const std::vector<int64_t> shape = x.dim() == 1 ? std::vector<int64_t>{rows} : std::vector<int64_t>{1, rows};
  at::Tensor out = at::empty(shape, weight.options());
  const cuda::GemvArgs a = gemv_args(x, weight, bias, rows, out);
  const auto stream = static_cast<cudaStream_t>(current_stream(weight.device()));
  check_cuda(silu_mul ? cuda::gemv_silu_mul(a, stream) : cuda::gemv(a, stream), silu_mul ? "gemv_silu_mul" : "gemv");
  return out;
#else
  (void)x, (void)weight, (void)bias, (void)rows, (void)silu_mul;
  return {};
#endif
}

}  // namespace

at::Tensor gemv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  TRIMVL_CHECK(gemv_supported(x, weight, bias), "gemv: no CUDA kernel for x {}, weight {}, bias {}", describe(x),
               describe(weight), describe(bias));
  return launch(x, weight, bias, weight.size(0), false);
}

bool gemv_silu_mul_supported(const at::Tensor& x, const at::Tensor& gate_up) {
  return gate_up.dim() == 2 && gate_up.size(0) % 2 == 0 && gemv_supported(x, gate_up);
}

at::Tensor gemv_silu_mul(const at::Tensor& x, const at::Tensor& gate_up) {
  TRIMVL_CHECK(gemv_silu_mul_supported(x, gate_up), "gemv_silu_mul: no CUDA kernel for x {}, stacked gate/up {}",
               describe(x), describe(gate_up));
  return launch(x, gate_up, {}, gate_up.size(0) / 2, true);
}

bool gemv_qk_norm_rope_supported(const at::Tensor& x, const at::Tensor& qkv_weight, int64_t q_heads,
                                 int64_t kv_heads, const at::Tensor& q_weight, const at::Tensor& k_weight,
                                 const at::Tensor& cos, const at::Tensor& sin) {
#ifdef TRIMVL_HAS_CUDA
  if (!gemv_supported(x, qkv_weight) || !q_weight.defined() || q_heads < 0 || kv_heads < 0) return false;
  const int64_t d = q_weight.numel();
  const auto vector = [&](const at::Tensor& t) {
    return t.defined() && t.device() == qkv_weight.device() && t.scalar_type() == qkv_weight.scalar_type() &&
           t.is_contiguous() && t.numel() == d && aligned_16(t);
  };
  return cuda::gemv_qk_norm_rope_supported(*cuda_dtype(qkv_weight.scalar_type()), d) &&
         q_heads + kv_heads <= 0x7fffffff && qkv_weight.size(0) == (q_heads + 2 * kv_heads) * d && vector(q_weight) &&
         vector(k_weight) && vector(cos) && vector(sin);
#else
  (void)x, (void)qkv_weight, (void)q_heads, (void)kv_heads, (void)q_weight, (void)k_weight, (void)cos, (void)sin;
  return false;
#endif
}

ProjectedQkv gemv_qk_norm_rope(const at::Tensor& x, const at::Tensor& qkv_weight, int64_t q_heads, int64_t kv_heads,
                               const at::Tensor& q_weight, const at::Tensor& k_weight, double eps,
                               const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& counters) {
  TRIMVL_CHECK(gemv_qk_norm_rope_supported(x, qkv_weight, q_heads, kv_heads, q_weight, k_weight, cos, sin),
               "gemv_qk_norm_rope: no CUDA kernel for x {}, q/k/v weight {} of {} + 2 x {} heads, norm weights {} and "
               "{}, cos {}, sin {}",
               describe(x), describe(qkv_weight), q_heads, kv_heads, describe(q_weight), describe(k_weight),
               describe(cos), describe(sin));
  TRIMVL_CHECK(counters.defined() && counters.device() == qkv_weight.device() && counters.scalar_type() == at::kInt &&
                   counters.is_contiguous() && counters.numel() == q_heads + kv_heads,
               "gemv_qk_norm_rope: counters must be int32 [{}] on {}, not {}", q_heads + kv_heads,
               qkv_weight.device().str(), describe(counters));
  ProjectedQkv out;
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(qkv_weight.device());
  const int64_t d = q_weight.numel();
  const at::Tensor qkv = at::empty({1, qkv_weight.size(0)}, qkv_weight.options());
  const cuda::GemvArgs a = gemv_args(x, qkv_weight, at::Tensor(), qkv_weight.size(0), qkv);
  cuda::QkvNormRope r;
  r.q_heads = static_cast<int>(q_heads);
  r.kv_heads = static_cast<int>(kv_heads);
  r.head_dim = static_cast<int>(d);
  r.eps = static_cast<float>(eps);  // as qk_norm_rope passes it
  r.q_weight = q_weight.data_ptr();
  r.k_weight = k_weight.data_ptr();
  r.cos = cos.data_ptr();
  r.sin = sin.data_ptr();
  r.counters = counters.data_ptr<int32_t>();
  check_cuda(cuda::gemv_qk_norm_rope(a, r, static_cast<cudaStream_t>(current_stream(qkv_weight.device()))),
             "gemv_qk_norm_rope");
  out.q = qkv.narrow(1, 0, q_heads * d).view({1, q_heads, d});
  out.k = qkv.narrow(1, q_heads * d, kv_heads * d).view({1, kv_heads, d});
  out.v = qkv.narrow(1, (q_heads + kv_heads) * d, kv_heads * d).view({1, kv_heads, d});
#else
  (void)eps;
#endif
  return out;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return gemv_supported(x, weight, bias) ? gemv(x, weight, bias) : at::linear(x, weight, bias);
}

}  // namespace trimvl::ops
