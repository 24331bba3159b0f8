// Weight decoding kernels: block dequantisation into f32 rows, and the direct
// matrix-vector product over f16 / bf16 / quantised weights used for decoding.
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/cuda_utils.cuh"
#include "kernels/cuda/quant.cuh"

namespace mmgen::kernels::cuda {
namespace {

// One thread per 32-element chunk of the output.
template <typename Q>
__global__ void dequantize_rows_kernel(const uint8_t* src, int64_t row_bytes,
                                       const int64_t* row_ids, int64_t rows, int64_t chunks_per_row,
                                       float* dst) {
  const int64_t total = rows * chunks_per_row;
  for (int64_t i = thread_index(); i < total; i += thread_count()) {
    const int64_t r = i / chunks_per_row;
    const int64_t c = i - r * chunks_per_row;
    const int64_t source_row = row_ids ? row_ids[r] : r;
    float y[quant::kChunk];
    Q::chunk(src + source_row * row_bytes, c, y);
    float4* out = reinterpret_cast<float4*>(dst + i * quant::kChunk);
    for (int j = 0; j < quant::kChunk / 4; ++j)
      out[j] = make_float4(y[4 * j], y[4 * j + 1], y[4 * j + 2], y[4 * j + 3]);
  }
}

// Sums a value per row across the warp and stores it from lane 0.
__device__ __forceinline__ void store_rows(const float* acc, int64_t rows, int64_t n_out, int64_t n,
                                           float* out) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < kMatvecMaxRows; ++r) {
    if (r >= rows) break;
    const float total = warp_sum(acc[r]);
    if (lane == 0) out[r * n_out + n] = total;
  }
}

// One warp per output feature n; lanes take 32-element chunks of the weight row.
template <typename Q>
__global__ void matvec_quant_kernel(const uint8_t* w, int64_t row_bytes, int64_t n_out, int64_t k,
                                    const float* x, int64_t rows, float* out) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (n >= n_out) return;
  const int lane = threadIdx.x & 31;
  const uint8_t* row = w + n * row_bytes;
  float acc[kMatvecMaxRows] = {};
  const int64_t chunks = k / quant::kChunk;
  for (int64_t c = lane; c < chunks; c += 32) {
    float y[quant::kChunk];
    Q::chunk(row, c, y);
#pragma unroll
    for (int r = 0; r < kMatvecMaxRows; ++r) {
      if (r >= rows) break;
      const float* xr = x + r * k + c * quant::kChunk;
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < quant::kChunk; ++j) s += y[j] * xr[j];
      acc[r] += s;
    }
  }
  store_rows(acc, rows, n_out, n, out);
}

// One warp per output feature n over a 16-bit float weight row. With kVector the
// lanes read 8 consecutive elements (16 bytes) at a time.
template <FloatKind K, bool kVector>
__global__ void matvec_half_kernel(const uint16_t* w, int64_t n_out, int64_t k, const float* x,
                                   int64_t rows, float* out) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (n >= n_out) return;
  const int lane = threadIdx.x & 31;
  const uint16_t* row = w + n * k;
  float acc[kMatvecMaxRows] = {};
  if constexpr (kVector) {
    for (int64_t i = lane * 8; i < k; i += 32 * 8) {
      const uint4 packed = *reinterpret_cast<const uint4*>(row + i);
      const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
      float wv[8];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const auto lo = static_cast<uint16_t>(words[j] & 0xffffu);
        const auto hi = static_cast<uint16_t>(words[j] >> 16);
        wv[2 * j] = K == FloatKind::kF16 ? f16_to_f32(lo) : bf16_to_f32(lo);
        wv[2 * j + 1] = K == FloatKind::kF16 ? f16_to_f32(hi) : bf16_to_f32(hi);
      }
#pragma unroll
      for (int r = 0; r < kMatvecMaxRows; ++r) {
        if (r >= rows) break;
        const float* xr = x + r * k + i;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < 8; ++j) s += wv[j] * xr[j];
        acc[r] += s;
      }
    }
  } else {
    for (int64_t i = lane; i < k; i += 32) {
      const float wi = load_as_f32<K>(row, i);
#pragma unroll
      for (int r = 0; r < kMatvecMaxRows; ++r) {
        if (r >= rows) break;
        acc[r] += wi * x[r * k + i];
      }
    }
  }
  store_rows(acc, rows, n_out, n, out);
}

constexpr int kMatvecWarps = 8;

}  // namespace

void dequantize_rows(DType type, const void* src, const int64_t* row_ids, int64_t rows,
                     int64_t cols, float* dst) {
  MMGEN_CHECK(reinterpret_cast<uintptr_t>(dst) % 16 == 0, "dequantize_rows: unaligned output");
  if (rows == 0 || cols == 0) return;
  const bool known = quant::dispatch(type, [&](auto decoder) {
    using Q = decltype(decoder);
    MMGEN_CHECK(cols % Q::kElems == 0, "a ", dtype_name(type), " row of ", cols,
                " elements is not a whole number of blocks");
    const int64_t row_bytes = cols / Q::kElems * Q::kBytes;
    const int64_t chunks = cols / quant::kChunk;
    dequantize_rows_kernel<Q><<<grid_for(rows * chunks), kThreads, 0, stream()>>>(
        static_cast<const uint8_t*>(src), row_bytes, row_ids, rows, chunks, dst);
    check_launch("dequantize_rows");
  });
  MMGEN_CHECK(known, "dequantize_rows: ", dtype_name(type), " is not a quantised type");
}

bool matvec_supports(DType weight_type) {
  return weight_type == DType::kF16 || weight_type == DType::kBF16 || is_quantized(weight_type);
}

void matvec(DType weight_type, const void* w, int64_t n_out, int64_t k, const float* x,
            int64_t rows, float* out) {
  MMGEN_CHECK(rows >= 1 && rows <= kMatvecMaxRows, "matvec: ", rows, " rows (at most ",
              kMatvecMaxRows, ")");
  if (n_out == 0) return;
  const unsigned blocks = static_cast<unsigned>((n_out + kMatvecWarps - 1) / kMatvecWarps);
  const unsigned threads = 32 * kMatvecWarps;
  if (is_quantized(weight_type)) {
    quant::dispatch(weight_type, [&](auto decoder) {
      using Q = decltype(decoder);
      MMGEN_CHECK(k % Q::kElems == 0, "matvec: ", dtype_name(weight_type), " row of ", k,
                  " elements is not a whole number of blocks");
      matvec_quant_kernel<Q><<<blocks, threads, 0, stream()>>>(
          static_cast<const uint8_t*>(w), k / Q::kElems * Q::kBytes, n_out, k, x, rows, out);
      check_launch("matvec_quant");
    });
    return;
  }
  const FloatKind kind = float_kind(weight_type, "matvec weight");
  MMGEN_CHECK(kind != FloatKind::kF32, "matvec: f32 weights go through cuBLAS");
  const bool vector = k % 8 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
  const auto* w16 = static_cast<const uint16_t*>(w);
  dispatch_float_kind(kind, [&](auto tag) {
    constexpr FloatKind K = decltype(tag)::value;
    if constexpr (K != FloatKind::kF32) {
      if (vector) {
        matvec_half_kernel<K, true><<<blocks, threads, 0, stream()>>>(w16, n_out, k, x, rows, out);
      } else {
        matvec_half_kernel<K, false><<<blocks, threads, 0, stream()>>>(w16, n_out, k, x, rows, out);
      }
      check_launch("matvec_half");
    }
  });
}

}  // namespace mmgen::kernels::cuda
