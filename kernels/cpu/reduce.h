// Row reductions shared by the normalisation kernels: float vector partial sums
// over short runs, accumulated in double so long rows keep their accuracy.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/simd.h"

namespace mmgen::kernels::cpu {

constexpr int64_t kReduceRun = 256;

// sum_i x[i]
inline double sum_f64(const float* x, int64_t n) {
  double total = 0;
  for (int64_t start = 0; start < n; start += kReduceRun) {
    const int64_t end = std::min(n, start + kReduceRun);
    constexpr int w = Simd::kWidth;
    Simd::V s = Simd::zero();
    const Simd::V one = Simd::set1(1.0f);
    int64_t i = start;
    for (; i + w <= end; i += w) s = Simd::fmadd(Simd::load(x + i), one, s);
    float run = Simd::sum(s);
    for (; i < end; ++i) run += x[i];
    total += run;
  }
  return total;
}

// sum_i (x[i] - center) and sum_i (x[i] - center)^2. With center near the mean the
// deviations are small, so float runs keep the digits that matter.
struct DeviationSums {
  double sum = 0, sum_sq = 0;
};

inline DeviationSums deviation_sums(const float* x, int64_t n, float center) {
  DeviationSums total;
  constexpr int w = Simd::kWidth;
  const Simd::V c = Simd::set1(-center);
  const Simd::V one = Simd::set1(1.0f);
  for (int64_t start = 0; start < n; start += kReduceRun) {
    const int64_t end = std::min(n, start + kReduceRun);
    Simd::V s = Simd::zero(), s2 = Simd::zero();
    int64_t i = start;
    for (; i + w <= end; i += w) {
      const Simd::V d = Simd::fmadd(Simd::load(x + i), one, c);
      s = Simd::add(s, d);
      s2 = Simd::fmadd(d, d, s2);
    }
    float run = Simd::sum(s), run_sq = Simd::sum(s2);
    for (; i < end; ++i) {
      const float d = x[i] - center;
      run += d;
      run_sq += d * d;
    }
    total.sum += run;
    total.sum_sq += run_sq;
  }
  return total;
}

}  // namespace mmgen::kernels::cpu
