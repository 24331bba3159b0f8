// Activations and broadcasting arithmetic on CUDA against the CPU backend.
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

Tensor gpu(const Tensor& t) { return t.to(Device::cuda()); }

void check_close(const Tensor& cuda_result, const Tensor& cpu_result, double max_abs = 1e-5) {
  REQUIRE(cuda_result.device().is_cuda());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
  REQUIRE(d.max_abs <= max_abs);
  REQUIRE(d.rel_l2 <= 1e-6);
}

TEST_CASE("cuda activations match the CPU", "[cuda][elementwise]") {
  const Tensor x = test::random_tensor({7, 143}, 1, -6.0f, 6.0f);
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
      {"gelu", [](const Tensor& t) { return kernels::gelu(t); }},
      {"gelu_tanh", [](const Tensor& t) { return kernels::gelu_tanh(t); }},
      {"quick_gelu", [](const Tensor& t) { return kernels::quick_gelu(t); }},
      {"silu", [](const Tensor& t) { return kernels::silu(t); }},
      {"relu", [](const Tensor& t) { return kernels::relu(t); }},
      {"leaky_relu", [](const Tensor& t) { return kernels::leaky_relu(t, 0.1f); }},
      {"tanh", [](const Tensor& t) { return kernels::tanh(t); }},
      {"sigmoid", [](const Tensor& t) { return kernels::sigmoid(t); }},
      {"exp", [](const Tensor& t) { return kernels::exp(t); }},
      {"scale", [](const Tensor& t) { return kernels::scale(t, -1.75f); }},
      {"add_scalar", [](const Tensor& t) { return kernels::add_scalar(t, 0.625f); }},
      {"clamp", [](const Tensor& t) { return kernels::clamp(t, -1.5f, 2.25f); }},
  };
  for (const auto& [name, op] : ops) {
    DYNAMIC_SECTION(name) {
      // exp reaches ~400: compare it relative to its size
      check_close(op(gpu(x)), op(x), name == "exp" ? 2e-4 : 1e-5);
    }
  }
}

TEST_CASE("cuda activations accept a strided view", "[cuda][elementwise]") {
  const Tensor x = test::random_tensor({12, 9}, 2);
  check_close(kernels::silu(gpu(x).transpose(0, 1)), kernels::silu(x.transpose(0, 1)));
}

TEST_CASE("cuda binary ops match the CPU", "[cuda][elementwise]") {
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, const Tensor&)>>>
      ops = {
          {"add", [](const Tensor& a, const Tensor& b) { return kernels::add(a, b); }},
          {"sub", [](const Tensor& a, const Tensor& b) { return kernels::sub(a, b); }},
          {"mul", [](const Tensor& a, const Tensor& b) { return kernels::mul(a, b); }},
          {"div", [](const Tensor& a, const Tensor& b) { return kernels::div(a, b); }},
      };
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{5, 33}, {5, 33}},                     // same shape
      {{2, 1, 5, 7}, {3, 1, 7}},              // both broadcast
      {{4, 6, 10}, {6, 1}},                   // per-channel bias
      {{3, 17}, {1}},                         // scalar
      {{1, 9}, {8, 1}},                       // outer product shape
      {{2, 3, 1, 4, 1, 5}, {3, 2, 4, 1, 5}},  // higher rank
  };
  for (const auto& [name, op] : ops) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      DYNAMIC_SECTION(name << " shapes " << i) {
        const Tensor a = test::random_tensor(shapes[i].first, 10 + i);
        // keep divisors away from zero
        const Tensor b = test::random_tensor(shapes[i].second, 20 + i, 0.5f, 2.0f);
        check_close(op(gpu(a), gpu(b)), op(a, b));
      }
    }
  }
}

TEST_CASE("cuda binary ops accept strided views", "[cuda][elementwise]") {
  const Tensor a = test::random_tensor({8, 5}, 30);
  const Tensor b = test::random_tensor({5, 8}, 31);
  check_close(kernels::add(gpu(a).transpose(0, 1), gpu(b)), kernels::add(a.transpose(0, 1), b));
  check_close(kernels::mul(gpu(b).narrow(1, 2, 3), gpu(a).narrow(0, 1, 3).transpose(0, 1)),
              kernels::mul(b.narrow(1, 2, 3), a.narrow(0, 1, 3).transpose(0, 1)));
}

}  // namespace
}  // namespace mmgen
