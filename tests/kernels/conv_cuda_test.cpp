// conv2d / conv1d / conv_transpose1d on CUDA against the CPU backend, over
// strides, padding, dilation, groups, pointwise kernels and half weights.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "core/tensor.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

Tensor gpu(const Tensor& t) { return t.defined() ? t.to(Device::cuda()) : t; }

void check_close(const Tensor& cuda_result, const Tensor& cpu_result) {
  REQUIRE(cuda_result.device().is_cuda());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  double scale = 0;
  for (float v : cpu_result.to_f32_vector()) scale = std::max(scale, std::fabs(double(v)));
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2 << " max |expected| " << scale);
  REQUIRE(d.rel_l2 <= 1e-5);
  REQUIRE(d.max_abs <= 1e-4 * std::max(scale, 1.0));
}

kernels::Conv2dParams conv2d_params(int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
  kernels::Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  p.groups = groups;
  return p;
}

struct Conv2dCase {
  const char* name;
  Shape x, weight;
  kernels::Conv2dParams params;
  bool bias;
};

TEST_CASE("cuda conv2d matches the CPU", "[cuda][conv]") {
  const Conv2dCase cases[] = {
      {"3x3 stride 2 pad 1",
       {2, 5, 11, 13},
       {7, 5, 3, 3},
       conv2d_params(2, 2, 1, 1, 1, 1, 1),
       true},
      {"3x2 groups 2 dilated",
       {1, 6, 12, 9},
       {4, 3, 3, 2},
       conv2d_params(1, 2, 2, 0, 2, 1, 2),
       true},
      {"depthwise", {2, 4, 8, 8}, {4, 1, 3, 3}, conv2d_params(1, 1, 1, 1, 1, 1, 4), false},
      {"pointwise", {3, 8, 5, 7}, {6, 8, 1, 1}, conv2d_params(1, 1, 0, 0, 1, 1, 1), true},
      {"pointwise groups 2", {2, 8, 5, 7}, {6, 4, 1, 1}, conv2d_params(1, 1, 0, 0, 1, 1, 2), false},
      {"1x1 stride 2", {1, 3, 9, 9}, {5, 3, 1, 1}, conv2d_params(2, 2, 0, 0, 1, 1, 1), true},
      {"4x4 stride 4 (patchify)",
       {1, 3, 16, 12},
       {8, 3, 4, 4},
       conv2d_params(4, 4, 0, 0, 1, 1, 1),
       true},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const Tensor x = test::random_tensor(c.x, 1);
      const Tensor w = test::random_tensor(c.weight, 2);
      const Tensor b = c.bias ? test::random_tensor({c.weight[0]}, 3) : Tensor();
      check_close(kernels::conv2d(gpu(x), gpu(w), gpu(b), c.params),
                  kernels::conv2d(x, w, b, c.params));
    }
  }
}

TEST_CASE("cuda conv2d accepts f16 and bf16 weights", "[cuda][conv]") {
  const Tensor x = test::random_tensor({2, 4, 10, 10}, 4);
  const Tensor b = test::random_tensor({6}, 5);
  const auto p = conv2d_params(1, 1, 1, 1, 1, 1, 1);
  for (DType type : {DType::kF16, DType::kBF16}) {
    const Tensor w = test::random_tensor({6, 4, 3, 3}, 6).to(type);
    check_close(kernels::conv2d(gpu(x), gpu(w), gpu(b), p), kernels::conv2d(x, w, b, p));
  }
}

TEST_CASE("cuda conv1d matches the CPU", "[cuda][conv]") {
  kernels::Conv1dParams p;
  SECTION("plain with bias") {
    const Tensor x = test::random_tensor({2, 5, 31}, 10);
    const Tensor w = test::random_tensor({7, 5, 3}, 11);
    const Tensor b = test::random_tensor({7}, 12);
    p.padding = 1;
    check_close(kernels::conv1d(gpu(x), gpu(w), gpu(b), p), kernels::conv1d(x, w, b, p));
  }
  SECTION("strided, dilated, grouped") {
    const Tensor x = test::random_tensor({3, 6, 40}, 13);
    const Tensor w = test::random_tensor({9, 2, 5}, 14);
    p.stride = 2;
    p.padding = 3;
    p.dilation = 2;
    p.groups = 3;
    check_close(kernels::conv1d(gpu(x), gpu(w), Tensor(), p), kernels::conv1d(x, w, Tensor(), p));
  }
}

TEST_CASE("cuda conv_transpose1d matches the CPU", "[cuda][conv]") {
  kernels::Conv1dParams p;
  SECTION("upsampling by 4") {
    const Tensor x = test::random_tensor({2, 6, 17}, 20);
    const Tensor w = test::random_tensor({6, 5, 8}, 21);
    const Tensor b = test::random_tensor({5}, 22);
    p.stride = 4;
    p.padding = 2;
    check_close(kernels::conv_transpose1d(gpu(x), gpu(w), gpu(b), p),
                kernels::conv_transpose1d(x, w, b, p));
  }
  SECTION("grouped, dilated, output padding") {
    const Tensor x = test::random_tensor({1, 4, 13}, 23);
    const Tensor w = test::random_tensor({4, 3, 3}, 24);
    const Tensor b = test::random_tensor({6}, 25);
    p.stride = 3;
    p.padding = 1;
    p.dilation = 2;
    p.groups = 2;
    p.output_padding = 1;
    check_close(kernels::conv_transpose1d(gpu(x), gpu(w), gpu(b), p),
                kernels::conv_transpose1d(x, w, b, p));
  }
  SECTION("f16 weight, stride 1") {
    const Tensor x = test::random_tensor({2, 3, 9}, 26);
    const Tensor w = test::random_tensor({3, 4, 5}, 27).to(DType::kF16);
    check_close(kernels::conv_transpose1d(gpu(x), gpu(w), Tensor(), p),
                kernels::conv_transpose1d(x, w, Tensor(), p));
  }
}

TEST_CASE("cuda conv1d with a leaky ReLU of x and a residual matches the CPU", "[cuda][conv]") {
  // On CUDA the fusion is composed of the separate ops; on the CPU it is folded in.
  kernels::Conv1dParams p;
  p.padding = 10;
  p.dilation = 2;
  const Tensor x = test::random_tensor({1, 16, 2100}, 30);
  const Tensor w = test::random_tensor({24, 16, 11}, 31);
  const Tensor b = test::random_tensor({24}, 32);
  const Tensor r = test::random_tensor({1, 24, 2100}, 33);
  kernels::Conv1dFusion on_cpu;
  on_cpu.leaky_relu_input = true;
  on_cpu.negative_slope = 0.1f;
  on_cpu.residual = r;
  kernels::Conv1dFusion on_gpu = on_cpu;
  on_gpu.residual = gpu(r);
  check_close(kernels::conv1d(gpu(x), gpu(w), gpu(b), p, on_gpu),
              kernels::conv1d(x, w, b, p, on_cpu));
}

TEST_CASE("cuda conv_transpose1d with a leaky ReLU of x matches the CPU", "[cuda][conv]") {
  kernels::Conv1dParams p;
  p.stride = 8;
  p.padding = 4;
  const Tensor x = test::random_tensor({1, 64, 300}, 40);
  const Tensor w = test::random_tensor({64, 32, 16}, 41);
  const Tensor b = test::random_tensor({32}, 42);
  kernels::Conv1dFusion leaky;
  leaky.leaky_relu_input = true;
  leaky.negative_slope = 0.1f;
  check_close(kernels::conv_transpose1d(gpu(x), gpu(w), gpu(b), p, leaky),
              kernels::conv_transpose1d(x, w, b, p, leaky));
}

TEST_CASE("cuda residual_stacks_mean matches the CPU", "[cuda][conv]") {
  // HiFi-GAN ResBlocks (type 1) over 32 channels, kernels 3 and 7, dilations 1 and 3.
  std::vector<kernels::ResidualStack> cpu_stacks, gpu_stacks;
  uint64_t seed = 50;
  for (const int k : {3, 7}) {
    kernels::ResidualStack& c = cpu_stacks.emplace_back();
    kernels::ResidualStack& g = gpu_stacks.emplace_back();
    for (const int d : {1, 3}) {
      kernels::ResidualUnit& cu = c.emplace_back();
      kernels::ResidualUnit& gu = g.emplace_back();
      for (const int dilation : {d, 1}) {
        const Tensor w = test::random_tensor({32, 32, k}, ++seed, -0.1f, 0.1f);
        const Tensor b = test::random_tensor({32}, ++seed, -0.1f, 0.1f);
        cu.push_back({w, b, dilation});
        gu.push_back({gpu(w), gpu(b), dilation});
      }
    }
  }
  const Tensor x = test::random_tensor({1, 32, 3000}, 60);
  check_close(kernels::residual_stacks_mean(gpu(x), gpu_stacks, 0.1f),
              kernels::residual_stacks_mean(x, cpu_stacks, 0.1f));
  // bf16 products run on AMX CPUs only.
  CHECK_FALSE(kernels::bf16_products_available(Device::cuda()));
}

}  // namespace
}  // namespace mmgen
