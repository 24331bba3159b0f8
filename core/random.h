// Reproducible random fills on the CPU: the Philox streams of core/philox.h.
// Element i of stream (seed, stream) is the same value whatever the thread
// count, and the same value the CUDA fill (kernels/cuda/random.cu) produces.
#pragma once

#include <cstdint>

namespace mmgen {

// dst[j] = element (offset + j) of the uniform [0, 1) stream (seed, stream).
void fill_uniform(float* dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset = 0);
// dst[j] = element (offset + j) of the standard-normal stream (seed, stream).
void fill_normal(float* dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset = 0);

}  // namespace mmgen
