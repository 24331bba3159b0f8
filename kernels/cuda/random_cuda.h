// The CUDA fills behind kernels::random_uniform / random_normal. Plain C++
// declarations, so host code can call them without the CUDA headers.
#pragma once

#include <cstdint>

#include "core/device.h"

namespace mmgen::kernels::cuda {

// dst: n floats in `device`'s memory; dst[j] = element (offset + j) of the stream,
// bit-identical to mmgen::fill_uniform / fill_normal on the CPU.
void fill_uniform(Device device, float* dst, int64_t n, uint64_t seed, uint64_t stream,
                  uint64_t offset = 0);
void fill_normal(Device device, float* dst, int64_t n, uint64_t seed, uint64_t stream,
                 uint64_t offset = 0);

}  // namespace mmgen::kernels::cuda
