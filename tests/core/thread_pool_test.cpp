// The shared thread pool behind parallel_for (core/thread_pool.h).
#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/error.h"

namespace mmgen {
namespace {

// Restores the default thread count when a test changes it.
struct ThreadCountGuard {
  ~ThreadCountGuard() { set_num_threads(static_cast<int>(std::thread::hardware_concurrency())); }
};

// Runs parallel_for and counts how often each index was visited (assertions
// stay on the test's thread: the bodies only count).
std::vector<int> visit_counts(int64_t n, int64_t min_chunk) {
  std::vector<std::atomic<int>> counts(static_cast<size_t>(n));
  std::atomic<int> bad_chunks{0};
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        // Every chunk is non-empty and at least min_chunk long, except the last.
        if (begin >= end || (end - begin < min_chunk && end != n)) ++bad_chunks;
        for (int64_t i = begin; i < end; ++i) counts[i].fetch_add(1);
      },
      min_chunk);
  CHECK(bad_chunks.load() == 0);
  std::vector<int> out(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) out[i] = counts[i].load();
  return out;
}

}  // namespace

TEST_CASE("parallel_for visits every index exactly once", "[thread_pool]") {
  ThreadCountGuard restore;
  for (int threads : {1, 2, 4, 7}) {
    set_num_threads(threads);
    CHECK(num_threads() == threads);
    for (int64_t n : {1, 2, 3, 17, 1000, 100'003}) {
      for (int64_t min_chunk : {1, 4, 64, 200'000}) {
        const auto counts = visit_counts(n, min_chunk);
        int64_t wrong = 0;
        for (int c : counts) wrong += c != 1;
        INFO("threads " << threads << ", n " << n << ", min_chunk " << min_chunk);
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("parallel_for with nothing to do never calls the body", "[thread_pool]") {
  int calls = 0;
  parallel_for(0, [&](int64_t, int64_t) { ++calls; });
  parallel_for(-5, [&](int64_t, int64_t) { ++calls; });
  CHECK(calls == 0);
}

TEST_CASE("parallel_for uses several threads when it has them", "[thread_pool]") {
  ThreadCountGuard restore;
  set_num_threads(4);
  std::mutex mutex;
  std::set<std::thread::id> seen;
  std::atomic<int> running{0};
  std::atomic<int> most_at_once{0};
  parallel_for(
      64,
      [&](int64_t, int64_t) {
        const int now = ++running;
        int previous = most_at_once.load();
        while (now > previous && !most_at_once.compare_exchange_weak(previous, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        {
          std::lock_guard lock(mutex);
          seen.insert(std::this_thread::get_id());
        }
        --running;
      },
      1);
  CHECK(seen.size() > 1);
  CHECK(seen.size() <= 4);
  CHECK(most_at_once.load() > 1);
}

TEST_CASE("an exception in a body is rethrown by parallel_for", "[thread_pool]") {
  ThreadCountGuard restore;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    CHECK_THROWS_WITH(parallel_for(
                          1000,
                          [](int64_t begin, int64_t end) {
                            for (int64_t i = begin; i < end; ++i)
                              if (i == 537) fail("bad element ", i);
                          },
                          10),
                      "bad element 537");
    CHECK_THROWS_AS(parallel_for(
                        100, [](int64_t, int64_t) { throw std::out_of_range("other type"); }, 1),
                    std::out_of_range);
    // The pool still works after an error.
    const auto counts = visit_counts(5000, 16);
    int64_t wrong = 0;
    for (int c : counts) wrong += c != 1;
    CHECK(wrong == 0);
  }
}

TEST_CASE("nested parallel_for runs the inner loop completely", "[thread_pool]") {
  ThreadCountGuard restore;
  set_num_threads(3);
  const int64_t outer = 40, inner = 50;
  std::vector<std::atomic<int>> counts(outer * inner);
  parallel_for(
      outer,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          parallel_for(
              inner,
              [&](int64_t b, int64_t e) {
                for (int64_t j = b; j < e; ++j) counts[i * inner + j].fetch_add(1);
              },
              1);
      },
      1);
  int64_t wrong = 0;
  for (auto& c : counts) wrong += c.load() != 1;
  CHECK(wrong == 0);
}

TEST_CASE("set_num_threads resizes the pool", "[thread_pool]") {
  ThreadCountGuard restore;
  set_num_threads(2);
  CHECK(num_threads() == 2);
  set_num_threads(5);
  CHECK(num_threads() == 5);
  set_num_threads(0);  // fewer than one means one
  CHECK(num_threads() == 1);
  set_num_threads(-3);
  CHECK(num_threads() == 1);
  // One thread: the body runs on the caller, in one piece.
  std::vector<std::thread::id> ids;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  parallel_for(
      100,
      [&](int64_t begin, int64_t end) {
        ids.push_back(std::this_thread::get_id());
        chunks.emplace_back(begin, end);
      },
      1);
  REQUIRE(ids.size() == 1);
  CHECK(ids[0] == std::this_thread::get_id());
  CHECK(chunks[0] == std::pair<int64_t, int64_t>(0, 100));
}

}  // namespace mmgen
