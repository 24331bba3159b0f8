#include <catch2/catch.hpp>
#include <functional>
#include <limits>

#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;
using test::random_tensor;
namespace naive = test::naive;

TEST_CASE("activations match their double-precision definitions", "[kernels][activations]") {
  struct Case {
    const char* name;
    UnaryOp op;
    std::function<Tensor(const Tensor&)> run;
    double alpha = 0, beta = 0;
  };
  const std::vector<Case> cases = {
      {"gelu", UnaryOp::kGelu, [](const Tensor& x) { return kernels::gelu(x); }},
      {"gelu_tanh", UnaryOp::kGeluTanh, [](const Tensor& x) { return kernels::gelu_tanh(x); }},
      {"quick_gelu", UnaryOp::kQuickGelu, [](const Tensor& x) { return kernels::quick_gelu(x); }},
      {"silu", UnaryOp::kSilu, [](const Tensor& x) { return kernels::silu(x); }},
      {"relu", UnaryOp::kRelu, [](const Tensor& x) { return kernels::relu(x); }},
      {"leaky_relu", UnaryOp::kLeakyRelu,
       [](const Tensor& x) { return kernels::leaky_relu(x, 0.1f); }, 0.1},
      {"tanh", UnaryOp::kTanh, [](const Tensor& x) { return kernels::tanh(x); }},
      {"sigmoid", UnaryOp::kSigmoid, [](const Tensor& x) { return kernels::sigmoid(x); }},
      {"scale", UnaryOp::kScale, [](const Tensor& x) { return kernels::scale(x, -2.5f); }, -2.5},
      {"add_scalar", UnaryOp::kAddScalar,
       [](const Tensor& x) { return kernels::add_scalar(x, 0.75f); }, 0.75},
      {"clamp", UnaryOp::kClamp, [](const Tensor& x) { return kernels::clamp(x, -1.5f, 2.0f); },
       -1.5, 2.0},
  };
  // Odd sizes cover the vector tails; the range covers saturation of tanh / sigmoid / erf.
  const Tensor x = random_tensor({3, 33, 1001}, 1, -12.0f, 12.0f);
  const Tensor small = random_tensor({5}, 2, -0.5f, 0.5f);
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(naive::mismatch(c.run(x), naive::unary(c.op, x, c.alpha, c.beta), 2e-6) == "");
    CHECK(naive::mismatch(c.run(small), naive::unary(c.op, small, c.alpha, c.beta), 2e-6) == "");
  }
  // exp over a range where its relative error is what counts.
  const Tensor e = random_tensor({1000}, 3, -30.0f, 30.0f);
  const auto got = kernels::exp(e).to_f32_vector();
  const auto input = e.to_f32_vector();
  for (size_t i = 0; i < got.size(); ++i)
    CHECK(got[i] == Approx(std::exp(static_cast<double>(input[i]))).epsilon(1e-6));
}

TEST_CASE("exp and sigmoid saturate exactly", "[kernels][activations]") {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_vector<float>({-kInf, 0.0f, 200.0f}, {3});
  CHECK(kernels::exp(x).to_f32_vector() == std::vector<float>{0.0f, 1.0f, kInf});
  const auto s = kernels::sigmoid(x).to_f32_vector();
  CHECK(s[0] == 0.0f);
  CHECK(s[1] == 0.5f);
  CHECK(s[2] == 1.0f);
}

TEST_CASE("activations of strided views", "[kernels][activations]") {
  const Tensor x = random_tensor({17, 9}, 10, -4.0f, 4.0f).transpose(0, 1);
  CHECK(naive::mismatch(kernels::silu(x), naive::unary(UnaryOp::kSilu, x), 2e-6) == "");
}

TEST_CASE("binary ops broadcast like NumPy", "[kernels][binary]") {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}},    {{1}, {5, 6}},
      {{7, 5}, {7, 5}}, {{1, 1, 1}, {2, 3, 4}}, {{2, 3, 1, 5}, {3, 7, 1}},
      {{4, 1}, {1, 6}}, {{3, 40000}, {40000}},  {{0, 3}, {3}},
      {{}, {2, 2}},
  };
  uint64_t seed = 20;
  for (const Case& c : cases) {
    const Tensor a = random_tensor(c.a, ++seed);
    const Tensor b = random_tensor(c.b, ++seed, 0.5f, 2.0f);  // safe divisors
    INFO("a " << shape_str(c.a) << " b " << shape_str(c.b));
    CHECK(naive::mismatch(kernels::add(a, b), naive::binary(BinaryOp::kAdd, a, b), 1e-7) == "");
    CHECK(naive::mismatch(kernels::sub(a, b), naive::binary(BinaryOp::kSub, a, b), 1e-7) == "");
    CHECK(naive::mismatch(kernels::mul(a, b), naive::binary(BinaryOp::kMul, a, b), 1e-7) == "");
    CHECK(naive::mismatch(kernels::div(a, b), naive::binary(BinaryOp::kDiv, a, b), 1e-6) == "");
  }
  // Strided operands.
  const Tensor a = random_tensor({6, 5}, 40).transpose(0, 1);
  const Tensor b = random_tensor({5, 12}, 41).narrow(1, 2, 6);
  CHECK(naive::mismatch(kernels::mul(a, b), naive::binary(BinaryOp::kMul, a, b), 1e-7) == "");
}

TEST_CASE("elementwise ops report bad inputs", "[kernels][binary][activations]") {
  CHECK_THROWS_WITH(kernels::add(random_tensor({2, 3}, 50), random_tensor({4}, 51)),
                    "add: shapes [2, 3] and [4] do not broadcast");
  CHECK_THROWS_WITH(kernels::clamp(random_tensor({2}, 52), 1.0f, 0.0f),
                    "clamp: lo 1 is above hi 0");
  CHECK_THROWS_WITH(kernels::gelu(random_tensor({2}, 53).to(DType::kF16)),
                    "gelu: x must be f32, got f16[2]");
  CHECK_THROWS_WITH(kernels::mul(random_tensor({2}, 54), Tensor()),
                    "mul: b is an undefined tensor");
}

}  // namespace
}  // namespace mmgen
