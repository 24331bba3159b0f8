#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mmgen {
namespace {

// Workers wait for a job (a chunked range); the caller works on it too, so a
// pool of n threads has n - 1 workers.
// About 50 microseconds of pause instructions.
constexpr int kSpinIterations = 20000;

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      published_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& body) {
    std::lock_guard run_lock(run_mutex_);  // one parallel loop at a time
    Job job;
    job.body = &body;
    job.n = n;
    job.chunk = chunk;
    {
      std::lock_guard lock(mutex_);
      job_ = &job;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    wake_.notify_all();
    work_on(job);
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return job.active_workers == 0; });
    job_ = nullptr;
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    int64_t n = 0;
    int64_t chunk = 1;
    std::atomic<int64_t> next{0};
    int active_workers = 0;  // guarded by mutex_
    std::exception_ptr error;
    std::mutex error_mutex;
  };

  static void work_on(Job& job) {
    for (;;) {
      const int64_t begin = job.next.fetch_add(job.chunk);
      if (begin >= job.n) return;
      try {
        (*job.body)(begin, std::min(job.n, begin + job.chunk));
      } catch (...) {
        std::lock_guard lock(job.error_mutex);
        if (!job.error) job.error = std::current_exception();
        job.next.store(job.n);  // stop handing out work
      }
    }
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      // A decode step runs ~100 loops of a few tens of microseconds each, about what
      // waking a sleeping thread costs: spin briefly before blocking.
      for (int i = 0; i < kSpinIterations && published_.load(std::memory_order_acquire) == seen;
           ++i)
        spin_pause();
      Job* job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || (job_ && generation_ != seen); });
        if (stopping_) return;
        seen = generation_;
        job = job_;
        ++job->active_workers;
      }
      in_worker = true;
      work_on(*job);
      in_worker = false;
      {
        std::lock_guard lock(mutex_);
        --job->active_workers;
      }
      done_.notify_all();
    }
  }

 public:
  static thread_local bool in_worker;

 private:
  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_, done_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  // generation_ (or a stop) as seen by spinning workers without the lock.
  std::atomic<uint64_t> published_{0};
};

thread_local bool ThreadPool::in_worker = false;
thread_local bool in_parallel_body = false;

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

std::mutex pool_mutex;
int requested_threads = 0;
std::unique_ptr<ThreadPool> pool;

ThreadPool& shared_pool() {
  std::lock_guard lock(pool_mutex);
  if (!pool)
    pool =
        std::make_unique<ThreadPool>(requested_threads > 0 ? requested_threads : default_threads());
  return *pool;
}

}  // namespace

void set_num_threads(int n) {
  std::lock_guard lock(pool_mutex);
  requested_threads = std::max(1, n);
  pool.reset();
}

int num_threads() { return shared_pool().size(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body, int64_t min_chunk) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(1, min_chunk);
  ThreadPool& p = shared_pool();
  const int threads = p.size();
  if (threads == 1 || n <= min_chunk || in_parallel_body || ThreadPool::in_worker) {
    body(0, n);
    return;
  }
  // A few chunks per thread balances uneven work without much overhead.
  const int64_t chunk = std::max(min_chunk, (n + threads * 4 - 1) / (threads * 4));
  in_parallel_body = true;
  try {
    p.run(n, chunk, body);
  } catch (...) {
    in_parallel_body = false;
    throw;
  }
  in_parallel_body = false;
}

}  // namespace mmgen
