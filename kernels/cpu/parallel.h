// Work distribution helpers over the shared thread pool (core/thread_pool.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

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

// parallel_chunks for streaming loops: each worker owns a contiguous share of the
// chunks and walks it in order (one sequential stream, which the hardware prefetcher
// follows across chunk boundaries), then takes the chunks its slower peers have not
// reached yet, so a busy core still does not hold the others up at the end. With one
// worker, body runs once over [0, n).
template <typename Fn>
void parallel_streams(int64_t n, int64_t grain, Fn&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  const int64_t workers = std::min<int64_t>(chunks, num_threads());
  if (workers <= 1) {
    body(int64_t{0}, n);
    return;
  }
  // Share w is chunks [first(w), first(w + 1)); next[w] is its next unclaimed chunk.
  struct alignas(64) Cursor {
    std::atomic<int64_t> next;
  };
  std::vector<Cursor> next(static_cast<size_t>(workers));
  auto first = [&](int64_t w) { return w * chunks / workers; };
  for (int64_t w = 0; w < workers; ++w) next[w].next.store(first(w), std::memory_order_relaxed);
  auto run_share = [&](int64_t w) {
    const int64_t end = first(w + 1);
    for (int64_t c = next[w].next.fetch_add(1); c < end; c = next[w].next.fetch_add(1))
      body(c * grain, std::min(n, (c + 1) * grain));
  };
  parallel_for(workers, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      run_share(w);
      for (int64_t other = 1; other < workers; ++other) run_share((w + other) % workers);
    }
  });
}

}  // namespace mmgen::kernels::cpu
