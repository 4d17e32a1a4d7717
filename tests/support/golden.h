#pragma once
// Access to reference outputs made by tests/golden/gen_*.py (see tests/golden/harness.py), and
// tensor comparison with stated tolerances that reports where and by how much a check failed.
#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include "kernels/io/safetensors.h"

namespace trimvl::test {

// $TRIMVL_GOLDEN_DIR/<generator>, e.g. golden_dir("tokenizer") for gen_tokenizer.py. Throws
// (failing the test) when the generator has not run: a missing reference is never a pass.
std::filesystem::path golden_dir(const std::string& generator);

// ‖actual − expected‖ checks in float64: |a − e| <= atol + rtol·|e| everywhere. On failure the
// message names the tensor, the worst index, both values and the max abs/rel error.
::testing::AssertionResult all_close(const at::Tensor& actual, const at::Tensor& expected, double rtol,
                                     double atol, const std::string& what = "tensor");

}  // namespace trimvl::test

#define TRIMVL_EXPECT_CLOSE(actual, expected, rtol, atol) \
  EXPECT_TRUE(::trimvl::test::all_close((actual), (expected), (rtol), (atol), #actual))
