// Host <-> device copies and device checks of the CUDA backend.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

TEST_CASE("f32 tensors round-trip through the device unchanged", "[cuda][device]") {
  const Tensor host = test::random_tensor({3, 17, 5}, 1);
  const Tensor device = host.to(Device::cuda());
  REQUIRE(device.device().is_cuda());
  REQUIRE(device.shape() == host.shape());
  const Tensor back = device.cpu();
  REQUIRE(back.device().is_cpu());
  REQUIRE(back.to_f32_vector() == host.to_f32_vector());
}

TEST_CASE("integer, half and byte tensors round-trip through the device", "[cuda][device]") {
  const std::vector<int64_t> ids = {0, -5, 1LL << 40, 7, 123456789};
  const Tensor i64 = Tensor::from_vector(ids, {5});
  REQUIRE(i64.to(Device::cuda()).cpu().to_i64_vector() == ids);

  const std::vector<uint8_t> bytes = {0, 1, 127, 128, 255, 3, 9};
  const Tensor u8 = Tensor::from_vector(bytes, {7});
  const Tensor u8_back = u8.to(Device::cuda()).cpu();
  REQUIRE(std::vector<uint8_t>(u8_back.typed_data<uint8_t>(), u8_back.typed_data<uint8_t>() + 7) ==
          bytes);

  const Tensor f16 = test::random_tensor({33}, 2).to(DType::kF16);
  const Tensor f16_back = f16.to(Device::cuda()).cpu();
  REQUIRE(f16_back.dtype() == DType::kF16);
  REQUIRE(f16_back.to_f32_vector() == f16.to_f32_vector());
}

TEST_CASE("device clones and views copy the right elements", "[cuda][device]") {
  const Tensor host = test::random_tensor({6, 10}, 3);
  const Tensor device = host.to(Device::cuda());
  const Tensor clone = device.clone();
  REQUIRE(clone.device().is_cuda());
  REQUIRE(clone.cpu().to_f32_vector() == host.to_f32_vector());
  // A narrowed, transposed view copied back gathers the same elements as on the host.
  const Tensor view = device.narrow(1, 2, 5).transpose(0, 1);
  const Tensor host_view = host.narrow(1, 2, 5).transpose(0, 1);
  REQUIRE(view.cpu().to_f32_vector() == host_view.to_f32_vector());
}

TEST_CASE("freed device blocks are reused and can be released", "[cuda][device]") {
  const Device cuda = Device::cuda();
  release_cached_device_memory(cuda);
  REQUIRE(cached_device_bytes(cuda) == 0);
  const void* first_address = nullptr;
  {
    const Tensor a = Tensor::empty({1000, 1000}, DType::kF32, cuda);
    first_address = a.data();
  }
  REQUIRE(cached_device_bytes(cuda) >= 4000000);
  // A slightly smaller tensor rounds to the same block size and gets the same block,
  // and writing it after the first tensor's life gives the right values.
  const Tensor b = Tensor::full({999, 1000}, 1.5f, cuda);
  REQUIRE(b.data() == first_address);
  REQUIRE(cached_device_bytes(cuda) == 0);
  for (float v : b.cpu().to_f32_vector()) REQUIRE(v == 1.5f);
  const Tensor sum = kernels::add(b, b);
  for (float v : sum.cpu().to_f32_vector()) REQUIRE(v == 3.0f);
  release_cached_device_memory(cuda);
  REQUIRE(cached_device_bytes(cuda) == 0);
}

TEST_CASE("zeros and full land on the device", "[cuda][device]") {
  const Tensor z = Tensor::zeros({4, 9}, DType::kF32, Device::cuda());
  REQUIRE(z.device().is_cuda());
  for (float v : z.cpu().to_f32_vector()) REQUIRE(v == 0.0f);
  const Tensor f = Tensor::full({5}, 2.5f, Device::cuda());
  for (float v : f.cpu().to_f32_vector()) REQUIRE(v == 2.5f);
}

TEST_CASE("ops with inputs on different devices are errors", "[cuda][device]") {
  const Tensor a = test::random_tensor({4, 4}, 4);
  const Tensor b = a.to(Device::cuda());
  REQUIRE_THROWS_AS(kernels::add(a, b), Error);
  REQUIRE_THROWS_AS(kernels::matmul(b, a), Error);
  REQUIRE_THROWS_AS(kernels::concat({a, b}, 0), Error);
}

TEST_CASE("CUDA op results stay on the device of their inputs", "[cuda][device]") {
  const Tensor a = test::random_tensor({4, 4}, 5).to(Device::cuda());
  const Tensor c = kernels::add(a, a);
  REQUIRE(c.device() == Device::cuda());
  REQUIRE(c.dtype() == DType::kF32);
  REQUIRE(c.shape() == Shape{4, 4});
}

}  // namespace
}  // namespace mmgen
