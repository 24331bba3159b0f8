// Measurements shared by the benchmarks: wall-clock timing and the machine's
// memory bandwidth, the bound of every memory-bound line.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "core/thread_pool.h"

namespace mmgen::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// STREAM-style triad a = b + s c over arrays far larger than the caches, on the
// thread pool; counts the bytes read and written (12 per element; the
// write-allocate read of a is not counted, as in STREAM). Best of several runs.
inline double measure_triad_bandwidth_gbs(bool quick) {
  const int64_t n = quick ? (int64_t{8} << 20) : (int64_t{64} << 20);  // floats per array
  std::vector<float> a(n), b(n), c(n);
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) a[i] = 0, b[i] = 1.0f, c[i] = 2.0f;
      },
      1 << 16);
  double best = 1e300;
  for (int run = 0; run < (quick ? 3 : 8); ++run) {
    const auto start = Clock::now();
    parallel_for(
        n,
        [&](int64_t begin, int64_t end) {
          float* __restrict pa = a.data();
          const float* __restrict pb = b.data();
          const float* __restrict pc = c.data();
          for (int64_t i = begin; i < end; ++i) pa[i] = pb[i] + 0.5f * pc[i];
        },
        1 << 16);
    best = std::min(best, seconds_since(start));
  }
  if (a[n / 2] != 2.0f) std::printf(" ");  // keeps the stores alive
  return 12.0 * static_cast<double>(n) / best / 1e9;
}

}  // namespace mmgen::bench
