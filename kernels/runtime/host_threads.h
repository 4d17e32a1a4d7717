#pragma once
// How many threads ATen's CPU ops may use while a GPU runs the model.
//
// ATen's CPU ops fork their whole OpenMP team — one thread per core by default — for any tensor
// past the grain size, however little work there is, and join it at a barrier. With the model on
// a GPU the host's ops are small tables (positions, indices, ids), so the team buys nothing and
// costs a join that waits for its slowest thread: when another process kept one core busy, each
// TTFT took 71-102 ms instead of 28-34, the vision encoder's launches queued behind the joins
// (docs/perf.md, run O). With one thread it took 28.5-29.5 ms beside the busy core, and decode
// kept its speed.
#include <c10/core/Device.h>

namespace trimvl {

// The intra-op thread count for work on `device`: 1 on a GPU unless the user chose one through
// OMP_NUM_THREADS (`omp_num_threads` is that variable's value, null when unset); otherwise
// `current`, ATen's count as it stands.
int host_threads_for(c10::Device device, const char* omp_num_threads, int current);

// Applies host_threads_for() with this process's environment. ATen then carries the count to the
// threads that run CPU ops later; call it before the calling thread's first model work. Returns
// the count now in effect.
int fit_host_threads(c10::Device device);

}  // namespace trimvl
