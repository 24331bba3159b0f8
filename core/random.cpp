#include "core/random.h"

#include <cstdint>

#include "core/error.h"
#include "core/philox.h"
#include "core/thread_pool.h"

namespace mmgen {
namespace {

// Blocks of 4 elements per parallel chunk: enough work to amortise a task.
constexpr int64_t kBlocksPerChunk = 4096;

// Fills dst[0, n) with elements offset .. offset + n - 1, computing each
// 4-block once; `block_fn(seed, stream, block, out)` produces one block.
template <typename BlockFn>
void fill_stream(float* dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                 BlockFn block_fn) {
  MMGEN_CHECK(n >= 0, "random fill: negative element count ", n);
  if (n == 0) return;
  MMGEN_CHECK(dst != nullptr, "random fill: null destination for ", n, " elements");
  MMGEN_CHECK(offset <= UINT64_MAX - static_cast<uint64_t>(n), "random fill: elements ", offset,
              " + ", n, " run past the end of the stream");
  const uint64_t first_block = offset / 4;
  const uint64_t last_block = (offset + static_cast<uint64_t>(n) - 1) / 4;
  const int64_t blocks = static_cast<int64_t>(last_block - first_block + 1);
  parallel_for(
      blocks,
      [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          const uint64_t block = first_block + static_cast<uint64_t>(b);
          float values[4];
          block_fn(seed, stream, block, values);
          for (int lane = 0; lane < 4; ++lane) {
            const uint64_t element = block * 4 + static_cast<uint64_t>(lane);
            if (element < offset) continue;
            const uint64_t j = element - offset;
            if (j >= static_cast<uint64_t>(n)) break;
            dst[j] = values[lane];
          }
        }
      },
      kBlocksPerChunk);
}

}  // namespace

void fill_uniform(float* dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  fill_stream(dst, n, seed, stream, offset, philox::uniform4);
}

void fill_normal(float* dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  fill_stream(dst, n, seed, stream, offset, philox::normal4);
}

}  // namespace mmgen
