#pragma once
// A CUDA graph of the device work a callable issues, replayed as one launch (a decode step's
// hundreds of small kernels cost one launch, not hundreds). The interface keeps CUDA headers out
// of its users; at::cuda::CUDAGraph does the work.
//
// The callable runs once, under stream capture: its kernels are recorded, not run. Everything it
// reads or writes must therefore sit at addresses that stay fixed across replays (static input
// buffers, the KV pool), and it must neither synchronise with the host nor copy from pageable host
// memory — CUDA refuses either during capture, and the refusal arrives here as an Error. Tensors it
// allocates come from the graph's private pool and stay valid (and are rewritten by each replay)
// while the graph lives.
#include <functional>
#include <memory>

#include <c10/core/Device.h>

namespace trimvl::ops {

class DeviceGraph {
 public:
  explicit DeviceGraph(c10::Device device);  // throws Unsupported without CUDA kernels
  ~DeviceGraph();
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;

  // Records `body` (on a side stream that first waits for the current stream's work). If it
  // throws, or capture fails, the graph stays empty and the error propagates.
  void capture(const std::function<void()>& body);
  // Runs the recorded work on the device's current stream.
  void replay();
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trimvl::ops
