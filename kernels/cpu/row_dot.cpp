#include "kernels/cpu/row_dot.h"

#include <cstdlib>
#include <string_view>

// GCC 12 reports false "(may be) used uninitialized" warnings inside the AVX-512
// conversion intrinsics (their _mm512_undefined_* pass-through operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/row_convert.h"
#include "kernels/cpu/simd.h"

// The register decoders use AVX-512 byte operations on 128-bit vectors (BW, VL).
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define MMGEN_ROW_DOT_AVX512 1
// The integer dot product of Q8_0 decoding (vpdpbusd on 256-bit vectors).
#if defined(__AVX512VNNI__)
#define MMGEN_ROW_DOT_VNNI 1
#endif
#endif

namespace mmgen::kernels::cpu {
namespace {

// Any dtype, any ISA: each stored row converted into a buffer, then m dot products.
void dot_rows_converted(DType type, const uint8_t* w, size_t row_bytes, int64_t n, const float* x,
                        int64_t m, int64_t k, float* out, int64_t ldo) {
  thread_local std::vector<float> buffer;
  if (type != DType::kF32 && buffer.size() < static_cast<size_t>(k)) buffer.resize(k);
  for (int64_t j = 0; j < n; ++j, w += row_bytes) {
    const float* row = reinterpret_cast<const float*>(w);
    if (type != DType::kF32) {
      to_f32(type, w, buffer.data(), k);
      row = buffer.data();
    }
    for (int64_t i = 0; i < m; ++i) out[i * ldo + j] = dot_f32(row, x + i * k, k);
  }
}

#if defined(MMGEN_ROW_DOT_AVX512)

// The 32 values of one block (or of 32 consecutive plain elements) as f32:
// elements 0..15 and 16..31.
struct Block32 {
  __m512 lo, hi;
};

inline Block32 times(Block32 v, float d) {
  const __m512 s = _mm512_set1_ps(d);
  return {_mm512_mul_ps(v.lo, s), _mm512_mul_ps(v.hi, s)};
}

inline __m128i load16(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline __m256i load32(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The f16 at p, through the F16C instruction.
inline float load_half(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// Decoders: kBytes per 32 values, decode() yields the dequantised values exactly as
// core/quant.cpp computes them (q * d, or q * d + m fused), value() one element of
// a plain type for the tail of a row. kScaled types (value = q * d) also give
// unscaled() q and scale() d, for a single row of x: d * sum(q x) costs one
// multiplication per block instead of two.
struct F32Rows {
  static constexpr bool kScaled = false;
  static constexpr size_t kBytes = 128;
  static Block32 decode(const uint8_t* p) { return {_mm512_loadu_ps(p), _mm512_loadu_ps(p + 64)}; }
  static float value(const uint8_t* row, int64_t i) {
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
  }
};

struct F16Rows {
  static constexpr bool kScaled = false;
  static constexpr size_t kBytes = 64;
  static Block32 decode(const uint8_t* p) {
    return {_mm512_cvtph_ps(load32(p)), _mm512_cvtph_ps(load32(p + 32))};
  }
  static float value(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return f16_to_f32(h);
  }
};

struct BF16Rows {
  static constexpr bool kScaled = false;
  static constexpr size_t kBytes = 64;
  static __m512 widen(const uint8_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load32(p)), 16));
  }
  static Block32 decode(const uint8_t* p) { return {widen(p), widen(p + 32)}; }
  static float value(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return bf16_to_f32(h);
  }
};

// Q8_0: f16 d, 32 int8; value = q * d.
struct Q8_0Rows {
  static constexpr size_t kBytes = 34;
  static constexpr bool kScaled = true;
  static float scale(const uint8_t* p) { return load_half(p); }
  static Block32 unscaled(const uint8_t* p) {
    return {_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load16(p + 2))),
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load16(p + 18)))};
  }
  static Block32 decode(const uint8_t* p) { return times(unscaled(p), scale(p)); }
  static float value(const uint8_t*, int64_t) { return 0.0f; }  // whole blocks only
};

// The 4-bit types: element j in the low nibble of byte j, element j + 16 in the high
// one. The codes are split and offset as bytes in 128-bit vectors (cheap) before
// widening: on 512-bit vectors every operation costs twice as much.
struct Nibbles {
  __m128i lo, hi;  // codes of elements 0..15 and 16..31, one per byte
};
inline Nibbles split_nibbles(const uint8_t* p) {
  const __m128i bytes = load16(p), mask = _mm_set1_epi8(0x0f);
  return {_mm_and_si128(bytes, mask), _mm_and_si128(_mm_srli_epi16(bytes, 4), mask)};
}
inline __m512 signed_bytes_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }
inline __m512 unsigned_bytes_to_ps(__m128i v) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
}
// The 5-bit types: bit j of the u32 qh is the fifth bit of element j.
inline Nibbles with_fifth_bits(Nibbles q, uint32_t qh) {
  const __m128i sixteen = _mm_set1_epi8(16);
  return {_mm_mask_add_epi8(q.lo, static_cast<__mmask16>(qh & 0xffff), q.lo, sixteen),
          _mm_mask_add_epi8(q.hi, static_cast<__mmask16>(qh >> 16), q.hi, sixteen)};
}

// Q4_0: f16 d, 16 bytes of nibbles; value = (q - 8) * d.
struct Q4_0Rows {
  static constexpr bool kScaled = true;
  static constexpr size_t kBytes = 18;
  static float scale(const uint8_t* p) { return load_half(p); }
  static Block32 unscaled(const uint8_t* p) {
    const Nibbles q = split_nibbles(p + 2);
    const __m128i eight = _mm_set1_epi8(8);
    return {signed_bytes_to_ps(_mm_sub_epi8(q.lo, eight)),
            signed_bytes_to_ps(_mm_sub_epi8(q.hi, eight))};
  }
  static Block32 decode(const uint8_t* p) { return times(unscaled(p), scale(p)); }
  static float value(const uint8_t*, int64_t) { return 0.0f; }
};

// Q4_1: f16 d, f16 m, 16 bytes of nibbles; value = q * d + m.
struct Q4_1Rows {
  static constexpr bool kScaled = false;
  static constexpr size_t kBytes = 20;
  static Block32 decode(const uint8_t* p) {
    const __m512 d = _mm512_set1_ps(load_half(p)), m = _mm512_set1_ps(load_half(p + 2));
    const Nibbles q = split_nibbles(p + 4);
    return {_mm512_fmadd_ps(unsigned_bytes_to_ps(q.lo), d, m),
            _mm512_fmadd_ps(unsigned_bytes_to_ps(q.hi), d, m)};
  }
  static float value(const uint8_t*, int64_t) { return 0.0f; }
};

// Q5_0: f16 d, u32 qh, 16 bytes of low nibbles; value = (q - 16) * d.
struct Q5_0Rows {
  static constexpr bool kScaled = true;
  static constexpr size_t kBytes = 22;
  static float scale(const uint8_t* p) { return load_half(p); }
  static Block32 unscaled(const uint8_t* p) {
    uint32_t qh;
    std::memcpy(&qh, p + 2, 4);
    const Nibbles q = with_fifth_bits(split_nibbles(p + 6), qh);
    const __m128i sixteen = _mm_set1_epi8(16);
    return {signed_bytes_to_ps(_mm_sub_epi8(q.lo, sixteen)),
            signed_bytes_to_ps(_mm_sub_epi8(q.hi, sixteen))};
  }
  static Block32 decode(const uint8_t* p) { return times(unscaled(p), scale(p)); }
  static float value(const uint8_t*, int64_t) { return 0.0f; }
};

// Q5_1: f16 d, f16 m, u32 qh, 16 bytes of low nibbles; value = q * d + m.
struct Q5_1Rows {
  static constexpr bool kScaled = false;
  static constexpr size_t kBytes = 24;
  static Block32 decode(const uint8_t* p) {
    const __m512 d = _mm512_set1_ps(load_half(p)), m = _mm512_set1_ps(load_half(p + 2));
    uint32_t qh;
    std::memcpy(&qh, p + 4, 4);
    const Nibbles q = with_fifth_bits(split_nibbles(p + 8), qh);
    return {_mm512_fmadd_ps(unsigned_bytes_to_ps(q.lo), d, m),
            _mm512_fmadd_ps(unsigned_bytes_to_ps(q.hi), d, m)};
  }
  static float value(const uint8_t*, int64_t) { return 0.0f; }
};

// sum over `blocks` blocks from p of block * x_i, for M rows of x (stride k) as
// vectors. One or two rows of x: two blocks per step keep enough independent FMA
// chains; more rows have enough of their own.
template <class Rows, int M>
inline void accumulate_blocks(const uint8_t* p, int64_t blocks, const float* x, int64_t k,
                              __m512 total[M]) {
  constexpr int U = M <= 2 ? 2 : 1;
  constexpr size_t B = Rows::kBytes;
  __m512 acc[U][M][2];
#pragma GCC unroll 16
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) acc[u][i][0] = acc[u][i][1] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + U <= blocks; b += U, p += U * B) {
#pragma GCC unroll 2
    for (int u = 0; u < U; ++u) {
      if constexpr (M == 1 && Rows::kScaled) {
        const Block32 q = Rows::unscaled(p + u * B);
        const float* xb = x + (b + u) * 32;
        const __m512 qx = _mm512_fmadd_ps(q.hi, _mm512_loadu_ps(xb + 16),
                                          _mm512_mul_ps(q.lo, _mm512_loadu_ps(xb)));
        acc[u][0][0] = _mm512_fmadd_ps(_mm512_set1_ps(Rows::scale(p + u * B)), qx, acc[u][0][0]);
        continue;
      }
      const Block32 v = Rows::decode(p + u * B);
      const float* xb = x + (b + u) * 32;
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        acc[u][i][0] = _mm512_fmadd_ps(v.lo, _mm512_loadu_ps(xb + i * k), acc[u][i][0]);
        acc[u][i][1] = _mm512_fmadd_ps(v.hi, _mm512_loadu_ps(xb + i * k + 16), acc[u][i][1]);
      }
    }
  }
  if (b < blocks) {
    const Block32 v = Rows::decode(p);
    const float* xb = x + b * 32;
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      acc[0][i][0] = _mm512_fmadd_ps(v.lo, _mm512_loadu_ps(xb + i * k), acc[0][i][0]);
      acc[0][i][1] = _mm512_fmadd_ps(v.hi, _mm512_loadu_ps(xb + i * k + 16), acc[0][i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    total[i] = _mm512_add_ps(acc[0][i][0], acc[0][i][1]);
    if constexpr (U == 2)
      total[i] = _mm512_add_ps(total[i], _mm512_add_ps(acc[1][i][0], acc[1][i][1]));
  }
}

// M rows of x against n stored rows, every decoded block feeding all M rows. K is
// cut into chunks whose slice of x (M x chunk floats, 16 KiB) stays in L1 while a
// group of kGroup weight rows passes over it; otherwise every weight row would
// re-read all of x from L2, which limits more than the weight stream from memory.
// The weights are read in order, which the hardware prefetcher follows (software
// prefetching measured slower, notably for f16).
template <class Rows, int M>
void dot_rows(const uint8_t* w, size_t row_bytes, int64_t n, const float* x, int64_t k, float* out,
              int64_t ldo) {
  constexpr int64_t kGroup = 8;
  constexpr int64_t kChunkBlocks = (4096 / M) / 32;
  const int64_t blocks = k / 32;
  alignas(64) float partial[kGroup][M][16];
  for (int64_t j0 = 0; j0 < n; j0 += kGroup) {
    const int64_t rows = std::min(kGroup, n - j0);
    const uint8_t* group = w + j0 * row_bytes;
    for (int64_t c0 = 0; c0 < blocks || c0 == 0; c0 += kChunkBlocks) {
      const int64_t count = std::min(kChunkBlocks, blocks - c0);
      for (int64_t r = 0; r < rows; ++r) {
        __m512 total[M];
        accumulate_blocks<Rows, M>(group + r * row_bytes + c0 * Rows::kBytes, count, x + c0 * 32, k,
                                   total);
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) {
          if (c0 > 0) total[i] = _mm512_add_ps(total[i], _mm512_load_ps(partial[r][i]));
          _mm512_store_ps(partial[r][i], total[i]);
        }
      }
      if (blocks == 0) break;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* row = group + r * row_bytes;
      for (int i = 0; i < M; ++i) {
        float s = Simd::sum(_mm512_load_ps(partial[r][i]));
        for (int64_t t = blocks * 32; t < k; ++t) s += Rows::value(row, t) * x[i * k + t];
        out[i * ldo + j0 + r] = s;
      }
    }
  }
}

template <class Rows>
void dot_rows_for(int64_t m, const uint8_t* w, size_t row_bytes, int64_t n, const float* x,
                  int64_t k, float* out, int64_t ldo) {
  switch (m) {
    case 1:
      return dot_rows<Rows, 1>(w, row_bytes, n, x, k, out, ldo);
    case 2:
      return dot_rows<Rows, 2>(w, row_bytes, n, x, k, out, ldo);
    case 3:
      return dot_rows<Rows, 3>(w, row_bytes, n, x, k, out, ldo);
    case 4:
      return dot_rows<Rows, 4>(w, row_bytes, n, x, k, out, ldo);
    case 5:
      return dot_rows<Rows, 5>(w, row_bytes, n, x, k, out, ldo);
    case 6:
      return dot_rows<Rows, 6>(w, row_bytes, n, x, k, out, ldo);
    case 7:
      return dot_rows<Rows, 7>(w, row_bytes, n, x, k, out, ldo);
    default:
      return dot_rows<Rows, 8>(w, row_bytes, n, x, k, out, ldo);
  }
}

#if defined(MMGEN_ROW_DOT_VNNI)

// One Q8_0 weight block (f16 d, 32 int8 at p) against 32 quantised activations:
// the 8 int32 partial sums of q_w * q_x. vpdpbusd multiplies unsigned by signed
// bytes, so |q_w| meets q_x with q_w's sign (|-128| = 128 still fits a byte).
inline __m256i block_dot_i8(const uint8_t* p, const int8_t* xq) {
  const __m256i w = load32(p + 2);
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
}

inline float hsum256(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// The scaled products of one Q8_0 weight block with the quantised activations.
inline __m256 block_term(const uint8_t* p, const int8_t* xq, float xd, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot_i8(p, xq)), _mm256_set1_ps(load_half(p) * xd),
                         acc);
}

// One weight row at a time, read in order as one stream (two rows read side by side
// streamed from memory a third slower: every pair starts a fresh stream that the
// hardware prefetcher must first detect); four blocks per step in four independent
// accumulators hide the latency of vpdpbusd and the FMA.
void q8_0_int8_dot_rows(const uint8_t* w, size_t row_bytes, int64_t n, const int8_t* xq,
                        const float* xd, int64_t blocks, float* out) {
  constexpr size_t B = Q8_0Rows::kBytes;
  for (int64_t j = 0; j < n; ++j, w += row_bytes) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t b = 0;
    for (; b + 4 <= blocks; b += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u)
        acc[u] = block_term(w + (b + u) * B, xq + (b + u) * 32, xd[b + u], acc[u]);
    }
    for (; b < blocks; ++b) acc[0] = block_term(w + b * B, xq + b * 32, xd[b], acc[0]);
    out[j] = hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  }
}

#endif

#endif

}  // namespace

bool has_fused_dot(DType type) {
#if defined(MMGEN_ROW_DOT_AVX512)
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      return true;
    default:
      return false;
  }
#else
  return type == DType::kF32;
#endif
}

void fused_dot_rows(DType type, const void* w, size_t row_bytes, int64_t n, const float* x,
                    int64_t m, int64_t k, float* out, int64_t ldo) {
  if (n <= 0 || m <= 0) return;
  const auto* bytes = static_cast<const uint8_t*>(w);
  // Larger m: in groups of kMaxFusedRows rows of x.
  for (int64_t i0 = kMaxFusedRows; i0 < m; i0 += kMaxFusedRows)
    fused_dot_rows(type, w, row_bytes, n, x + i0 * k, std::min(kMaxFusedRows, m - i0), k,
                   out + i0 * ldo, ldo);
  m = std::min(m, kMaxFusedRows);
#if defined(MMGEN_ROW_DOT_AVX512)
  switch (type) {
    case DType::kF32:
      return dot_rows_for<F32Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kF16:
      return dot_rows_for<F16Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kBF16:
      return dot_rows_for<BF16Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kQ8_0:
      return dot_rows_for<Q8_0Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kQ4_0:
      return dot_rows_for<Q4_0Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kQ4_1:
      return dot_rows_for<Q4_1Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kQ5_0:
      return dot_rows_for<Q5_0Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    case DType::kQ5_1:
      return dot_rows_for<Q5_1Rows>(m, bytes, row_bytes, n, x, k, out, ldo);
    default:
      break;
  }
#endif
  dot_rows_converted(type, bytes, row_bytes, n, x, m, k, out, ldo);
}

float fused_dot(DType type, const void* row, const float* x, int64_t k) {
  float s = 0.0f;
  fused_dot_rows(type, row, bytes_for(type, k), 1, x, 1, k, &s, 1);
  return s;
}

bool has_int8_activation_dot(DType type) {
#if defined(MMGEN_ROW_DOT_VNNI)
  // Opt-in: on the Zen 4 machine of benchmarks/README.md it decodes no faster than the
  // f32 path (a 4096x4096 product streams 51-53 GB/s against 45-47, idle), and it
  // rounds the activations.
  static const bool enabled = [] {
    const char* env = std::getenv("MMGEN_Q8_INT8_DOT");
    return env != nullptr && std::string_view(env) == "1";
  }();
  return enabled && type == DType::kQ8_0;
#else
  (void)type;
  return false;
#endif
}

size_t int8_activation_bytes(int64_t k) {
  return static_cast<size_t>(k) + static_cast<size_t>(k / 32) * sizeof(float);
}

// Blocks of 32: d = max|x| / 127, q = round(x / d) (0 for an all-zero block). The
// int8 values come first, then the k / 32 scales.
void quantize_activation_row(const float* x, int64_t k, void* out) {
  auto* q = static_cast<int8_t*>(out);
  float* d = reinterpret_cast<float*>(q + k);
  int64_t b = 0;
#if defined(MMGEN_ROW_DOT_VNNI)
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (; b < k / 32; ++b) {
    const __m512 lo = _mm512_loadu_ps(x + b * 32), hi = _mm512_loadu_ps(x + b * 32 + 16);
    const float amax =
        _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, lo), _mm512_andnot_ps(sign, hi)));
    const float inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
    d[b] = amax / 127.0f;
    const __m512 s = _mm512_set1_ps(inverse);
    // |x| * 127 / amax <= 127: no clamping needed; cvtps rounds to nearest even, as lrintf.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32),
                     _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(lo, s))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16),
                     _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(hi, s))));
  }
#endif
  for (; b < k / 32; ++b) {
    const float* xb = x + b * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float scale = amax / 127.0f, inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
    d[b] = scale;
    for (int i = 0; i < 32; ++i)
      q[b * 32 + i] =
          static_cast<int8_t>(std::lrintf(std::clamp(xb[i] * inverse, -127.0f, 127.0f)));
  }
}

void int8_dot_rows(DType type, const void* w, size_t row_bytes, int64_t n, const void* xq,
                   int64_t k, float* out) {
#if defined(MMGEN_ROW_DOT_VNNI)
  if (type == DType::kQ8_0) {
    const auto* q = static_cast<const int8_t*>(xq);
    q8_0_int8_dot_rows(static_cast<const uint8_t*>(w), row_bytes, n, q,
                       reinterpret_cast<const float*>(q + k), k / 32, out);
    return;
  }
#endif
  (void)type, (void)w, (void)row_bytes, (void)n, (void)xq, (void)k, (void)out;
  throw std::logic_error("int8_dot_rows: no integer dot product for this weight type");
}

}  // namespace mmgen::kernels::cpu
