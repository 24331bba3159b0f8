// group_norm / layer_norm / rms_norm / softmax on CUDA against the CPU backend.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

Tensor gpu(const Tensor& t) { return t.defined() ? t.to(Device::cuda()) : t; }

void check_close(const Tensor& cuda_result, const Tensor& cpu_result, double max_abs = 1e-4) {
  REQUIRE(cuda_result.device().is_cuda());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
  REQUIRE(d.rel_l2 <= 1e-5);
  REQUIRE(d.max_abs <= max_abs);
}

TEST_CASE("cuda group_norm matches the CPU", "[cuda][norm]") {
  SECTION("with weight and bias, values off zero") {
    const Tensor x = test::random_tensor({2, 12, 7, 9}, 1, 3.0f, 5.0f);
    const Tensor w = test::random_tensor({12}, 2);
    const Tensor b = test::random_tensor({12}, 3);
    check_close(kernels::group_norm(gpu(x), 4, gpu(w), gpu(b), 1e-5f),
                kernels::group_norm(x, 4, w, b, 1e-5f));
  }
  SECTION("without affine parameters, 1-d spatial") {
    const Tensor x = test::random_tensor({3, 6, 25}, 4);
    check_close(kernels::group_norm(gpu(x), 3, Tensor(), Tensor(), 1e-6f),
                kernels::group_norm(x, 3, Tensor(), Tensor(), 1e-6f));
  }
  SECTION("large groups split over many blocks") {
    // 16 channels x 64 x 64 per group: several partial sums per group.
    const Tensor x = test::random_tensor({1, 64, 64, 64}, 5, -2.0f, 6.0f);
    const Tensor w = test::random_tensor({64}, 6);
    const Tensor b = test::random_tensor({64}, 7);
    check_close(kernels::group_norm(gpu(x), 4, gpu(w), gpu(b), 1e-5f),
                kernels::group_norm(x, 4, w, b, 1e-5f));
  }
  SECTION("one channel per group") {
    const Tensor x = test::random_tensor({2, 5, 3, 3}, 8);
    check_close(kernels::group_norm(gpu(x), 5, Tensor(), Tensor(), 1e-5f),
                kernels::group_norm(x, 5, Tensor(), Tensor(), 1e-5f));
  }
}

TEST_CASE("cuda layer_norm matches the CPU", "[cuda][norm]") {
  const Tensor x = test::random_tensor({5, 7, 129}, 10, -1.0f, 3.0f);
  const Tensor w = test::random_tensor({129}, 11);
  const Tensor b = test::random_tensor({129}, 12);
  check_close(kernels::layer_norm(gpu(x), gpu(w), gpu(b)), kernels::layer_norm(x, w, b));
  check_close(kernels::layer_norm(gpu(x), Tensor(), Tensor(), 1e-6f),
              kernels::layer_norm(x, Tensor(), Tensor(), 1e-6f));
  const Tensor wide = test::random_tensor({3, 5000}, 13);
  check_close(kernels::layer_norm(gpu(wide), Tensor(), Tensor()),
              kernels::layer_norm(wide, Tensor(), Tensor()));
}

TEST_CASE("cuda layer_norm accepts f16 parameters", "[cuda][norm]") {
  const Tensor x = test::random_tensor({4, 96}, 14);
  const Tensor w = test::random_tensor({96}, 15).to(DType::kF16);
  const Tensor b = test::random_tensor({96}, 16).to(DType::kF16);
  check_close(kernels::layer_norm(gpu(x), gpu(w), gpu(b)), kernels::layer_norm(x, w, b));
}

TEST_CASE("cuda rms_norm matches the CPU", "[cuda][norm]") {
  const Tensor x = test::random_tensor({9, 300}, 20);
  const Tensor w = test::random_tensor({300}, 21);
  check_close(kernels::rms_norm(gpu(x), gpu(w), 1e-6f), kernels::rms_norm(x, w, 1e-6f));
  check_close(kernels::rms_norm(gpu(x), Tensor(), 1e-5f), kernels::rms_norm(x, Tensor(), 1e-5f));
  const Tensor x3 = test::random_tensor({2, 3, 17}, 22);
  check_close(kernels::rms_norm(gpu(x3), Tensor()), kernels::rms_norm(x3, Tensor()));
}

TEST_CASE("cuda softmax matches the CPU", "[cuda][norm]") {
  const Tensor x = test::random_tensor({13, 1000}, 30, -20.0f, 20.0f);
  check_close(kernels::softmax(gpu(x)), kernels::softmax(x), 1e-5);
  const Tensor small = test::random_tensor({2, 3, 5}, 31);
  check_close(kernels::softmax(gpu(small)), kernels::softmax(small), 1e-6);
  // a row of -inf (everything masked) gives zeros, as on the CPU
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor masked =
      Tensor::from_vector(std::vector<float>{-inf, -inf, -inf, 0, 1, -inf}, {2, 3});
  check_close(kernels::softmax(gpu(masked)), kernels::softmax(masked), 1e-6);
  REQUIRE(kernels::softmax(gpu(masked)).cpu().to_f32_vector()[0] == 0.0f);
  // rows sum to one
  const auto rows = kernels::softmax(gpu(x)).cpu().to_f32_vector();
  for (int r = 0; r < 13; ++r) {
    double sum = 0;
    for (int j = 0; j < 1000; ++j) sum += rows[r * 1000 + j];
    REQUIRE(sum == Approx(1.0).epsilon(1e-5));
  }
}

}  // namespace
}  // namespace mmgen
