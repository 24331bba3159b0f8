// Random tensors on the CPU (kernels/random.h): the Philox streams of core/random.h.
#include "core/random.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "kernels/random.h"

namespace mmgen {

TEST_CASE("random tensors hold the stream in flat order", "[random]") {
  const Tensor u = kernels::random_uniform({4, 5, 3}, 11, 2);
  const Tensor z = kernels::random_normal({4, 5, 3}, 11, 2);
  CHECK(u.dtype() == DType::kF32);
  CHECK(u.shape() == Shape{4, 5, 3});
  CHECK(u.device().is_cpu());
  std::vector<float> expected_u(60), expected_z(60);
  fill_uniform(expected_u.data(), 60, 11, 2);
  fill_normal(expected_z.data(), 60, 11, 2);
  CHECK(u.to_f32_vector() == expected_u);
  CHECK(z.to_f32_vector() == expected_z);
  // The shape does not change the values: only the flat index counts.
  CHECK(kernels::random_normal({60}, 11, 2).to_f32_vector() == expected_z);
  // Another stream id gives other values.
  CHECK(kernels::random_normal({60}, 11, 3).to_f32_vector() != expected_z);
}

TEST_CASE("random tensors: empty shapes and bad arguments", "[random]") {
  CHECK(kernels::random_uniform({0, 3}, 1).numel() == 0);
  CHECK(kernels::random_normal({}, 1).numel() == 1);  // a scalar
  CHECK_THROWS_WITH(kernels::random_uniform({2, -1}, 1), Catch::Contains("negative dimension"));
#if !MMGEN_HAS_CUDA
  CHECK_THROWS_WITH(kernels::random_normal({4}, 1, 0, Device::cuda()),
                    Catch::Contains("built without CUDA"));
#endif
}

}  // namespace mmgen
