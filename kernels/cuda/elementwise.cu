// Elementwise CUDA ops: dtype casts, strided gathers (contiguous), unary
// activations and broadcasting binary arithmetic.
#include <cstdint>
#include <vector>

#include "core/element_access.h"
#include "core/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/cuda_utils.cuh"

namespace mmgen::kernels::cuda {
namespace {

constexpr int kMaxRank = 8;

// ---- casts -------------------------------------------------------------------

template <FloatKind S, FloatKind D>
__global__ void cast_float_kernel(const void* src, void* dst, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float v = load_as_f32<S>(src, i);
    if constexpr (D == FloatKind::kF32) {
      static_cast<float*>(dst)[i] = v;
    } else if constexpr (D == FloatKind::kF16) {
      static_cast<uint16_t*>(dst)[i] = f32_to_f16(v);
    } else {
      static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v);
    }
  }
}

__global__ void cast_plain_kernel(DType src_type, const void* src, DType dst_type, void* dst,
                                  int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    double value = 0.0;
    load_element(src_type, src, i, &value);
    store_element(dst_type, dst, i, value);
  }
}

bool is_float_kind(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

// Converts n contiguous elements between plain dtypes on the current device.
void convert_plain(DType src_type, const void* src, DType dst_type, void* dst, int64_t n) {
  if (n == 0) return;
  if (src_type == dst_type) {
    check_cuda(
        cudaMemcpyAsync(dst, src, bytes_for(src_type, n), cudaMemcpyDeviceToDevice, stream()),
        "cudaMemcpyAsync");
    return;
  }
  if (is_float_kind(src_type) && is_float_kind(dst_type)) {
    dispatch_float_kind(float_kind(src_type, "cast"), [&](auto s) {
      dispatch_float_kind(float_kind(dst_type, "cast"), [&](auto d) {
        cast_float_kernel<decltype(s)::value, decltype(d)::value>
            <<<grid_for(n), kThreads, 0, stream()>>>(src, dst, n);
      });
    });
    check_launch("cast_float");
    return;
  }
  MMGEN_CHECK(dst_type != DType::kF8E4M3 && dst_type != DType::kF8E5M2, "cast: conversion to ",
              dtype_name(dst_type), " is not supported");
  cast_plain_kernel<<<grid_for(n), kThreads, 0, stream()>>>(src_type, src, dst_type, dst, n);
  check_launch("cast_plain");
}

// ---- strided layouts -----------------------------------------------------------

// Shape and element strides of up to kMaxRank dimensions, passed by value.
struct Layout {
  int rank = 0;
  int64_t size[kMaxRank] = {};
  int64_t stride[kMaxRank] = {};
};

__device__ __forceinline__ int64_t offset_of(const Layout& layout, int64_t flat) {
  int64_t offset = 0;
  for (int d = layout.rank - 1; d >= 0; --d) {
    const int64_t i = flat % layout.size[d];
    flat /= layout.size[d];
    offset += i * layout.stride[d];
  }
  return offset;
}

// Drops size-1 dims and merges dims that are contiguous in every one of the
// given stride sets. `strides` holds one stride vector per operand.
void collapse_dims(Shape& shape, std::vector<Shape>& strides) {
  Shape out_shape;
  std::vector<Shape> out_strides(strides.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !out_shape.empty();
    for (size_t s = 0; merge && s < strides.size(); ++s)
      merge = out_strides[s].back() == strides[s][d] * shape[d];
    if (merge) {
      out_shape.back() *= shape[d];
      for (size_t s = 0; s < strides.size(); ++s) out_strides[s].back() = strides[s][d];
    } else {
      out_shape.push_back(shape[d]);
      for (size_t s = 0; s < strides.size(); ++s) out_strides[s].push_back(strides[s][d]);
    }
  }
  shape = std::move(out_shape);
  strides = std::move(out_strides);
}

Layout make_layout(const Shape& shape, const Shape& strides, const char* op) {
  MMGEN_CHECK(shape.size() <= static_cast<size_t>(kMaxRank), op, ": rank ", shape.size(),
              " exceeds the CUDA limit of ", kMaxRank, " (after merging contiguous dims)");
  Layout layout;
  layout.rank = static_cast<int>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    layout.size[d] = shape[d];
    layout.stride[d] = strides[d];
  }
  return layout;
}

template <typename T>
__global__ void gather_kernel(const T* src, Layout layout, T* dst, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) dst[i] = src[offset_of(layout, i)];
}

// ---- unary -------------------------------------------------------------------------

template <UnaryOp Op>
__device__ __forceinline__ float apply_unary(float x, float alpha, float beta) {
  if constexpr (Op == UnaryOp::kGelu) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  } else if constexpr (Op == UnaryOp::kGeluTanh) {
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  } else if constexpr (Op == UnaryOp::kQuickGelu) {
    return x / (1.0f + expf(-1.702f * x));
  } else if constexpr (Op == UnaryOp::kSilu) {
    return x / (1.0f + expf(-x));
  } else if constexpr (Op == UnaryOp::kRelu) {
    return x > 0.0f ? x : 0.0f;
  } else if constexpr (Op == UnaryOp::kLeakyRelu) {
    return x > 0.0f ? x : alpha * x;
  } else if constexpr (Op == UnaryOp::kTanh) {
    return tanhf(x);
  } else if constexpr (Op == UnaryOp::kSigmoid) {
    return 1.0f / (1.0f + expf(-x));
  } else if constexpr (Op == UnaryOp::kExp) {
    return expf(x);
  } else if constexpr (Op == UnaryOp::kScale) {
    return x * alpha;
  } else if constexpr (Op == UnaryOp::kAddScalar) {
    return x + alpha;
  } else {
    return fminf(fmaxf(x, alpha), beta);
  }
}

template <UnaryOp Op>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float alpha, float beta) {
  for (int64_t i = thread_index(); i < n; i += thread_count())
    y[i] = apply_unary<Op>(x[i], alpha, beta);
}

template <UnaryOp Op>
void launch_unary(const float* x, float* y, int64_t n, float alpha, float beta) {
  unary_kernel<Op><<<grid_for(n), kThreads, 0, stream()>>>(x, y, n, alpha, beta);
}

// ---- binary ------------------------------------------------------------------------

template <BinaryOp Op>
__device__ __forceinline__ float apply_binary(float a, float b) {
  if constexpr (Op == BinaryOp::kAdd) {
    return a + b;
  } else if constexpr (Op == BinaryOp::kSub) {
    return a - b;
  } else if constexpr (Op == BinaryOp::kMul) {
    return a * b;
  } else {
    return a / b;
  }
}

template <BinaryOp Op>
__global__ void binary_same_kernel(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) y[i] = apply_binary<Op>(a[i], b[i]);
}

// Two operand layouts over one output shape (stride 0 on broadcast dims).
struct BinaryLayout {
  int rank = 0;
  int64_t size[kMaxRank] = {};
  int64_t a_stride[kMaxRank] = {};
  int64_t b_stride[kMaxRank] = {};
};

template <BinaryOp Op>
__global__ void binary_broadcast_kernel(const float* a, const float* b, BinaryLayout layout,
                                        float* y, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    int64_t flat = i, ia = 0, ib = 0;
    for (int d = layout.rank - 1; d >= 0; --d) {
      const int64_t index = flat % layout.size[d];
      flat /= layout.size[d];
      ia += index * layout.a_stride[d];
      ib += index * layout.b_stride[d];
    }
    y[i] = apply_binary<Op>(a[ia], b[ib]);
  }
}

template <BinaryOp Op>
void launch_binary(const float* a, const float* b, const BinaryLayout* layout, float* y,
                   int64_t n) {
  if (layout) {
    binary_broadcast_kernel<Op><<<grid_for(n), kThreads, 0, stream()>>>(a, b, *layout, y, n);
  } else {
    binary_same_kernel<Op><<<grid_for(n), kThreads, 0, stream()>>>(a, b, y, n);
  }
}

}  // namespace

// ---- shared helpers ------------------------------------------------------------------

void zero_device(void* data, size_t bytes) {
  if (bytes == 0) return;
  check_cuda(cudaMemsetAsync(data, 0, bytes, stream()), "cudaMemsetAsync");
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : contiguous(t); }

void rows_to_f32(DType type, const void* src, int64_t rows, int64_t cols, float* dst) {
  if (is_quantized(type)) {
    dequantize_rows(type, src, nullptr, rows, cols, dst);
    return;
  }
  convert_plain(type, src, DType::kF32, dst, rows * cols);
}

Tensor to_f32(const Tensor& t, const char* what) {
  MMGEN_CHECK(t.defined(), what, ": undefined tensor");
  if (t.dtype() == DType::kF32) return dense(t);
  DeviceGuard guard(t.device());
  const Tensor src = dense(t);
  Tensor out = Tensor::empty(src.shape(), DType::kF32, src.device());
  if (is_quantized(src.dtype())) {
    const int64_t cols = src.ndim() ? src.dim(-1) : 1;
    dequantize_rows(src.dtype(), src.data(), nullptr, cols ? src.numel() / cols : 0, cols,
                    out.typed_data<float>());
  } else {
    convert_plain(src.dtype(), src.data(), DType::kF32, out.data(), src.numel());
  }
  return out;
}

// ---- backend ops -----------------------------------------------------------------------

Tensor cast(const Tensor& x, DType dtype) {
  DeviceGuard guard(x.device());
  if (is_quantized(x.dtype())) {
    MMGEN_CHECK(dtype == DType::kF32, "cuda cast: a ", dtype_name(x.dtype()),
                " tensor converts only to f32, not ", dtype_name(dtype));
    return to_f32(x, "cast input");
  }
  MMGEN_CHECK(!is_quantized(dtype), "cuda cast: quantising to ", dtype_name(dtype),
              " runs on the CPU");
  const Tensor src = dense(x);
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  convert_plain(src.dtype(), src.data(), dtype, out.data(), src.numel());
  return out;
}

Tensor contiguous(const Tensor& x) {
  MMGEN_CHECK(!is_quantized(x.dtype()), "cuda contiguous: ", x.str(),
              " is quantised; only plain dtypes have strided views");
  DeviceGuard guard(x.device());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (n == 0) return out;
  Shape shape = x.shape();
  std::vector<Shape> strides{x.strides()};
  collapse_dims(shape, strides);
  const size_t element = block_bytes(x.dtype());
  if (shape.empty() || (shape.size() == 1 && strides[0][0] == 1)) {
    check_cuda(
        cudaMemcpyAsync(out.data(), x.data(), n * element, cudaMemcpyDeviceToDevice, stream()),
        "cudaMemcpyAsync");
    return out;
  }
  const Layout layout = make_layout(shape, strides[0], "cuda contiguous");
  switch (element) {
    case 1:
      gather_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint8_t*>(x.data()), layout, static_cast<uint8_t*>(out.data()), n);
      break;
    case 2:
      gather_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint16_t*>(x.data()), layout, static_cast<uint16_t*>(out.data()), n);
      break;
    case 4:
      gather_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint32_t*>(x.data()), layout, static_cast<uint32_t*>(out.data()), n);
      break;
    case 8:
      gather_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
          static_cast<const uint64_t*>(x.data()), layout, static_cast<uint64_t*>(out.data()), n);
      break;
    default:
      fail("cuda contiguous: unsupported element size ", element, " of ", x.str());
  }
  check_launch("gather");
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x_in, float alpha, float beta) {
  DeviceGuard guard(x_in.device());
  const Tensor x = to_f32(x_in, "unary input");
  Tensor out = Tensor::empty(x.shape(), DType::kF32, x.device());
  const int64_t n = x.numel();
  if (n == 0) return out;
  const float* in = x.typed_data<float>();
  float* y = out.typed_data<float>();
  switch (op) {
    case UnaryOp::kGelu:
      launch_unary<UnaryOp::kGelu>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kGeluTanh:
      launch_unary<UnaryOp::kGeluTanh>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kQuickGelu:
      launch_unary<UnaryOp::kQuickGelu>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kSilu:
      launch_unary<UnaryOp::kSilu>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kRelu:
      launch_unary<UnaryOp::kRelu>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kLeakyRelu:
      launch_unary<UnaryOp::kLeakyRelu>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kTanh:
      launch_unary<UnaryOp::kTanh>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kSigmoid:
      launch_unary<UnaryOp::kSigmoid>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kExp:
      launch_unary<UnaryOp::kExp>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kScale:
      launch_unary<UnaryOp::kScale>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kAddScalar:
      launch_unary<UnaryOp::kAddScalar>(in, y, n, alpha, beta);
      break;
    case UnaryOp::kClamp:
      launch_unary<UnaryOp::kClamp>(in, y, n, alpha, beta);
      break;
    default:
      fail("cuda unary: unknown op ", static_cast<int>(op));
  }
  check_launch("unary");
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in, const Shape& out_shape) {
  MMGEN_CHECK(a_in.device() == b_in.device(), "cuda binary: operands on ", a_in.device().str(),
              " and ", b_in.device().str());
  DeviceGuard guard(a_in.device());
  const Tensor a = to_f32(a_in, "binary operand a");
  const Tensor b = to_f32(b_in, "binary operand b");
  const size_t rank = out_shape.size();
  MMGEN_CHECK(a.shape().size() == rank && b.shape().size() == rank, "cuda binary: ", a.str(),
              " and ", b.str(), " must have the rank of the output ", shape_str(out_shape));
  Tensor out = Tensor::empty(out_shape, DType::kF32, a.device());
  const int64_t n = out.numel();
  if (n == 0) return out;

  std::vector<Shape> strides{contiguous_strides(a.shape()), contiguous_strides(b.shape())};
  for (size_t d = 0; d < rank; ++d) {
    const int64_t sizes[2] = {a.shape()[d], b.shape()[d]};
    for (int s = 0; s < 2; ++s) {
      MMGEN_CHECK(sizes[s] == out_shape[d] || sizes[s] == 1, "cuda binary: ", a.str(), " and ",
                  b.str(), " do not broadcast to ", shape_str(out_shape));
      if (sizes[s] != out_shape[d]) strides[s][d] = 0;
    }
  }
  const bool same = a.shape() == out_shape && b.shape() == out_shape;
  BinaryLayout layout;
  if (!same) {
    Shape shape = out_shape;
    collapse_dims(shape, strides);
    MMGEN_CHECK(shape.size() <= static_cast<size_t>(kMaxRank), "cuda binary: rank ", shape.size(),
                " exceeds the CUDA limit of ", kMaxRank);
    layout.rank = static_cast<int>(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
      layout.size[d] = shape[d];
      layout.a_stride[d] = strides[0][d];
      layout.b_stride[d] = strides[1][d];
    }
  }
  const BinaryLayout* broadcast = same ? nullptr : &layout;
  const float* pa = a.typed_data<float>();
  const float* pb = b.typed_data<float>();
  float* y = out.typed_data<float>();
  switch (op) {
    case BinaryOp::kAdd:
      launch_binary<BinaryOp::kAdd>(pa, pb, broadcast, y, n);
      break;
    case BinaryOp::kSub:
      launch_binary<BinaryOp::kSub>(pa, pb, broadcast, y, n);
      break;
    case BinaryOp::kMul:
      launch_binary<BinaryOp::kMul>(pa, pb, broadcast, y, n);
      break;
    case BinaryOp::kDiv:
      launch_binary<BinaryOp::kDiv>(pa, pb, broadcast, y, n);
      break;
    default:
      fail("cuda binary: unknown op ", static_cast<int>(op));
  }
  check_launch("binary");
  return out;
}

}  // namespace mmgen::kernels::cuda
