// Random tensors from the reproducible Philox streams (core/philox.h): the same
// (seed, stream) gives bit-identical values on the CPU and on a CUDA device.
#pragma once

#include <cstdint>

#include "core/device.h"
#include "core/tensor.h"

namespace mmgen::kernels {

// f32 tensor whose flat element i is element i of the uniform [0, 1) stream (seed, stream).
Tensor random_uniform(Shape shape, uint64_t seed, uint64_t stream = 0,
                      Device device = Device::cpu());
// f32 tensor whose flat element i is element i of the standard-normal stream (seed, stream).
Tensor random_normal(Shape shape, uint64_t seed, uint64_t stream = 0,
                     Device device = Device::cpu());

}  // namespace mmgen::kernels
