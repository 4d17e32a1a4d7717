#include "kernels/ops/device_graph.h"

#include <fmt/format.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace trimvl::ops {

#ifdef TRIMVL_HAS_CUDA
struct DeviceGraph::Impl {
  c10::Device device;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
};

DeviceGraph::DeviceGraph(c10::Device device) : impl_(std::make_unique<Impl>(Impl{device, nullptr})) {
  TRIMVL_CHECK(device.is_cuda(), "a CUDA graph on {}", device.str());
}

DeviceGraph::~DeviceGraph() = default;

void DeviceGraph::capture(const std::function<void()>& body) {
  const c10::DeviceIndex index = impl_->device.has_index() ? impl_->device.index() : c10::cuda::current_device();
  c10::cuda::CUDAGuard device_guard(index);
  const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(index);
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
  at::cuda::CUDAEvent ready;
  ready.record(current);
  ready.block(side);
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
  {
    c10::cuda::CUDAStreamGuard stream_guard(side);
    graph->capture_begin();
    try {
      body();
    } catch (...) {
      try {
        graph->capture_end();
      } catch (...) {  // an invalidated capture also fails to end; the body's error is the one to report
      }
      throw;
    }
    try {
      graph->capture_end();
    } catch (const c10::Error& e) {
      throw Error(fmt::format("CUDA graph capture failed: {}", e.what_without_backtrace()), Error::Kind::Internal);
    }
  }
  impl_->graph = std::move(graph);
}

void DeviceGraph::replay() {
  TRIMVL_CHECK(impl_->graph, "replay of a CUDA graph that was not captured");
  impl_->graph->replay();
}

bool DeviceGraph::captured() const { return impl_->graph != nullptr; }

#else

struct DeviceGraph::Impl {};
DeviceGraph::DeviceGraph(c10::Device device) { current_stream(device); }  // throws: no kernels in this build
DeviceGraph::~DeviceGraph() = default;
void DeviceGraph::capture(const std::function<void()>&) { TRIMVL_CHECK(false, "no CUDA graphs in this build"); }
void DeviceGraph::replay() { TRIMVL_CHECK(false, "no CUDA graphs in this build"); }
bool DeviceGraph::captured() const { return false; }

#endif

}  // namespace trimvl::ops
