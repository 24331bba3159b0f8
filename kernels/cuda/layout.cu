// Position, embedding and layout CUDA ops: rope, embedding, timestep_embedding,
// upsample_nearest2d, concat and argmax.
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/cuda_utils.cuh"

namespace mmgen::kernels::cuda {
namespace {

// cos / sin of position * frequency per (position, pair), the angle in double
// as the CPU backend computes it: table[(l * pairs + i) * 2 + {0: cos, 1: sin}].
__global__ void rope_table_kernel(const int64_t* positions, const float* inv_freq, int64_t pairs,
                                  float* table, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t l = i / pairs;
    const double angle =
        static_cast<double>(positions[l]) * static_cast<double>(inv_freq[i - l * pairs]);
    double s = 0.0, c = 0.0;
    ::sincos(angle, &s, &c);
    table[2 * i] = static_cast<float>(c);
    table[2 * i + 1] = static_cast<float>(s);
  }
}

// x, y: [rows = B * L * H, D] with row r at sequence position (r / heads) % len.
// Pair i is (i, i + pairs) for the rotate-half convention, (2i, 2i + 1) interleaved.
template <bool kInterleaved>
__global__ void rope_kernel(const float* x, const float* table, int64_t len, int64_t heads,
                            int64_t dim, int64_t pairs, float* y, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t d = i % dim;
    if (d >= 2 * pairs) {
      y[i] = x[i];
      continue;
    }
    const int64_t row = i / dim;
    const float* xr = x + row * dim;
    int64_t pair = 0, partner = 0;
    bool first = false;
    if constexpr (kInterleaved) {
      pair = d / 2;
      first = (d & 1) == 0;
      partner = first ? d + 1 : d - 1;
    } else {
      first = d < pairs;
      pair = first ? d : d - pairs;
      partner = first ? d + pairs : d - pairs;
    }
    const float* cs = table + (((row / heads) % len) * pairs + pair) * 2;
    // first of the pair: x1 cos - x2 sin; second: x2 cos + x1 sin
    y[i] = first ? xr[d] * cs[0] - xr[partner] * cs[1] : xr[d] * cs[0] + xr[partner] * cs[1];
  }
}

template <FloatKind K>
__global__ void embedding_kernel(const void* weight, const int64_t* ids, int64_t dim, float* y,
                                 int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t row = i / dim;
    y[i] = load_as_f32<K>(weight, ids[row] * dim + (i - row * dim));
  }
}

// Frequencies and angles in double, as the CPU backend computes them.
__global__ void timestep_embedding_kernel(const float* timesteps, int64_t dim, int64_t half,
                                          double log_max_period, double denominator, bool cos_first,
                                          float* y, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t row = i / dim;
    const int64_t j = i - row * dim;
    if (j >= 2 * half) {
      y[i] = 0.0f;  // the odd last column
      continue;
    }
    const bool second = j >= half;
    const int64_t f = second ? j - half : j;
    const double freq = ::exp(-log_max_period * static_cast<double>(f) / denominator);
    const double arg = static_cast<double>(timesteps[row]) * freq;
    y[i] = static_cast<float>((second != cos_first) ? ::cos(arg) : ::sin(arg));
  }
}

template <typename T>
__global__ void upsample_nearest_kernel(const T* x, int64_t height, int64_t width, int factor, T* y,
                                        int64_t n) {
  const int64_t out_w = width * factor;
  const int64_t out_h = height * factor;
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t ox = i % out_w;
    const int64_t rest = i / out_w;
    const int64_t oy = rest % out_h;
    const int64_t plane = rest / out_h;
    y[i] = x[(plane * height + oy / factor) * width + ox / factor];
  }
}

// Whether (v, i) beats the current best: NaN counts as the maximum (as on the
// CPU) and ties go to the lowest index.
__device__ __forceinline__ bool beats(float v, int64_t i, float best, int64_t best_index) {
  const bool v_nan = v != v, best_nan = best != best;
  if (v_nan || best_nan) return v_nan && (!best_nan || i < best_index);
  return v > best || (v == best && i < best_index);
}

// One block per row.
__global__ void argmax_kernel(const float* x, int64_t cols, int64_t* y) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * cols;
  float best = -INFINITY;
  int64_t best_index = INT64_MAX;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    if (beats(row[j], j, best, best_index)) {
      best = row[j];
      best_index = j;
    }
  }
  __shared__ float values[kThreads];
  __shared__ int64_t indices[kThreads];
  values[threadIdx.x] = best;
  indices[threadIdx.x] = best_index;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride && beats(values[threadIdx.x + stride], indices[threadIdx.x + stride],
                                      values[threadIdx.x], indices[threadIdx.x])) {
      values[threadIdx.x] = values[threadIdx.x + stride];
      indices[threadIdx.x] = indices[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = indices[0] == INT64_MAX ? 0 : indices[0];
}

}  // namespace

Tensor rope(const Tensor& x_in, const Tensor& positions_in, const Tensor& inv_freq_in,
            RopeStyle style) {
  DeviceGuard guard(x_in.device());
  MMGEN_CHECK(x_in.ndim() == 4, "cuda rope: x must be [B, L, H, D], got ", x_in.str());
  const Tensor x = to_f32(x_in, "rope input");
  const Tensor inv_freq = to_f32(inv_freq_in, "rope inv_freq");
  const Tensor positions =
      positions_in.dtype() == DType::kI64 ? dense(positions_in) : cast(positions_in, DType::kI64);
  const int64_t len = x.dim(1), heads = x.dim(2), dim = x.dim(3);
  const int64_t pairs = inv_freq.numel();
  MMGEN_CHECK(positions.numel() == len, "cuda rope: ", positions.numel(), " positions for ", len,
              " tokens");
  MMGEN_CHECK(2 * pairs <= dim, "cuda rope: ", 2 * pairs, " rotary dims exceed head dim ", dim);
  Tensor out = Tensor::empty(x.shape(), DType::kF32, x.device());
  const int64_t n = x.numel();
  if (n == 0) return out;
  Tensor table = Tensor::empty({len, pairs, 2}, DType::kF32, x.device());
  if (table.numel() > 0) {
    rope_table_kernel<<<grid_for(len * pairs), kThreads, 0, stream()>>>(
        positions.typed_data<int64_t>(), inv_freq.typed_data<float>(), pairs,
        table.typed_data<float>(), len * pairs);
    check_launch("rope_table");
  }
  if (style == RopeStyle::kInterleaved) {
    rope_kernel<true><<<grid_for(n), kThreads, 0, stream()>>>(
        x.typed_data<float>(), table.typed_data<float>(), len, heads, dim, pairs,
        out.typed_data<float>(), n);
  } else {
    rope_kernel<false><<<grid_for(n), kThreads, 0, stream()>>>(
        x.typed_data<float>(), table.typed_data<float>(), len, heads, dim, pairs,
        out.typed_data<float>(), n);
  }
  check_launch("rope");
  return out;
}

Tensor embedding(const Tensor& weight_in, const Tensor& ids_in) {
  MMGEN_CHECK(weight_in.ndim() == 2, "cuda embedding: weight must be [V, D], got ",
              weight_in.str());
  DeviceGuard guard(weight_in.device());
  const Tensor weight = dense(weight_in);
  const Tensor ids = ids_in.dtype() == DType::kI64 ? dense(ids_in) : cast(ids_in, DType::kI64);
  const int64_t rows = ids.numel();
  const int64_t dim = weight.dim(1);
  Tensor out = Tensor::empty({rows, dim}, DType::kF32, weight.device());
  const int64_t n = out.numel();
  if (n == 0) return out;
  const DType type = weight.dtype();
  if (is_quantized(type)) {
    dequantize_rows(type, weight.data(), ids.typed_data<int64_t>(), rows, dim,
                    out.typed_data<float>());
    return out;
  }
  dispatch_float_kind(float_kind(type, "embedding weight"), [&](auto tag) {
    embedding_kernel<decltype(tag)::value><<<grid_for(n), kThreads, 0, stream()>>>(
        weight.data(), ids.typed_data<int64_t>(), dim, out.typed_data<float>(), n);
  });
  check_launch("embedding");
  return out;
}

Tensor timestep_embedding(const Tensor& timesteps_in, int dim, float max_period, bool cos_first,
                          float shift) {
  DeviceGuard guard(timesteps_in.device());
  MMGEN_CHECK(dim >= 0, "cuda timestep_embedding: negative dim ", dim);
  const Tensor timesteps = to_f32(timesteps_in, "timesteps");
  const int64_t rows = timesteps.numel();
  Tensor out = Tensor::empty({rows, static_cast<int64_t>(dim)}, DType::kF32, timesteps.device());
  const int64_t n = out.numel();
  if (n == 0) return out;
  const int64_t half = dim / 2;
  timestep_embedding_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      timesteps.typed_data<float>(), dim, half, std::log(static_cast<double>(max_period)),
      static_cast<double>(half) - shift, cos_first, out.typed_data<float>(), n);
  check_launch("timestep_embedding");
  return out;
}

Tensor upsample_nearest2d(const Tensor& x_in, int factor) {
  MMGEN_CHECK(x_in.ndim() == 4, "cuda upsample_nearest2d: x must be [N, C, H, W], got ",
              x_in.str());
  MMGEN_CHECK(factor >= 1, "cuda upsample_nearest2d: factor ", factor, " must be at least 1");
  MMGEN_CHECK(!is_quantized(x_in.dtype()), "cuda upsample_nearest2d: quantised input ", x_in.str());
  DeviceGuard guard(x_in.device());
  const Tensor x = dense(x_in);
  const int64_t height = x.dim(2), width = x.dim(3);
  Tensor out =
      Tensor::empty({x.dim(0), x.dim(1), height * factor, width * factor}, x.dtype(), x.device());
  const int64_t n = out.numel();
  if (n == 0) return out;
  switch (block_bytes(x.dtype())) {
    case 1:
      upsample_nearest_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint8_t*>(x.data()), height, width, factor,
          static_cast<uint8_t*>(out.data()), n);
      break;
    case 2:
      upsample_nearest_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint16_t*>(x.data()), height, width, factor,
          static_cast<uint16_t*>(out.data()), n);
      break;
    case 4:
      upsample_nearest_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint32_t*>(x.data()), height, width, factor,
          static_cast<uint32_t*>(out.data()), n);
      break;
    default:
      upsample_nearest_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint64_t*>(x.data()), height, width, factor,
          static_cast<uint64_t*>(out.data()), n);
      break;
  }
  check_launch("upsample_nearest2d");
  return out;
}

Tensor concat(const std::vector<Tensor>& tensors, int dim) {
  MMGEN_CHECK(!tensors.empty(), "cuda concat: no tensors");
  const Tensor& first = tensors.front();
  const int rank = first.ndim();
  const int axis = dim < 0 ? dim + rank : dim;
  MMGEN_CHECK(axis >= 0 && axis < rank, "cuda concat: dim ", dim, " out of range for ",
              first.str());
  DeviceGuard guard(first.device());
  Shape shape = first.shape();
  shape[axis] = 0;
  for (const Tensor& t : tensors) {
    MMGEN_CHECK(t.device() == first.device() && t.dtype() == first.dtype() && t.ndim() == rank,
                "cuda concat: ", t.str(), " does not match ", first.str());
    for (int d = 0; d < rank; ++d)
      MMGEN_CHECK(d == axis || t.dim(d) == first.dim(d), "cuda concat: ", t.str(),
                  " does not match ", first.str(), " outside dim ", axis);
    shape[axis] += t.dim(axis);
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  if (out.numel() == 0) return out;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < rank; ++d) inner *= shape[d];
  const size_t out_row = bytes_for(out.dtype(), shape[axis] * inner);
  size_t column = 0;  // byte offset of this input's slice within an output row
  for (const Tensor& t : tensors) {
    const size_t row = bytes_for(t.dtype(), t.dim(axis) * inner);
    if (row != 0) {
      const Tensor src = dense(t);
      check_cuda(
          cudaMemcpy2DAsync(static_cast<std::byte*>(out.data()) + column, out_row, src.data(), row,
                            row, static_cast<size_t>(outer), cudaMemcpyDeviceToDevice, stream()),
          "cudaMemcpy2DAsync");
    }
    column += row;
  }
  return out;
}

Tensor argmax(const Tensor& x_in) {
  MMGEN_CHECK(x_in.ndim() >= 1, "cuda argmax: x must have a last dimension, got ", x_in.str());
  DeviceGuard guard(x_in.device());
  const Tensor x = to_f32(x_in, "argmax input");
  Shape out_shape = x.shape();
  const int64_t cols = out_shape.back();
  out_shape.pop_back();
  const int64_t rows = shape_numel(out_shape);
  MMGEN_CHECK(cols > 0 || rows == 0, "cuda argmax: empty rows in ", x.str());
  Tensor out = Tensor::empty(out_shape, DType::kI64, x.device());
  if (rows == 0) return out;
  MMGEN_CHECK(rows <= INT32_MAX, "cuda argmax: too many rows in ", x.str());
  argmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream()>>>(x.typed_data<float>(), cols,
                                                                        out.typed_data<int64_t>());
  check_launch("argmax");
  return out;
}

}  // namespace mmgen::kernels::cuda
