// conv1d with bf16 weights: bf16 products on AMX tiles where the CPU has them, the f32
// kernels with widened weights elsewhere.
#include <catch2/catch.hpp>

#include "core/thread_pool.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/conv1d_amx.h"
#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using test::random_tensor;
namespace naive = test::naive;

kernels::Conv1dParams params(int padding, int dilation) {
  kernels::Conv1dParams p;
  p.padding = padding;
  p.dilation = dilation;
  return p;
}

bool amx() { return kernels::cpu::amx_bf16_available(); }

// What the products see: x after the activation, rounded to bf16 where AMX computes.
Tensor product_input(const Tensor& x, float slope) {
  const Tensor a = slope == 1.0f ? x : kernels::leaky_relu(x, slope);
  return amx() ? a.to(DType::kBF16).to(DType::kF32) : a;
}

TEST_CASE("conv1d with bf16 weights sums bf16 products in f32", "[kernels][conv1d][bf16]") {
  if (!amx()) WARN("no AMX here: bf16 weights are widened and the f32 kernels run");
  struct Case {
    Shape x, w;
    kernels::Conv1dParams p;
    bool bias;
    float slope;
    bool residual;
  };
  const std::vector<Case> cases = {
      // HiFi-GAN ResBlock shapes: whole tiles and channel blocks, a partial last block
      {{1, 32, 1000}, {32, 32, 3}, params(1, 1), true, 0.1f, true},
      {{1, 64, 515}, {64, 64, 11}, params(25, 5), true, 0.1f, false},
      // channels neither a multiple of 32 in nor out (zero-padded blocks), no bias
      {{2, 20, 150}, {24, 20, 7}, params(9, 3), false, 1.0f, true},
      // 48 output channels: a tile pair half past the last row; one tap
      {{1, 40, 77}, {48, 40, 1}, params(0, 1), true, 1.0f, false},
      // several stripes (32 channels: 4096 positions each) and a batch of two
      {{2, 32, 9000}, {32, 32, 7}, params(9, 3), true, 0.2f, true},
      // padding wider than the kernel, output longer than x; fewer positions than a tile
      {{1, 32, 5}, {16, 32, 3}, params(6, 1), true, 1.0f, false},
      // no padding: the output is shorter than x
      {{1, 64, 300}, {32, 64, 11}, params(0, 5), true, 0.1f, false},
  };
  const int threads = num_threads();
  for (const int use_threads : {1, 3}) {
    set_num_threads(use_threads);
    uint64_t seed = 900;
    for (const Case& c : cases) {
      const Tensor x = random_tensor(c.x, ++seed);
      const Tensor w = random_tensor(c.w, ++seed).to(DType::kBF16);
      const Tensor b = c.bias ? random_tensor({c.w[0]}, ++seed) : Tensor();
      const Tensor y_shape = naive::conv1d(x, w, b, c.p);
      kernels::Conv1dFusion fusion;
      fusion.leaky_relu_input = c.slope != 1.0f;
      fusion.negative_slope = c.slope;
      if (c.residual) fusion.residual = random_tensor(y_shape.shape(), ++seed);
      Tensor expected = naive::conv1d(product_input(x, c.slope), w, b, c.p);
      if (c.residual) expected = kernels::add(expected, fusion.residual);
      INFO("threads " << use_threads << " x " << shape_str(c.x) << " w " << shape_str(c.w));
      // Products of bf16 values are exact in f32: only the order of the sums differs.
      CHECK(naive::mismatch(kernels::conv1d(x, w, b, c.p, fusion), expected, 1e-5) == "");
    }
  }
  set_num_threads(threads);
}

TEST_CASE("bf16 weights stay within bf16 rounding of the f32 convolution",
          "[kernels][conv1d][bf16]") {
  // The error budget a model sees: weights and (with AMX) inputs rounded to 8 bits of
  // mantissa, 256 channels x 11 taps per sum.
  const Tensor x = random_tensor({1, 256, 2000}, 950);
  const Tensor w = random_tensor({256, 256, 11}, 951, -0.05f, 0.05f);
  const kernels::Conv1dParams p = params(25, 5);
  const Tensor exact = kernels::conv1d(x, w, Tensor(), p);
  const Tensor bf16 = kernels::conv1d(x, w.to(DType::kBF16), Tensor(), p);
  const test::Difference d = test::compare(bf16, exact);
  INFO("rel_l2 " << d.rel_l2);
  CHECK(d.rel_l2 < (amx() ? 6e-3 : 4e-3));
  CHECK(d.rel_l2 > 1e-4);  // the rounding is really there
}

TEST_CASE("the AMX conv1d applies to one group and at least 16 output channels",
          "[kernels][conv1d][bf16]") {
  using kernels::cpu::conv1d_amx_applies;
  const kernels::cpu::Conv1dShape resblock{1, 32, 1000, 32, 3, 1, 1, 1, 1000};
  CHECK(conv1d_amx_applies(resblock) == amx());
  kernels::cpu::Conv1dShape post = resblock;
  post.out_channels = 1;  // HiFi-GAN's conv_post: one row of sixteen would be wasted
  CHECK_FALSE(conv1d_amx_applies(post));
  kernels::cpu::Conv1dShape grouped = resblock;
  grouped.groups = 2;
  CHECK_FALSE(conv1d_amx_applies(grouped));
}

}  // namespace
}  // namespace mmgen
