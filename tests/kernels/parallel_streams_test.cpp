// parallel_streams (kernels/cpu/parallel.h): the decode products' work split.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/parallel.h"

namespace mmgen {
namespace {

struct ThreadCountGuard {
  ~ThreadCountGuard() { set_num_threads(static_cast<int>(std::thread::hardware_concurrency())); }
};

// How often each item of [0, n) was visited, and whether every chunk was one of the
// grain-aligned chunks (the last one shorter).
std::vector<int> stream_counts(int64_t n, int64_t grain, bool& aligned) {
  std::vector<std::atomic<int>> counts(static_cast<size_t>(n));
  std::atomic<int> bad{0};
  kernels::cpu::parallel_streams(n, grain, [&](int64_t begin, int64_t end) {
    const int64_t g = grain < 1 ? 1 : grain;
    if (begin % g != 0 || begin >= end || (end - begin != g && end != n)) ++bad;
    for (int64_t i = begin; i < end; ++i) counts[i].fetch_add(1);
  });
  aligned = bad.load() == 0;
  std::vector<int> out(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) out[i] = counts[i].load();
  return out;
}

TEST_CASE("parallel_streams visits every item exactly once in grain-sized chunks",
          "[kernels][parallel]") {
  ThreadCountGuard guard;
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (int64_t n : {1, 7, 16, 100, 1000, 4099}) {
      for (int64_t grain : {0, 1, 3, 16, 64, 5000}) {
        bool aligned = false;
        const std::vector<int> counts = stream_counts(n, grain, aligned);
        INFO("threads " << threads << ", n " << n << ", grain " << grain);
        CHECK(aligned);
        CHECK(std::count(counts.begin(), counts.end(), 1) == n);
      }
    }
  }
}

TEST_CASE("parallel_streams gives a worker its share's chunks in order", "[kernels][parallel]") {
  ThreadCountGuard guard;
  set_num_threads(2);
  // Which thread ran which chunk, in the order each thread ran them: within one share
  // (two shares of 20 chunks) a thread's chunks ascend, its own share's and stolen ones.
  const int64_t n = 64 * 40, grain = 64;
  std::mutex mutex;
  std::vector<std::pair<std::thread::id, int64_t>> runs;
  kernels::cpu::parallel_streams(n, grain, [&](int64_t begin, int64_t) {
    const std::lock_guard<std::mutex> lock(mutex);
    runs.emplace_back(std::this_thread::get_id(), begin);
  });
  REQUIRE(runs.size() == 40);
  std::map<std::pair<std::thread::id, bool>, int64_t> last;
  int out_of_order = 0;
  for (const auto& [thread, begin] : runs) {
    const auto key = std::make_pair(thread, begin >= n / 2);
    const auto it = last.find(key);
    if (it != last.end() && it->second > begin) ++out_of_order;
    last[key] = begin;
  }
  CHECK(out_of_order == 0);
}

TEST_CASE("parallel_streams runs serially inside another parallel loop", "[kernels][parallel]") {
  ThreadCountGuard guard;
  set_num_threads(2);
  std::vector<std::atomic<int>> counts(4 * 50);
  parallel_for(4, [&](int64_t begin, int64_t end) {
    for (int64_t outer = begin; outer < end; ++outer)
      kernels::cpu::parallel_streams(50, 4, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) counts[outer * 50 + i].fetch_add(1);
      });
  });
  for (auto& c : counts) CHECK(c.load() == 1);
}

}  // namespace
}  // namespace mmgen
