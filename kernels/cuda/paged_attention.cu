// Paged decode attention (split-K, query groups packed) and the one-token append; see
// paged_attention.h. Memory-bound: a decode step reads every retained K and V once, 16 bytes per
// thread per access, with UNROLL tokens' loads in flight before the first is used.
#include <cfloat>

#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kUnroll = 4;
constexpr float kLog2e = 1.4426950408889634f;

template <typename T, int D, int G>
struct DecodeShape {
  static constexpr int kVec = Vec<T>::kSize;
  static constexpr int kLanesPerToken = D / kVec;  // threads sharing one token's row
  static_assert(kLanesPerToken >= 1 && kLanesPerToken <= 32 && 32 % kLanesPerToken == 0, "unsupported head dim");
  static constexpr int kTokensPerWarp = 32 / kLanesPerToken;
  static constexpr int kGroups = kWarps * kTokensPerWarp;  // token lanes of the CTA
};

// Grid (kv heads, splits). Each token lane keeps an online softmax (in base 2, the scale folded
// into q) per query head of the group; the CTA then merges its lanes through shared memory.
template <typename T, int D, int G>
__global__ void __launch_bounds__(kThreads) paged_decode_kernel(PagedDecodeArgs a) {
  using S = DecodeShape<T, D, G>;
  constexpr int kVec = S::kVec, kLanes = S::kLanesPerToken, kGroups = S::kGroups;
  __shared__ float sm_m[kGroups][G], sm_l[kGroups][G];
  __shared__ float sm_acc[kGroups][G][D];

  const int h = blockIdx.x, split = blockIdx.y;
  const int stream = a.first_stream + h;
  const int length = a.lengths[stream];
  const int begin = split * a.split_tokens;
  const int end = min(length, begin + a.split_tokens);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = warp * S::kTokensPerWarp + lane / kLanes;
  const int part = lane % kLanes;

  const T* q = static_cast<const T*>(a.q);
  float qf[G][kVec];
  const float q_scale = a.scale * kLog2e;
#pragma unroll
  for (int g = 0; g < G; ++g) {
    unpack<T>(load16(q + static_cast<int64_t>(h * G + g) * D + part * kVec), qf[g]);
#pragma unroll
    for (int e = 0; e < kVec; ++e) qf[g][e] *= q_scale;
  }
  float m[G], l[G], acc[G][kVec];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -FLT_MAX;
    l[g] = 0.f;
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[g][e] = 0.f;
  }

  const T* keys = static_cast<const T*>(a.keys);
  const T* values = static_cast<const T*>(a.values);
  const int32_t* table = a.block_table + static_cast<int64_t>(stream) * a.table_stride;
  // The loop bound is uniform across a warp (every lane runs every shuffle); lanes past the end
  // load nothing and contribute nothing.
  for (int base = begin + warp * S::kTokensPerWarp; base < end; base += kGroups * kUnroll) {
    uint4 kr[kUnroll], vr[kUnroll];
    bool valid[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * kGroups + lane / kLanes;
      valid[u] = i < end;
      if (valid[u]) {
        const int64_t slot = static_cast<int64_t>(table[i / a.block_size]) * a.block_size + i % a.block_size;
        kr[u] = load16(keys + slot * D + part * kVec);
        vr[u] = load16(values + slot * D + part * kVec);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[kVec];
      if (valid[u]) unpack<T>(kr[u], kf);
      float s[G];
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float dot = 0.f;
        if (valid[u]) {
#pragma unroll
          for (int e = 0; e < kVec; ++e) dot = fmaf(qf[g][e], kf[e], dot);
        }
#pragma unroll
        for (int o = kLanes / 2; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        s[g] = dot;
      }
      if (!valid[u]) continue;
      float vf[kVec];
      unpack<T>(vr[u], vf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const float m_new = fmaxf(m[g], s[g]);
        const float alpha = exp2f(m[g] - m_new);
        const float p = exp2f(s[g] - m_new);
        l[g] = l[g] * alpha + p;
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[g][e] = fmaf(p, vf[e], acc[g][e] * alpha);
        m[g] = m_new;
      }
    }
  }

#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (part == 0) {
      sm_m[group][g] = m[g];
      sm_l[group][g] = l[g];
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e) sm_acc[group][g][part * kVec + e] = acc[g][e];
  }
  __syncthreads();

  for (int idx = threadIdx.x; idx < G * D; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    float mx = -FLT_MAX;
#pragma unroll
    for (int j = 0; j < kGroups; ++j) mx = fmaxf(mx, sm_m[j][g]);
    float sum = 0.f, out = 0.f;
#pragma unroll
    for (int j = 0; j < kGroups; ++j) {
      if (sm_l[j][g] == 0.f) continue;  // a lane that saw no token
      const float w = exp2f(sm_m[j][g] - mx);
      sum += sm_l[j][g] * w;
      out += sm_acc[j][g][d] * w;
    }
    if (a.num_splits == 1) {
      static_cast<T*>(a.out)[static_cast<int64_t>(h * G + g) * D + d] = from_float<T>(out / sum);
    } else {
      const int64_t row = (static_cast<int64_t>(h) * a.num_splits + split) * G + g;
      a.partial_out[row * D + d] = out;
      if (d == 0) {
        a.partial_ml[row * 2] = mx;
        a.partial_ml[row * 2 + 1] = sum;  // 0 for a split past the stream's end
      }
    }
  }
}

// Grid (H_q): merges the splits of one query head.
template <typename T, int D, int G>
__global__ void __launch_bounds__(D) combine_splits_kernel(PagedDecodeArgs a) {
  const int qh = blockIdx.x, h = qh / G, g = qh % G, d = threadIdx.x;
  const int length = a.lengths[a.first_stream + h];
  const int used = min(a.num_splits, (length + a.split_tokens - 1) / a.split_tokens);
  const int64_t first = static_cast<int64_t>(h) * a.num_splits * G + g;
  float mx = -FLT_MAX;
  for (int s = 0; s < used; ++s) mx = fmaxf(mx, a.partial_ml[(first + s * G) * 2]);
  float sum = 0.f, out = 0.f;
  for (int s = 0; s < used; ++s) {
    const int64_t row = first + s * G;
    const float l = a.partial_ml[row * 2 + 1];
    if (l == 0.f) continue;
    const float w = exp2f(a.partial_ml[row * 2] - mx);
    sum += l * w;
    out += a.partial_out[row * D + d] * w;
  }
  static_cast<T*>(a.out)[static_cast<int64_t>(qh) * D + d] = from_float<T>(out / sum);
}

template <typename T, int D, int G>
cudaError_t launch_decode(const PagedDecodeArgs& a, cudaStream_t stream) {
  paged_decode_kernel<T, D, G><<<dim3(a.kv_heads, a.num_splits), kThreads, 0, stream>>>(a);
  if (a.num_splits > 1) combine_splits_kernel<T, D, G><<<a.kv_heads * G, D, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t dispatch_group(const PagedDecodeArgs& a, cudaStream_t stream) {
  switch (a.group) {
    case 1: return launch_decode<T, D, 1>(a, stream);
    case 2: return launch_decode<T, D, 2>(a, stream);
    case 4: return launch_decode<T, D, 4>(a, stream);
    case 8: return launch_decode<T, D, 8>(a, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T>
cudaError_t dispatch_dim(const PagedDecodeArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {
    case 64: return dispatch_group<T, 64>(a, stream);
    case 128: return dispatch_group<T, 128>(a, stream);
    default: return cudaErrorInvalidValue;
  }
}

// Grid (kv heads), one thread per 16-byte piece of the row.
template <typename T>
__global__ void paged_append_kernel(PagedAppendArgs a) {
  constexpr int kVec = Vec<T>::kSize;
  const int h = blockIdx.x, stream = a.first_stream + h;
  const int64_t slot = a.slots[stream];
  const int pieces = a.head_dim / kVec;
  const T* k = static_cast<const T*>(a.k) + static_cast<int64_t>(h) * a.head_dim;
  const T* v = static_cast<const T*>(a.v) + static_cast<int64_t>(h) * a.head_dim;
  for (int p = threadIdx.x; p < pieces; p += blockDim.x) {
    *reinterpret_cast<uint4*>(static_cast<T*>(a.keys) + slot * a.head_dim + p * kVec) = load16(k + p * kVec);
    *reinterpret_cast<uint4*>(static_cast<T*>(a.values) + slot * a.head_dim + p * kVec) = load16(v + p * kVec);
  }
  if (threadIdx.x != 0) return;
  a.positions[slot] = *a.position;
  if (a.log_beta) static_cast<T*>(a.log_beta_pool)[slot] = static_cast<const T*>(a.log_beta)[h];
  if (a.accumulated) a.accumulated[slot] = 0.f;
  const int index = a.lengths[stream] - 1;
  if (index % a.block_size == 0)
    a.block_table[static_cast<int64_t>(stream) * a.table_stride + index / a.block_size] =
        static_cast<int32_t>(slot / a.block_size);
}

}  // namespace

bool paged_decode_supported(int head_dim, int group) {
  return (head_dim == 64 || head_dim == 128) && (group == 1 || group == 2 || group == 4 || group == 8);
}

cudaError_t paged_decode_attention(const PagedDecodeArgs& a, cudaStream_t stream) {
  if (!paged_decode_supported(a.head_dim, a.group) || a.split_tokens <= 0 || a.num_splits <= 0 ||
      (a.num_splits > 1 && (!a.partial_out || !a.partial_ml)))
    return cudaErrorInvalidValue;
  return with_element_type(a.dtype, [&](auto t) { return dispatch_dim<decltype(t)>(a, stream); });
}

cudaError_t paged_append(const PagedAppendArgs& a, cudaStream_t stream) {
  if (a.head_dim <= 0 || a.kv_heads <= 0) return cudaErrorInvalidValue;
  const int threads = 32;
  return with_element_type(a.dtype, [&](auto t) {
    paged_append_kernel<decltype(t)><<<a.kv_heads, threads, 0, stream>>>(a);
    return cudaGetLastError();
  });
}

}  // namespace trimvl::cuda
