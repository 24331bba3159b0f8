// Normalisation CUDA ops: group_norm, layer_norm, rms_norm and softmax. Every
// statistic is an f32 block reduction; variances are two-pass (mean first, then
// squared deviations) so large offsets do not cancel.
#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/cuda_utils.cuh"

namespace mmgen::kernels::cuda {
namespace {

// An optional per-channel parameter vector (weight or bias) of any float kind.
struct Param {
  const void* data = nullptr;
  FloatKind kind = FloatKind::kF32;
};

__device__ __forceinline__ float param_or(const Param& p, int64_t i, float fallback) {
  return p.data ? load_as_f32(p.data, i, p.kind) : fallback;
}

Param make_param(const Tensor& t, int64_t expected, const char* what) {
  if (!t.defined()) return {};
  MMGEN_CHECK(t.numel() == expected, what, ": ", t.str(), " should have ", expected, " elements");
  MMGEN_CHECK(t.is_contiguous(), what, ": ", t.str(), " must be contiguous");
  return {t.data(), float_kind(t.dtype(), what)};
}

// Threads for one block per row of `cols` elements: a multiple of the warp size.
unsigned row_threads(int64_t cols) {
  return static_cast<unsigned>(std::clamp<int64_t>((cols + 31) / 32 * 32, 32, 1024));
}

unsigned row_blocks(int64_t rows, const char* op) {
  MMGEN_CHECK(rows <= INT32_MAX, op, ": ", rows, " rows exceed the CUDA grid");
  return static_cast<unsigned>(rows);
}

__global__ void layer_norm_kernel(const float* x, int64_t cols, Param weight, Param bias, float eps,
                                  float* y) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* out = y + static_cast<int64_t>(blockIdx.x) * cols;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += row[j];
  const float mean = block_sum(sum) / static_cast<float>(cols);
  float squares = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float d = row[j] - mean;
    squares += d * d;
  }
  const float variance = block_sum(squares) / static_cast<float>(cols);
  const float inv_std = 1.0f / sqrtf(variance + eps);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    out[j] = (row[j] - mean) * inv_std * param_or(weight, j, 1.0f) + param_or(bias, j, 0.0f);
}

__global__ void rms_norm_kernel(const float* x, int64_t cols, Param weight, float eps, float* y) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* out = y + static_cast<int64_t>(blockIdx.x) * cols;
  float squares = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) squares += row[j] * row[j];
  const float inv_rms = 1.0f / sqrtf(block_sum(squares) / static_cast<float>(cols) + eps);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    out[j] = row[j] * inv_rms * param_or(weight, j, 1.0f);
}

__global__ void softmax_kernel(const float* x, int64_t cols, float* y) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* out = y + static_cast<int64_t>(blockIdx.x) * cols;
  float local_max = -INFINITY;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) local_max = fmaxf(local_max, row[j]);
  const float max = block_max(local_max);
  if (max == -INFINITY) {  // every value -inf: zeros, as on the CPU
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[j] = 0.0f;
    return;
  }
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += expf(row[j] - max);
  const float inv_sum = 1.0f / block_sum(sum);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[j] = expf(row[j] - max) * inv_sum;
}

// group_norm in two launches over (group, chunk) blocks, so a few large groups
// still spread over the whole GPU. Pass 1 stores each chunk's sum and sum of
// squared deviations from its own mean; pass 2 merges them (Chan et al.) and
// normalises its chunk.
constexpr int kGroupThreads = 1024;
constexpr int64_t kGroupChunk = 16 * kGroupThreads;

__global__ void group_stats_kernel(const float* x, int64_t group_elems, int64_t chunk,
                                   float* partials) {
  const int64_t group = blockIdx.x;
  const int64_t begin = blockIdx.y * chunk;
  const int64_t end = min(group_elems, begin + chunk);
  const float* base = x + group * group_elems;
  float sum = 0.0f;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) sum += base[e];
  sum = block_sum(sum);
  const float mean = sum / static_cast<float>(end - begin);
  float squares = 0.0f;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const float d = base[e] - mean;
    squares += d * d;
  }
  squares = block_sum(squares);
  if (threadIdx.x == 0) {
    float* p = partials + (group * gridDim.y + blockIdx.y) * 2;
    p[0] = sum;
    p[1] = squares;
  }
}

__global__ void group_norm_kernel(const float* x, int64_t group_elems, int64_t chunk,
                                  const float* partials, int64_t groups, int64_t spatial,
                                  int64_t channels_per_group, Param weight, Param bias, float eps,
                                  float* y) {
  const int64_t group = blockIdx.x;
  const int64_t chunks = gridDim.y;
  const float* p = partials + group * chunks * 2;
  const auto count_of = [&](int64_t c) {
    return static_cast<float>(min(group_elems, (c + 1) * chunk) - c * chunk);
  };
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) sum += p[2 * c];
  const float mean = block_sum(sum) / static_cast<float>(group_elems);
  float m2 = 0.0f;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    const float count = count_of(c);
    const float d = p[2 * c] / count - mean;
    m2 += p[2 * c + 1] + count * d * d;
  }
  const float variance = block_sum(m2) / static_cast<float>(group_elems);
  const float inv_std = 1.0f / sqrtf(variance + eps);

  const int64_t first_channel = (group % groups) * channels_per_group;
  const int64_t begin = blockIdx.y * chunk;
  const int64_t end = min(group_elems, begin + chunk);
  const float* in = x + group * group_elems;
  float* out = y + group * group_elems;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int64_t c = first_channel + e / spatial;
    out[e] = (in[e] - mean) * inv_std * param_or(weight, c, 1.0f) + param_or(bias, c, 0.0f);
  }
}

}  // namespace

Tensor group_norm(const Tensor& x_in, int groups, const Tensor& weight_in, const Tensor& bias_in,
                  float eps) {
  MMGEN_CHECK(x_in.ndim() == 3, "cuda group_norm: x must be [N, C, S], got ", x_in.str());
  DeviceGuard guard(x_in.device());
  const Tensor x = to_f32(x_in, "group_norm input");
  const int64_t batch = x.dim(0), channels = x.dim(1), spatial = x.dim(2);
  MMGEN_CHECK(groups > 0 && channels % groups == 0, "cuda group_norm: ", channels,
              " channels do not split into ", groups, " groups");
  const Tensor weight = weight_in.defined() ? dense(weight_in) : Tensor();
  const Tensor bias = bias_in.defined() ? dense(bias_in) : Tensor();
  const Param w = make_param(weight, channels, "group_norm weight");
  const Param b = make_param(bias, channels, "group_norm bias");
  Tensor out = Tensor::empty(x.shape(), DType::kF32, x.device());
  if (out.numel() == 0) return out;

  const int64_t channels_per_group = channels / groups;
  const int64_t group_elems = channels_per_group * spatial;
  const int64_t all_groups = batch * groups;
  MMGEN_CHECK(all_groups <= INT32_MAX, "cuda group_norm: too many groups in ", x.str());
  // At most 1024 chunks per group, none of them empty.
  const int64_t wanted =
      std::clamp<int64_t>((group_elems + kGroupChunk - 1) / kGroupChunk, 1, 1024);
  const int64_t chunk = (group_elems + wanted - 1) / wanted;
  const int64_t chunks = (group_elems + chunk - 1) / chunk;
  Tensor partials = Tensor::empty({all_groups, chunks, 2}, DType::kF32, x.device());
  const dim3 grid(static_cast<unsigned>(all_groups), static_cast<unsigned>(chunks));
  group_stats_kernel<<<grid, kGroupThreads, 0, stream()>>>(x.typed_data<float>(), group_elems,
                                                           chunk, partials.typed_data<float>());
  check_launch("group_stats");
  group_norm_kernel<<<grid, kGroupThreads, 0, stream()>>>(
      x.typed_data<float>(), group_elems, chunk, partials.typed_data<float>(), groups, spatial,
      channels_per_group, w, b, eps, out.typed_data<float>());
  check_launch("group_norm");
  return out;
}

Tensor layer_norm(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, float eps) {
  MMGEN_CHECK(x_in.ndim() >= 1, "cuda layer_norm: x must have a last dimension, got ", x_in.str());
  DeviceGuard guard(x_in.device());
  const Tensor x = to_f32(x_in, "layer_norm input");
  const int64_t cols = x.dim(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  const Tensor weight = weight_in.defined() ? dense(weight_in) : Tensor();
  const Tensor bias = bias_in.defined() ? dense(bias_in) : Tensor();
  const Param w = make_param(weight, cols, "layer_norm weight");
  const Param b = make_param(bias, cols, "layer_norm bias");
  Tensor out = Tensor::empty(x.shape(), DType::kF32, x.device());
  if (out.numel() == 0) return out;
  layer_norm_kernel<<<row_blocks(rows, "cuda layer_norm"), row_threads(cols), 0, stream()>>>(
      x.typed_data<float>(), cols, w, b, eps, out.typed_data<float>());
  check_launch("layer_norm");
  return out;
}

Tensor rms_norm(const Tensor& x_in, const Tensor& weight_in, float eps) {
  MMGEN_CHECK(x_in.ndim() >= 1, "cuda rms_norm: x must have a last dimension, got ", x_in.str());
  DeviceGuard guard(x_in.device());
  const Tensor x = to_f32(x_in, "rms_norm input");
  const int64_t cols = x.dim(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  const Tensor weight = weight_in.defined() ? dense(weight_in) : Tensor();
  const Param w = make_param(weight, cols, "rms_norm weight");
  Tensor out = Tensor::empty(x.shape(), DType::kF32, x.device());
  if (out.numel() == 0) return out;
  rms_norm_kernel<<<row_blocks(rows, "cuda rms_norm"), row_threads(cols), 0, stream()>>>(
      x.typed_data<float>(), cols, w, eps, out.typed_data<float>());
  check_launch("rms_norm");
  return out;
}

Tensor softmax(const Tensor& x_in) {
  MMGEN_CHECK(x_in.ndim() >= 1, "cuda softmax: x must have a last dimension, got ", x_in.str());
  DeviceGuard guard(x_in.device());
  const Tensor x = to_f32(x_in, "softmax input");
  const int64_t cols = x.dim(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  Tensor out = Tensor::empty(x.shape(), DType::kF32, x.device());
  if (out.numel() == 0) return out;
  softmax_kernel<<<row_blocks(rows, "cuda softmax"), row_threads(cols), 0, stream()>>>(
      x.typed_data<float>(), cols, out.typed_data<float>());
  check_launch("softmax");
  return out;
}

}  // namespace mmgen::kernels::cuda
