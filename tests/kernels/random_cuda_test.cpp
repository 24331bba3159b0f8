// The CUDA Philox fills produce the same bits as the CPU fills (kernels/random.h,
// kernels/cuda/random_cuda.h).
#include "kernels/cuda/random_cuda.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "kernels/random.h"

namespace mmgen {
namespace {

// Bitwise equality, so that -0.0 / 0.0 or any last-bit difference is caught.
int64_t differing_bits(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  int64_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return differing;
}

}  // namespace

TEST_CASE("CUDA uniform and normal tensors equal the CPU ones bit for bit", "[cuda][random]") {
  for (uint64_t seed : {0ull, 42ull, 0x299f31d0a4093822ull}) {
    for (uint64_t stream : {0ull, 1ull, 0xffffffffffull}) {
      const Shape shape = {3, 1001, 17};  // not a multiple of 4
      const Tensor cpu_u = kernels::random_uniform(shape, seed, stream, Device::cpu());
      const Tensor gpu_u = kernels::random_uniform(shape, seed, stream, Device::cuda());
      const Tensor cpu_n = kernels::random_normal(shape, seed, stream, Device::cpu());
      const Tensor gpu_n = kernels::random_normal(shape, seed, stream, Device::cuda());
      CHECK(gpu_u.device().is_cuda());
      CHECK(gpu_u.shape() == shape);
      INFO("seed " << seed << ", stream " << stream);
      CHECK(differing_bits(cpu_u.to_f32_vector(), gpu_u.cpu().to_f32_vector()) == 0);
      CHECK(differing_bits(cpu_n.to_f32_vector(), gpu_n.cpu().to_f32_vector()) == 0);
    }
  }
}

TEST_CASE("CUDA fills at unaligned offsets equal the CPU fills", "[cuda][random]") {
  const int64_t n = 100'003;
  for (uint64_t offset : {0ull, 1ull, 2ull, 3ull, 4ull, 12345ull, (1ull << 40) + 3}) {
    std::vector<float> cpu_u(n), cpu_n(n);
    fill_uniform(cpu_u.data(), n, 7, 9, offset);
    fill_normal(cpu_n.data(), n, 7, 9, offset);
    Tensor gpu_u = Tensor::empty({n}, DType::kF32, Device::cuda());
    Tensor gpu_n = Tensor::empty({n}, DType::kF32, Device::cuda());
    kernels::cuda::fill_uniform(Device::cuda(), gpu_u.typed_data<float>(), n, 7, 9, offset);
    kernels::cuda::fill_normal(Device::cuda(), gpu_n.typed_data<float>(), n, 7, 9, offset);
    INFO("offset " << offset);
    CHECK(differing_bits(cpu_u, gpu_u.cpu().to_f32_vector()) == 0);
    CHECK(differing_bits(cpu_n, gpu_n.cpu().to_f32_vector()) == 0);
  }
}

TEST_CASE("a large CUDA normal fill matches the CPU over the whole grid-stride range",
          "[cuda][random]") {
  // More 4-blocks than one grid of 65535 x 256 threads covers.
  const int64_t n = 80'000'000;
  const Tensor cpu = kernels::random_normal({n}, 2024, 5, Device::cpu());
  const Tensor gpu = kernels::random_normal({n}, 2024, 5, Device::cuda());
  CHECK(differing_bits(cpu.to_f32_vector(), gpu.cpu().to_f32_vector()) == 0);
}

}  // namespace mmgen
