// The fused CUDA ops' contract where they cannot run: CPU tensors (in any build) are declined, so
// the language modules take their ATen reference code, and calling an op anyway is an Error, not
// a crash. The kernels themselves are tested against ATen in fused_ops_gpu_test.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/ops/gemv.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rotary.h"
#include "kernels/ops/swiglu.h"
#include "kernels/runtime/error.h"

namespace trimvl::ops {
namespace {

TEST(FusedOps, CpuTensorsAreDeclined) {
  for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
    const auto cpu = at::TensorOptions().dtype(dtype);
    // Shapes the kernels take on CUDA (see fused_ops_gpu_test.cpp), so only the device declines.
    const at::Tensor x = at::randn({3, 64}, cpu), w = at::ones({64}, cpu);
    EXPECT_FALSE(rms_norm_supported(x, w));
    EXPECT_FALSE(add_rms_norm_supported(x, x, w));
    const at::Tensor q = at::randn({3, 4, 64}, cpu), k = at::randn({3, 2, 64}, cpu), table = at::randn({3, 1, 64}, cpu);
    EXPECT_FALSE(qk_norm_rope_supported(q, k, w, w, table, table));
    EXPECT_FALSE(silu_mul_supported(x, x));
    EXPECT_FALSE(gemv_supported(x.narrow(0, 0, 1), at::randn({5, 64}, cpu)));
  }
}

TEST(FusedOps, CallingAnOpThatDeclinedIsAnError) {
  const at::Tensor x = at::randn({3, 64}), w = at::ones({64});
  const at::Tensor q = at::randn({3, 4, 64}), k = at::randn({3, 2, 64}), table = at::randn({3, 1, 64});
  const auto expect_error = [](const auto& call, const std::string& op) {
    try {
      call();
      ADD_FAILURE() << op << " ran on CPU tensors";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::Internal) << e.what();  // a caller that skipped *_supported
      EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("cpu"), std::string::npos) << e.what();
    }
  };
  expect_error([&] { rms_norm(x, w, 1e-6); }, "rms_norm");
  expect_error([&] { add_rms_norm(x, x, w, 1e-6); }, "add_rms_norm");
  expect_error([&] { qk_norm_rope(q, k, w, w, 1e-6, table, table); }, "qk_norm_rope");
  expect_error([&] { silu_mul(x, x); }, "silu_mul");
  expect_error([&] { gemv(x.narrow(0, 0, 1), x); }, "gemv");
}

TEST(FusedOps, SupportHelpers) {
  EXPECT_EQ(cuda_dtype(at::kFloat), cuda::DType::Float32);
  EXPECT_EQ(cuda_dtype(at::kHalf), cuda::DType::Float16);
  EXPECT_EQ(cuda_dtype(at::kBFloat16), cuda::DType::BFloat16);
  EXPECT_FALSE(cuda_dtype(at::kDouble).has_value());
  EXPECT_FALSE(cuda_dtype(at::kInt).has_value());

  const at::Tensor t = at::zeros({40}, at::kBFloat16);
  ASSERT_TRUE(aligned_16(t));  // c10 aligns host allocations to 64 bytes
  EXPECT_TRUE(aligned_16(t.narrow(0, 8, 8)));   // 16 bytes further
  EXPECT_FALSE(aligned_16(t.narrow(0, 1, 8)));  // 2 bytes further
  EXPECT_EQ(describe(at::Tensor()), "undefined");
  EXPECT_EQ(describe(at::zeros({2, 3}, at::kBFloat16)), "[2, 3] bf16 on cpu");
}

}  // namespace
}  // namespace trimvl::ops
