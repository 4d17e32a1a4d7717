#pragma once
// A profiled window of the benchmark (`trimvl bench --profile DIR`): LibTorch's Kineto profiler
// records CPU operators and, on CUDA, every kernel (CUDA graph replays included) between start and
// stop. The window is written as a Chrome trace (chrome://tracing, Perfetto) and summarised as the
// kernels — or on the CPU the operators — that took the most time, so that what limits a phase is
// a measurement, not a guess. Profiling slows what it records: windows are extra runs, never the
// timed ones.
#include <cstddef>
#include <filesystem>
#include <string>

namespace trimvl::app {

class KernelProfile {
 public:
  // Starts recording. One window at a time in a process (Kineto's profiler is global).
  KernelProfile();
  ~KernelProfile();  // stops a window still recording, discarding it
  KernelProfile(const KernelProfile&) = delete;
  KernelProfile& operator=(const KernelProfile&) = delete;

  // Stops, writes the trace to `trace`, and returns the summary: the `rows` names with the most
  // summed time, each with its calls, total and share, then the window's total — device kernels
  // followed by the host's operators and CUDA runtime calls when any kernel ran, else CPU operators.
  std::string stop(const std::filesystem::path& trace, size_t rows = 25);

 private:
  bool running_ = false;
};

}  // namespace trimvl::app
