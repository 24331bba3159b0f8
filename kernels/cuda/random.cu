// Philox uniform / normal fills on the GPU: one thread per 4-block of the
// stream, the same code (core/philox.h) as the CPU fill, so the streams match
// bit for bit.
#include <cstdint>

#include "core/error.h"
#include "core/philox.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/random_cuda.h"

namespace mmgen::kernels::cuda {
namespace {

constexpr int kThreadsPerBlock = 256;

template <bool kNormal>
__global__ void fill_kernel(float* __restrict__ dst, uint64_t n, uint64_t seed, uint64_t stream,
                            uint64_t offset, uint64_t first_block, uint64_t blocks) {
  for (uint64_t b = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const uint64_t block = first_block + b;
    float values[4];
    if (kNormal)
      philox::normal4(seed, stream, block, values);
    else
      philox::uniform4(seed, stream, block, values);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const uint64_t element = block * 4 + lane;
      if (element < offset) continue;
      const uint64_t j = element - offset;
      if (j < n) dst[j] = values[lane];
    }
  }
}

template <bool kNormal>
void fill(Device device, float* dst, int64_t n, uint64_t seed, uint64_t stream_id,
          uint64_t offset) {
  MMGEN_CHECK(n >= 0, "random fill: negative element count ", n);
  if (n == 0) return;
  MMGEN_CHECK(dst != nullptr, "random fill: null destination for ", n, " elements");
  MMGEN_CHECK(offset <= UINT64_MAX - static_cast<uint64_t>(n), "random fill: elements ", offset,
              " + ", n, " run past the end of the stream");
  DeviceGuard guard(device);
  const uint64_t first_block = offset / 4;
  const uint64_t blocks = (offset + static_cast<uint64_t>(n) - 1) / 4 - first_block + 1;
  // A grid-stride loop: enough blocks to fill the GPU, never more than needed.
  const uint64_t wanted = (blocks + kThreadsPerBlock - 1) / kThreadsPerBlock;
  const unsigned grid = static_cast<unsigned>(wanted < 65535 ? wanted : 65535);
  fill_kernel<kNormal><<<grid, kThreadsPerBlock, 0, cuda::stream()>>>(
      dst, static_cast<uint64_t>(n), seed, stream_id, offset, first_block, blocks);
  check_launch(kNormal ? "random normal fill" : "random uniform fill");
}

}  // namespace

void fill_uniform(Device device, float* dst, int64_t n, uint64_t seed, uint64_t stream,
                  uint64_t offset) {
  fill<false>(device, dst, n, seed, stream, offset);
}

void fill_normal(Device device, float* dst, int64_t n, uint64_t seed, uint64_t stream,
                 uint64_t offset) {
  fill<true>(device, dst, n, seed, stream, offset);
}

}  // namespace mmgen::kernels::cuda
