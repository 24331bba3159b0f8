// Copies and layout changes on the CPU: upsampling, concatenation, strided
// gathers, dtype casts and argmax.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/convert.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_convert.h"

namespace mmgen::kernels::cpu {
namespace {

constexpr int64_t kCopyGrain = 1 << 16;  // bytes per task, roughly

template <typename T>
void gather_run(const std::byte* src, int64_t stride, std::byte* dst, int64_t n) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = s[i * stride];
}

void gather_run(size_t element, const std::byte* src, int64_t stride, std::byte* dst, int64_t n) {
  if (stride == 1) {
    std::memcpy(dst, src, n * element);
    return;
  }
  switch (element) {
    case 1:
      gather_run<uint8_t>(src, stride, dst, n);
      return;
    case 2:
      gather_run<uint16_t>(src, stride, dst, n);
      return;
    case 4:
      gather_run<uint32_t>(src, stride, dst, n);
      return;
    case 8:
      gather_run<uint64_t>(src, stride, dst, n);
      return;
    default:
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + i * element, src + i * stride * static_cast<int64_t>(element), element);
  }
}

// dst[i * dst_stride + j] = src[i + j * src_stride] for i < rows, j < cols, in
// square tiles staged through a small buffer: both sides are then read and written
// along their contiguous direction (strided single-element access at a power-of-two
// stride would keep evicting itself from one cache set).
template <typename T>
void transpose_tiles(const std::byte* src_bytes, int64_t src_stride, std::byte* dst_bytes,
                     int64_t dst_stride, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  const T* src = reinterpret_cast<const T*>(src_bytes);
  T* dst = reinterpret_cast<T*>(dst_bytes);
  T tile[kTile][kTile];
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    const int64_t ni = std::min(kTile, rows - i0);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t nj = std::min(kTile, cols - j0);
      for (int64_t j = 0; j < nj; ++j) {
        const T* in = src + i0 + (j0 + j) * src_stride;
        for (int64_t i = 0; i < ni; ++i) tile[i][j] = in[i];
      }
      for (int64_t i = 0; i < ni; ++i) {
        T* out = dst + (i0 + i) * dst_stride + j0;
        for (int64_t j = 0; j < nj; ++j) out[j] = tile[i][j];
      }
    }
  }
}

using TransposeFn = void (*)(const std::byte*, int64_t, std::byte*, int64_t, int64_t, int64_t);

TransposeFn transpose_for(size_t element) {
  switch (element) {
    case 1:
      return transpose_tiles<uint8_t>;
    case 2:
      return transpose_tiles<uint16_t>;
    case 4:
      return transpose_tiles<uint32_t>;
    case 8:
      return transpose_tiles<uint64_t>;
    default:
      return nullptr;
  }
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, int factor) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t ow = w * factor;
  Tensor y = Tensor::empty({n, c, h * factor, ow}, DType::kF32);
  const float* in = x.typed_data<float>();
  float* out = y.typed_data<float>();
  parallel_chunks(n * c * h, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ow * factor)),
                  [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; ++r) {
                      const float* src = in + r * w;
                      float* dst = out + r * factor * ow;
                      for (int64_t i = 0; i < w; ++i)
                        for (int f = 0; f < factor; ++f) dst[i * factor + f] = src[i];
                      for (int f = 1; f < factor; ++f)
                        std::memcpy(dst + f * ow, dst, ow * sizeof(float));
                    }
                  });
  return y;
}

Tensor concat(const std::vector<Tensor>& tensors, int dim) {
  Shape shape = tensors.front().shape();
  const DType dtype = tensors.front().dtype();
  shape[dim] = 0;
  for (const Tensor& t : tensors) shape[dim] += t.dim(dim);
  Tensor y = Tensor::empty(shape, dtype);
  const int64_t outer = shape_numel(Shape(shape.begin(), shape.begin() + dim));
  const size_t element = block_bytes(dtype);
  // Bytes of each input per outer index, and their offsets in an output row.
  std::vector<size_t> piece(tensors.size()), at(tensors.size());
  size_t row = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    piece[i] = static_cast<size_t>(tensors[i].numel() / std::max<int64_t>(outer, 1)) * element;
    at[i] = row;
    row += piece[i];
  }
  auto* out = static_cast<std::byte*>(y.data());
  if (y.numel() == 0) return y;
  parallel_chunks(outer, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, row)),
                  [&](int64_t o0, int64_t o1) {
                    for (int64_t o = o0; o < o1; ++o)
                      for (size_t i = 0; i < tensors.size(); ++i)
                        std::memcpy(out + o * row + at[i],
                                    static_cast<const std::byte*>(tensors[i].data()) + o * piece[i],
                                    piece[i]);
                  });
  return y;
}

Tensor contiguous(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (y.numel() == 0) return y;
  auto* dst = static_cast<std::byte*>(y.data());
  const auto* src = static_cast<const std::byte*>(x.data());
  if (x.is_contiguous()) {
    std::memcpy(dst, src, x.nbytes());
    return y;
  }
  // Merge dimensions that are contiguous with each other; size-1 dims drop out.
  Shape dims, strides;
  for (int d = 0; d < x.ndim(); ++d) {
    if (x.dim(d) == 1) continue;
    if (!dims.empty() && strides.back() == x.stride(d) * x.dim(d)) {
      dims.back() *= x.dim(d);
      strides.back() = x.stride(d);
    } else {
      dims.push_back(x.dim(d));
      strides.push_back(x.stride(d));
    }
  }
  const size_t element = block_bytes(x.dtype());
  const int outer_nd = static_cast<int>(dims.size()) - 1;
  const int64_t inner = dims.back(), inner_stride = strides.back();
  const Shape out_strides = contiguous_strides(dims);
  const auto unit = static_cast<int64_t>(element);

  // A source-contiguous dim other than the innermost: copy as tiled 2-D transposes.
  int across = -1;
  for (int d = 0; d < outer_nd; ++d)
    if (strides[d] == 1) across = d;
  const TransposeFn transpose = transpose_for(element);
  if (across >= 0 && transpose && inner > 1) {
    // Tasks are 256 x 256 blocks: both sides then read or write 1 KiB runs.
    constexpr int64_t kBlock = 256;
    const int64_t rows = dims[across];
    const int64_t planes = x.numel() / (rows * inner);
    const int64_t row_blocks = (rows + kBlock - 1) / kBlock;
    const int64_t col_blocks = (inner + kBlock - 1) / kBlock;
    parallel_tasks(planes * row_blocks * col_blocks, [&](int64_t task) {
      const int64_t plane = task / (row_blocks * col_blocks);
      const int64_t r0 = (task / col_blocks % row_blocks) * kBlock;
      const int64_t c0 = (task % col_blocks) * kBlock;
      int64_t src_offset = 0, dst_offset = 0, rest = plane;
      for (int d = outer_nd - 1; d >= 0; --d) {
        if (d == across) continue;
        const int64_t i = rest % dims[d];
        rest /= dims[d];
        src_offset += i * strides[d];
        dst_offset += i * out_strides[d];
      }
      src_offset += r0 + c0 * inner_stride;
      dst_offset += r0 * out_strides[across] + c0;
      transpose(src + src_offset * unit, inner_stride, dst + dst_offset * unit, out_strides[across],
                std::min(kBlock, rows - r0), std::min(kBlock, inner - c0));
    });
    return y;
  }
  const int64_t rows = x.numel() / inner;
  parallel_chunks(rows, std::max<int64_t>(1, kCopyGrain / static_cast<int64_t>(inner * element)),
                  [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; ++r) {
                      int64_t offset = 0, rest = r;
                      for (int d = outer_nd - 1; d >= 0; --d) {
                        offset += (rest % dims[d]) * strides[d];
                        rest /= dims[d];
                      }
                      gather_run(element, src + offset * static_cast<int64_t>(element),
                                 inner_stride, dst + r * inner * static_cast<int64_t>(element),
                                 inner);
                    }
                  });
  return y;
}

Tensor cast(const Tensor& x, DType dtype) {
  Tensor y = Tensor::empty(x.shape(), dtype);
  const int64_t n = x.numel();
  const DType from = x.dtype();
  // Quantised sources convert whole rows of blocks.
  const int64_t unit = is_quantized(from) ? x.dim(-1) : is_quantized(dtype) ? y.dim(-1) : 1;
  const int64_t units = unit ? n / unit : 0;
  parallel_chunks(
      units, std::max<int64_t>(1, kCopyGrain / 4 / std::max<int64_t>(unit, 1)),
      [&](int64_t u0, int64_t u1) {
        const int64_t begin = u0 * unit, count = (u1 - u0) * unit;
        const void* src = element_address(from, x.data(), begin);
        void* dst = const_cast<std::byte*>(element_address(dtype, y.data(), begin));
        if (dtype == DType::kF32) {
          to_f32(from, src, static_cast<float*>(dst), count);
        } else if (from == DType::kF32 && dtype == DType::kF16) {
          f32_to_f16_run(static_cast<const float*>(src), static_cast<uint16_t*>(dst), count);
        } else if (from == DType::kF32 && dtype == DType::kBF16) {
          f32_to_bf16_run(static_cast<const float*>(src), static_cast<uint16_t*>(dst), count);
        } else {
          convert_elements(from, src, dtype, dst, count);
        }
      });
  return y;
}

Tensor argmax(const Tensor& x) {
  const int64_t rows = x.dim(0), n = x.dim(1);
  Tensor y = Tensor::empty({rows}, DType::kI64);
  const float* in = x.typed_data<float>();
  int64_t* out = y.typed_data<int64_t>();
  parallel_chunks(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n)),
                  [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; ++r) {
                      const float* row = in + r * n;
                      int64_t best = 0;
                      for (int64_t i = 1; i < n; ++i) {
                        if (std::isnan(row[best])) break;  // NaN counts as the maximum
                        if (row[i] > row[best] || std::isnan(row[i])) best = i;
                      }
                      out[r] = best;
                    }
                  });
  return y;
}

}  // namespace mmgen::kernels::cpu
