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

// Workers wait for a job (a chunked range); the caller works on it too, so a pool of n
// threads has n - 1 workers. Handing out a job and waiting for it take no lock and no
// system call while the workers spin: a decode step runs ~50 loops of a few tens of
// microseconds each, and on virtual machines a futex wake-up costs about as much as one
// loop. Workers that found nothing to do for a while sleep on a condition variable.
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
    stopping_.store(true);
    publish(kClosed);
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& body) {
    std::lock_guard run_lock(run_mutex_);  // one parallel loop at a time
    Job job;
    job.body = &body;
    job.n = n;
    job.chunk = chunk;
    job_.store(&job, std::memory_order_relaxed);  // ordered by publish's release
    publish(0);
    work_on(job);
    // Close the job to late workers, then wait for the ones that joined: a worker that
    // is asleep or descheduled never holds the caller up.
    state_.fetch_or(kClosed, std::memory_order_acq_rel);
    for (int spins = 0; (state_.load(std::memory_order_acquire) & kActiveMask) != 0; ++spins) {
      if (spins < kSpinIterations)
        spin_pause();
      else
        std::this_thread::yield();
    }
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    int64_t n = 0;
    int64_t chunk = 1;
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
  };

  // state_: the job's generation (high 32 bits), whether it is closed to new workers,
  // and how many workers are on it. Kept in the pool, not the job, so a late worker
  // never touches a job the caller has already returned from.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kActiveMask = kClosed - 1;
  static uint32_t generation_of(uint64_t state) { return static_cast<uint32_t>(state >> 32); }

  // A new generation with the given flags, and a wake-up for sleeping workers.
  void publish(uint64_t flags) {
    ++generation_;
    state_.store((uint64_t{generation_} << 32) | flags);  // seq_cst: see wait_for_job
    if (sleepers_.load() > 0) {
      std::lock_guard lock(mutex_);
      wake_.notify_all();
    }
  }

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

  // The state once its generation differs from seen: spinning first, then asleep.
  uint64_t wait_for_job(uint32_t seen) {
    for (int i = 0; i < kSpinIterations; ++i) {
      const uint64_t state = state_.load(std::memory_order_acquire);
      if (generation_of(state) != seen) return state;
      spin_pause();
    }
    std::unique_lock lock(mutex_);
    // sleepers_ is raised before the state is read again and publish stores the state
    // before reading sleepers_ (both sequentially consistent): either this worker sees
    // the new job or publish sees a sleeper and notifies under the mutex.
    sleepers_.fetch_add(1);
    wake_.wait(lock, [&] { return generation_of(state_.load()) != seen; });
    sleepers_.fetch_sub(1);
    return state_.load(std::memory_order_acquire);
  }

  void worker_loop() {
    uint32_t seen = 0;
    for (;;) {
      uint64_t state = wait_for_job(seen);
      if (stopping_.load()) return;
      seen = generation_of(state);
      bool joined = false;
      while (!joined && !(state & kClosed) && generation_of(state) == seen)
        joined = state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel,
                                              std::memory_order_acquire);
      if (!joined) continue;
      in_worker = true;
      work_on(*job_.load(std::memory_order_relaxed));
      in_worker = false;
      state_.fetch_sub(1, std::memory_order_release);
    }
  }

 public:
  static thread_local bool in_worker;

 private:
  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_;
  std::atomic<Job*> job_{nullptr};
  uint32_t generation_ = 0;  // written by the caller holding run_mutex_ (or the destructor)
  std::atomic<uint64_t> state_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
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
