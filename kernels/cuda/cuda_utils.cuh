// Device-side building blocks of the CUDA kernels: launch sizing, grid-stride
// indexing, block reductions and f32/f16/bf16 loads.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"
#include "core/half.h"
#include "kernels/cuda/cuda_context.h"

namespace mmgen::kernels::cuda {

constexpr int kThreads = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// Blocks for a grid-stride loop over n items (capped: the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, int64_t{1} << 20));
}

__device__ __forceinline__ int64_t thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t thread_count() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Sum over the whole block, returned to every thread; the partials are added in
// a fixed order so results do not depend on scheduling.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  v = warp_sum(v);
  const int warps = (blockDim.x + 31) / 32;
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += partial[w];
  __syncthreads();  // the next call may overwrite partial
  return total;
}

__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  v = warp_max(v);
  const int warps = (blockDim.x + 31) / 32;
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  float total = partial[0];
  for (int w = 1; w < warps; ++w) total = fmaxf(total, partial[w]);
  __syncthreads();
  return total;
}

// The float element types kernels read directly.
enum class FloatKind : int { kF32, kF16, kBF16 };

inline FloatKind float_kind(DType t, const char* what) {
  switch (t) {
    case DType::kF32:
      return FloatKind::kF32;
    case DType::kF16:
      return FloatKind::kF16;
    case DType::kBF16:
      return FloatKind::kBF16;
    default:
      fail(what, ": CUDA kernels read f32, f16 or bf16, not ", dtype_name(t));
  }
}

template <FloatKind K>
__device__ __forceinline__ float load_as_f32(const void* p, int64_t i) {
  if constexpr (K == FloatKind::kF32) {
    return static_cast<const float*>(p)[i];
  } else if constexpr (K == FloatKind::kF16) {
    return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
  } else {
    return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
  }
}

// Runtime-kind load for small parameter vectors (norm weights, biases).
__device__ __forceinline__ float load_as_f32(const void* p, int64_t i, FloatKind kind) {
  switch (kind) {
    case FloatKind::kF16:
      return load_as_f32<FloatKind::kF16>(p, i);
    case FloatKind::kBF16:
      return load_as_f32<FloatKind::kBF16>(p, i);
    default:
      return load_as_f32<FloatKind::kF32>(p, i);
  }
}

// Calls f(std::integral_constant<FloatKind, K>{}) for the runtime kind.
template <typename F>
void dispatch_float_kind(FloatKind kind, F&& f) {
  switch (kind) {
    case FloatKind::kF16:
      f(std::integral_constant<FloatKind, FloatKind::kF16>{});
      return;
    case FloatKind::kBF16:
      f(std::integral_constant<FloatKind, FloatKind::kBF16>{});
      return;
    default:
      f(std::integral_constant<FloatKind, FloatKind::kF32>{});
      return;
  }
}

}  // namespace mmgen::kernels::cuda
