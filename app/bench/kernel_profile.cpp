#include "app/bench/kernel_profile.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace {

namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

std::set<ActivityType> activities() {
  std::set<ActivityType> a{ActivityType::CPU};
  if (at::hasCUDA()) a.insert(ActivityType::CUDA);
  return a;
}

}  // namespace

KernelProfile::KernelProfile() {
  const ProfilerConfig config(ProfilerState::KINETO);
  try {
    prof::prepareProfiler(config, activities());
    prof::enableProfiler(config, activities());
  } catch (const c10::Error& e) {
    throw Error(fmt::format("--profile: the profiler did not start: {}", e.what_without_backtrace()),
                Error::Kind::Unsupported);
  }
  running_ = true;
}

KernelProfile::~KernelProfile() {
  if (running_) {
    try {
      prof::disableProfiler();
    } catch (...) {  // a destructor: the window is discarded either way
    }
  }
}

std::string KernelProfile::stop(const std::filesystem::path& trace, size_t rows) {
  TRIMVL_CHECK(running_, "KernelProfile::stop called twice");
  running_ = false;
  std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
  std::error_code ec;
  std::filesystem::create_directories(trace.parent_path(), ec);
  try {
    result->save(trace.string());
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: cannot write the profile: {}", trace.string(), e.what_without_backtrace()));
  }

  struct Total {
    int64_t calls = 0;
    uint64_t ns = 0;
  };
  std::map<std::string, Total> device, host;
  for (const prof::KinetoEvent& e : result->events()) {
    auto& table = e.deviceType() == c10::DeviceType::CUDA ? device : host;
    Total& t = table[e.name()];
    ++t.calls;
    t.ns += e.durationNs();
  }
  // CPU operators nest (an op's time includes its children's), so their shares are of the sum of
  // inclusive times, a ranking rather than a partition; kernels do not nest. With kernels, the
  // host side follows them: where the host, not the device, paces a window (launches, syncs,
  // allocations, host-side table building), its operators and CUDA runtime calls show it.
  const auto summarise = [](const std::map<std::string, Total>& table, const char* title, size_t shown) {
    std::vector<const std::pair<const std::string, Total>*> sorted;
    uint64_t all = 0;
    for (const auto& entry : table) {
      sorted.push_back(&entry);
      all += entry.second.ns;
    }
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->second.ns > b->second.ns; });
    std::string text = fmt::format("{:>8} {:>11} {:>6}  {}\n", "calls", "total ms", "share", title);
    for (size_t i = 0; i < std::min(shown, sorted.size()); ++i) {
      const auto& [name, t] = *sorted[i];
      const std::string_view label = name;
      const bool cut = label.size() > 120;
      text += fmt::format("{:>8} {:>11.3f} {:>5.1f}%  {}{}\n", t.calls, static_cast<double>(t.ns) / 1e6,
                          all > 0 ? 100.0 * static_cast<double>(t.ns) / static_cast<double>(all) : 0.0,
                          cut ? label.substr(0, 117) : label, cut ? "..." : "");
    }
    text += fmt::format("{:>8} {:>11.3f}         all {} names\n", "", static_cast<double>(all) / 1e6, sorted.size());
    return text;
  };
  if (device.empty()) return summarise(host, "CPU operator (inclusive)", rows);
  return summarise(device, "CUDA kernel", rows) + "\n" +
         summarise(host, "host: CPU operator or CUDA runtime call (inclusive)", rows);
}

}  // namespace trimvl::app
