#include "tests/support/golden.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "tests/support/test_env.h"

namespace trimvl::test {

std::filesystem::path golden_dir(const std::string& generator) {
  auto dir = env_path("TRIMVL_GOLDEN_DIR") / generator;
  if (!std::filesystem::exists(dir / ".complete"))
    throw std::runtime_error(fmt::format("golden outputs for '{}' are missing in {} (run ctest, whose golden_generate "
                                         "fixture runs tests/golden/gen_{}.py in the venv)",
                                         generator, dir.string(), generator));
  return dir;
}

::testing::AssertionResult all_close(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol,
                                     const std::string& what) {
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << what << ": shape " << actual.sizes() << " != expected " << expected.sizes();
  auto a = actual.detach().to(at::kCPU, at::kDouble).contiguous();
  auto e = expected.detach().to(at::kCPU, at::kDouble).contiguous();
  if (a.numel() == 0) return ::testing::AssertionSuccess();
  auto diff = (a - e).abs();
  auto bound = e.abs() * rtol + atol;
  auto bad = ~(diff <= bound);  // NaN anywhere fails
  if (!bad.any().item<bool>()) return ::testing::AssertionSuccess();
  auto excess = (diff - bound).nan_to_num(std::numeric_limits<double>::infinity()).flatten();
  const int64_t worst = excess.argmax().item<int64_t>();
  const double max_abs = diff.nan_to_num(std::numeric_limits<double>::infinity()).max().item<double>();
  const double max_rel = (diff / e.abs().clamp_min(1e-30)).nan_to_num(std::numeric_limits<double>::infinity()).max().item<double>();
  return ::testing::AssertionFailure()
         << fmt::format("{}: {} of {} elements outside |a-e| <= {} + {}*|e|; worst at flat index {}: actual {} "
                        "expected {}; max abs err {:.3g}, max rel err {:.3g}",
                        what, bad.sum().item<int64_t>(), a.numel(), atol, rtol, worst,
                        a.flatten()[worst].item<double>(), e.flatten()[worst].item<double>(), max_abs, max_rel);
}

}  // namespace trimvl::test
