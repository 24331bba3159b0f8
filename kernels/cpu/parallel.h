// Work distribution helpers over the shared thread pool (core/thread_pool.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "core/thread_pool.h"

namespace mmgen::kernels::cpu {

// Runs task(i) for every i in [0, n): each pool thread takes the next index from a
// shared counter, so uneven tasks and busy cores still balance. Runs serially
// when called from inside another parallel loop.
template <typename Fn>
void parallel_tasks(int64_t n, Fn&& task) {
  if (n <= 0) return;
  if (n == 1) {
    task(int64_t{0});
    return;
  }
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(n, num_threads());
  parallel_for(workers, [&](int64_t, int64_t) {
    for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) task(i);
  });
}

// parallel_for over [0, n) in chunks of about `grain` items.
template <typename Fn>
void parallel_chunks(int64_t n, int64_t grain, Fn&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  parallel_tasks(chunks, [&](int64_t c) {
    const int64_t begin = c * grain;
    body(begin, std::min(n, begin + grain));
  });
}

}  // namespace mmgen::kernels::cpu
