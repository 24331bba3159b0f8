// A minimal vector abstraction for the CPU kernels: AVX-512 or AVX2+FMA when the
// compiler targets them, plain loops otherwise.
#pragma once

#include <cstdint>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {

#if defined(__AVX512F__)
struct Simd {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  // v where v >= t, else 0.
  static V zero_below(V v, float t) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(t), _CMP_GE_OQ), v);
  }
  static float sum(V v) {
    // Through memory: GCC 12 warns falsely inside _mm512_reduce_add_ps.
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    float s[8];
    for (int i = 0; i < 8; ++i) s[i] = lanes[i] + lanes[i + 8];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
  }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct Simd {
  using V = __m256;
  static constexpr int kWidth = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V zero_below(V v, float t) {
    return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_set1_ps(t), _CMP_GE_OQ));
  }
  static float sum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#else
struct Simd {
  struct V {
    float x[4];
  };
  static constexpr int kWidth = 4;
  static V zero() { return {{0, 0, 0, 0}}; }
  static V load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
  static void store(float* p, V v) {
    for (int i = 0; i < 4; ++i) p[i] = v.x[i];
  }
  static V set1(float x) { return {{x, x, x, x}}; }
  static V fmadd(V a, V b, V c) {
    for (int i = 0; i < 4; ++i) c.x[i] += a.x[i] * b.x[i];
    return c;
  }
  static V add(V a, V b) {
    for (int i = 0; i < 4; ++i) a.x[i] += b.x[i];
    return a;
  }
  static V sub(V a, V b) {
    for (int i = 0; i < 4; ++i) a.x[i] -= b.x[i];
    return a;
  }
  static V mul(V a, V b) {
    for (int i = 0; i < 4; ++i) a.x[i] *= b.x[i];
    return a;
  }
  static V min(V a, V b) {
    for (int i = 0; i < 4; ++i) a.x[i] = a.x[i] < b.x[i] ? a.x[i] : b.x[i];
    return a;
  }
  static V max(V a, V b) {
    for (int i = 0; i < 4; ++i) a.x[i] = a.x[i] > b.x[i] ? a.x[i] : b.x[i];
    return a;
  }
  static V zero_below(V v, float t) {
    for (int i = 0; i < 4; ++i) v.x[i] = v.x[i] >= t ? v.x[i] : 0.0f;
    return v;
  }
  static float sum(V v) { return (v.x[0] + v.x[1]) + (v.x[2] + v.x[3]); }
};
#endif

// leaky_relu as the elementwise op computes it, max(v, 0) + slope * min(v, 0), so that
// kernels folding it in round as that op does.
inline float leaky_value(float v, float slope) {
  return (v > 0.0f ? v : 0.0f) + slope * (v < 0.0f ? v : 0.0f);
}
inline Simd::V leaky_value(Simd::V v, Simd::V slope) {
  const Simd::V zero = Simd::zero();
  return Simd::add(Simd::max(v, zero), Simd::mul(slope, Simd::min(v, zero)));
}

// sum_i x[i] * y[i] with four independent vector accumulators.
inline float dot_f32(const float* x, const float* y, int64_t n) {
  constexpr int w = Simd::kWidth;
  Simd::V s0 = Simd::zero(), s1 = Simd::zero(), s2 = Simd::zero(), s3 = Simd::zero();
  int64_t i = 0;
  for (; i + 4 * w <= n; i += 4 * w) {
    s0 = Simd::fmadd(Simd::load(x + i), Simd::load(y + i), s0);
    s1 = Simd::fmadd(Simd::load(x + i + w), Simd::load(y + i + w), s1);
    s2 = Simd::fmadd(Simd::load(x + i + 2 * w), Simd::load(y + i + 2 * w), s2);
    s3 = Simd::fmadd(Simd::load(x + i + 3 * w), Simd::load(y + i + 3 * w), s3);
  }
  for (; i + w <= n; i += w) s0 = Simd::fmadd(Simd::load(x + i), Simd::load(y + i), s0);
  float total = Simd::sum(Simd::add(Simd::add(s0, s1), Simd::add(s2, s3)));
  for (; i < n; ++i) total += x[i] * y[i];
  return total;
}

// out[r * C + q] = sum_i a[r][i] * b[q][i] for R rows of a and C rows of b, all n long.
template <int R, int C>
inline void dot_block(const float* const* a, const float* const* b, int64_t n, float* out) {
  constexpr int w = Simd::kWidth;
  Simd::V acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) acc[r][q] = Simd::zero();
  int64_t i = 0;
  for (; i + w <= n; i += w) {
    Simd::V bv[C];
#pragma GCC unroll 8
    for (int q = 0; q < C; ++q) bv[q] = Simd::load(b[q] + i);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Simd::V av = Simd::load(a[r] + i);
#pragma GCC unroll 8
      for (int q = 0; q < C; ++q) acc[r][q] = Simd::fmadd(av, bv[q], acc[r][q]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < C; ++q) {
      float s = Simd::sum(acc[r][q]);
      for (int64_t t = i; t < n; ++t) s += a[r][t] * b[q][t];
      out[r * C + q] = s;
    }
}

// max_i x[i] (n >= 1; NaN handling unspecified).
inline float max_f32(const float* x, int64_t n) {
  constexpr int w = Simd::kWidth;
  float best = x[0];
  int64_t i = 0;
  if (n >= w) {
    Simd::V m = Simd::load(x);
    for (i = w; i + w <= n; i += w) m = Simd::max(m, Simd::load(x + i));
    alignas(64) float lanes[w];
    Simd::store(lanes, m);
    for (int l = 0; l < w; ++l) best = lanes[l] > best ? lanes[l] : best;
  }
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

// x[i] = 0 where x[i] < t (NaN too).
inline void zero_below(float* x, int64_t n, float t) {
  constexpr int w = Simd::kWidth;
  int64_t i = 0;
  for (; i + w <= n; i += w) Simd::store(x + i, Simd::zero_below(Simd::load(x + i), t));
  for (; i < n; ++i) x[i] = x[i] >= t ? x[i] : 0.0f;
}

// y[i] += alpha * x[i]
inline void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  constexpr int w = Simd::kWidth;
  const Simd::V a = Simd::set1(alpha);
  int64_t i = 0;
  for (; i + w <= n; i += w)
    Simd::store(y + i, Simd::fmadd(a, Simd::load(x + i), Simd::load(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// out[i] = sum_j weights[j] * rows[j * stride + i] for i < n: one attention query's
// output from its softmax weights and the value rows. The sums stay in registers over
// all rows (an axpy per row would store and reload them every row), two rows per step
// in separate accumulators to overlap the FMA latency.
inline void weighted_rows_f32(const float* weights, const float* rows, int64_t stride,
                              int64_t count, int64_t n, float* out) {
  constexpr int w = Simd::kWidth;
  int64_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    Simd::V a0 = Simd::zero(), a1 = Simd::zero(), b0 = Simd::zero(), b1 = Simd::zero();
    int64_t j = 0;
    for (; j + 2 <= count; j += 2) {
      const float* r = rows + j * stride + i;
      const Simd::V p = Simd::set1(weights[j]), q = Simd::set1(weights[j + 1]);
      a0 = Simd::fmadd(p, Simd::load(r), a0);
      a1 = Simd::fmadd(p, Simd::load(r + w), a1);
      b0 = Simd::fmadd(q, Simd::load(r + stride), b0);
      b1 = Simd::fmadd(q, Simd::load(r + stride + w), b1);
    }
    if (j < count) {
      const float* r = rows + j * stride + i;
      const Simd::V p = Simd::set1(weights[j]);
      a0 = Simd::fmadd(p, Simd::load(r), a0);
      a1 = Simd::fmadd(p, Simd::load(r + w), a1);
    }
    Simd::store(out + i, Simd::add(a0, b0));
    Simd::store(out + i + w, Simd::add(a1, b1));
  }
  for (; i < n; ++i) {
    float sum = 0.0f;
    for (int64_t j = 0; j < count; ++j) sum += weights[j] * rows[j * stride + i];
    out[i] = sum;
  }
}

}  // namespace mmgen::kernels::cpu
