#pragma once
// Programmatic dependent launch (sm_90). A decode step is some 400 kernels in a row, each bound by
// memory for a few µs, and at every boundary the GPU used to drain the previous grid before it
// launched and ramped up the next. A kernel launched through launch_dependent() may be scheduled
// while its predecessor still runs, once every CTA of the predecessor has called
// release_dependents() (or exited): it does first what reads nothing a previous kernel writes —
// a projection's first weight loads — and then waits for the predecessor's completion and memory.
//
// The contract for a kernel launched so:
// - it calls release_dependents() only after wait_for_producers(), so that when a kernel starts,
//   every kernel of the stream before its predecessor has completed;
// - before its wait it reads only memory its predecessor does not write (weights; for the decode
//   attention, the cache, which the q/k/v projection before it leaves alone) and writes only registers and
//   shared memory — never global memory, which an earlier kernel may still read (buffers the
//   allocator hands on);
// - every thread waits before it exits, so that a grid is complete only after its producers are
//   (a later kernel waits on this one alone).
// Kernels launched without it are ordinary stream-ordered launches, which ATen's are; both kinds mix
// in one stream and in CUDA graph captures.
#include <cuda_runtime.h>

#include <utility>

namespace trimvl::cuda {

__device__ __forceinline__ void wait_for_producers() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }

// Lets the next kernel of the stream be scheduled as SM resources free up; its threads then wait
// for this grid's completion in their own wait_for_producers().
__device__ __forceinline__ void release_dependents() { asm volatile("griddepcontrol.launch_dependents;\n" ::); }

// A dependent launch's configuration, in thread-block clusters of `cluster` CTAs (1 × 1 × 1: no
// clusters). It owns the attributes its config points to, so it neither copies nor moves.
class DependentLaunchConfig {
 public:
  DependentLaunchConfig(dim3 grid, dim3 cluster, dim3 block, size_t shared_bytes, cudaStream_t stream) {
    attributes_[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attributes_[0].val.programmaticStreamSerializationAllowed = 1;
    attributes_[1].id = cudaLaunchAttributeClusterDimension;
    attributes_[1].val.clusterDim = {cluster.x, cluster.y, cluster.z};
    config_.gridDim = grid;
    config_.blockDim = block;
    config_.dynamicSmemBytes = shared_bytes;
    config_.stream = stream;
    config_.attrs = attributes_;
    config_.numAttrs = cluster.x * cluster.y * cluster.z > 1 ? 2 : 1;
  }
  DependentLaunchConfig(const DependentLaunchConfig&) = delete;
  DependentLaunchConfig& operator=(const DependentLaunchConfig&) = delete;

  const cudaLaunchConfig_t* get() const { return &config_; }

 private:
  cudaLaunchAttribute attributes_[2]{};
  cudaLaunchConfig_t config_{};
};

template <typename... Params, typename... Args>
cudaError_t launch_dependent_in_clusters(void (*kernel)(Params...), dim3 grid, dim3 cluster, dim3 block,
                                         size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  const DependentLaunchConfig config(grid, cluster, block, shared_bytes, stream);
  const cudaError_t status = cudaLaunchKernelEx(config.get(), kernel, std::forward<Args>(args)...);
  return status != cudaSuccess ? status : cudaGetLastError();
}

template <typename... Params, typename... Args>
cudaError_t launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                             cudaStream_t stream, Args&&... args) {
  return launch_dependent_in_clusters(kernel, grid, dim3(1, 1, 1), block, shared_bytes, stream,
                                      std::forward<Args>(args)...);
}

}  // namespace trimvl::cuda
