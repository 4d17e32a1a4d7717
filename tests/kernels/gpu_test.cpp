// GPU side of the kernels layer: tensors read from files reach the device intact, and device
// tensors are written correctly. Skips where no CUDA device exists (CI).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/dtype.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

TEST(Gpu, DeviceParsingFindsTheDevice) {
  TRIMVL_REQUIRE_CUDA();
  EXPECT_EQ(parse_device("cuda"), c10::Device(c10::kCUDA, 0));
  EXPECT_GE(cuda_device_count(), 1);
}

TEST(Gpu, SafetensorsRoundTripThroughTheDevice) {
  TRIMVL_REQUIRE_CUDA();
  test::TempDir dir;
  at::manual_seed(7);
  const auto cuda = at::TensorOptions().device(at::kCUDA);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"bf16", at::randn({3, 5, 7}, cuda.dtype(at::kBFloat16))},
      {"fp32", at::randn({129}, cuda.dtype(at::kFloat))},
      {"u8", at::randint(0, 256, {4, 9, 3}, cuda.dtype(at::kByte))},
      // A non-contiguous device view: the writer must materialise it, not dump storage.
      {"transposed", at::randn({6, 4}, cuda.dtype(at::kHalf)).t()},
  };
  io::save_safetensors(dir / "gpu.safetensors", tensors);

  const auto file = io::SafetensorsFile::open(dir / "gpu.safetensors");
  for (const auto& [name, expected] : tensors) {
    const at::Tensor on_device = file.tensor(name).to(at::kCUDA);
    EXPECT_EQ(on_device.scalar_type(), expected.scalar_type()) << name;
    EXPECT_TRUE(at::equal(on_device, expected)) << name;  // exact: bytes, not arithmetic
  }
}

}  // namespace
}  // namespace trimvl
