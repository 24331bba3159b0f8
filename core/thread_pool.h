// A fixed pool of worker threads for data-parallel loops.
#pragma once

#include <cstdint>
#include <functional>

namespace mmgen {

// Threads used by parallel_for (default: hardware concurrency). Call before work
// starts, e.g. from --threads.
void set_num_threads(int n);
int num_threads();

// Calls body(begin, end) over disjoint chunks covering [0, n), in parallel on
// the shared pool, and returns when all are done. Chunks hold at least
// min_chunk items. Nested calls from inside a body run serially. An exception
// thrown by a body is rethrown here (the first one).
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& body,
                  int64_t min_chunk = 1);

}  // namespace mmgen
