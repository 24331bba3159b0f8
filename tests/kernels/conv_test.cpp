#include <catch2/catch.hpp>

#include "core/thread_pool.h"
#include "kernels/cpu/conv1d_winograd.h"
#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using test::random_tensor;
namespace naive = test::naive;

constexpr double kTol = 1e-5;

kernels::Conv2dParams conv2d_params(int stride_h, int stride_w, int pad_h, int pad_w,
                                    int dilation_h, int dilation_w, int groups) {
  kernels::Conv2dParams p;
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.pad_h = pad_h;
  p.pad_w = pad_w;
  p.dilation_h = dilation_h;
  p.dilation_w = dilation_w;
  p.groups = groups;
  return p;
}

kernels::Conv1dParams conv1d_params(int stride, int padding, int dilation, int groups,
                                    int output_padding = 0) {
  kernels::Conv1dParams p;
  p.stride = stride;
  p.padding = padding;
  p.dilation = dilation;
  p.groups = groups;
  p.output_padding = output_padding;
  return p;
}

TEST_CASE("conv2d matches the naive convolution", "[kernels][conv2d]") {
  struct Case {
    Shape x, w;
    kernels::Conv2dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 3, 9, 11}, {5, 3, 3, 3}, conv2d_params(1, 1, 1, 1, 1, 1, 1), true},
      {{1, 3, 9, 11}, {4, 3, 3, 3}, conv2d_params(2, 2, 0, 0, 1, 1, 1), true},      // stride 2
      {{1, 4, 13, 10}, {6, 4, 3, 3}, conv2d_params(1, 1, 2, 2, 2, 2, 1), false},    // dilation
      {{2, 6, 7, 8}, {4, 3, 3, 3}, conv2d_params(1, 1, 1, 1, 1, 1, 2), true},       // groups
      {{1, 5, 6, 7}, {5, 1, 3, 3}, conv2d_params(1, 1, 1, 1, 1, 1, 5), true},       // depthwise
      {{2, 7, 5, 9}, {3, 7, 1, 1}, conv2d_params(1, 1, 0, 0, 1, 1, 1), true},       // pointwise
      {{1, 2, 8, 9}, {3, 2, 3, 1}, conv2d_params(2, 1, 1, 0, 1, 1, 1), true},       // asymmetric
      {{1, 3, 4, 4}, {2, 3, 4, 4}, conv2d_params(1, 1, 0, 0, 1, 1, 1), true},       // 1x1 output
      {{1, 16, 33, 31}, {24, 16, 3, 3}, conv2d_params(1, 1, 1, 1, 1, 1, 1), true},  // blocks
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.x, ++seed);
    const Tensor w = random_tensor(c.w, ++seed);
    const Tensor b = c.bias ? random_tensor({c.w[0]}, ++seed) : Tensor();
    INFO("x " << shape_str(c.x) << " w " << shape_str(c.w) << " groups " << c.p.groups);
    CHECK(naive::mismatch(kernels::conv2d(x, w, b, c.p), naive::conv2d(x, w, b, c.p), kTol) == "");
  }
}

TEST_CASE("conv2d takes f16 and bf16 weights and strided inputs", "[kernels][conv2d]") {
  const auto p = conv2d_params(1, 1, 1, 1, 1, 1, 1);
  const Tensor x = random_tensor({2, 4, 10, 12}, 50);
  const Tensor b = random_tensor({6}, 51);
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    const Tensor w = random_tensor({6, 4, 3, 3}, 52).to(dtype);
    const Tensor bh = b.to(dtype);
    CHECK(naive::mismatch(kernels::conv2d(x, w, bh, p), naive::conv2d(x, w, bh, p), kTol) == "");
  }
  // A channel slice of a bigger tensor, and an NHWC tensor viewed as NCHW.
  const Tensor wide = random_tensor({2, 9, 10, 12}, 53).narrow(1, 2, 4);
  const Tensor nhwc = random_tensor({2, 10, 12, 4}, 54).permute({0, 3, 1, 2});
  const Tensor w = random_tensor({6, 4, 3, 3}, 55);
  CHECK(naive::mismatch(kernels::conv2d(wide, w, b, p), naive::conv2d(wide, w, b, p), kTol) == "");
  CHECK(naive::mismatch(kernels::conv2d(nhwc, w, b, p), naive::conv2d(nhwc, w, b, p), kTol) == "");
}

TEST_CASE("conv1d matches the naive convolution", "[kernels][conv1d]") {
  struct Case {
    Shape x, w;
    kernels::Conv1dParams p;
  };
  const std::vector<Case> cases = {
      {{2, 3, 17}, {5, 3, 3}, conv1d_params(1, 1, 1, 1)},
      {{1, 4, 23}, {6, 4, 5}, conv1d_params(2, 2, 1, 1)},
      {{1, 4, 30}, {4, 2, 3}, conv1d_params(1, 3, 3, 2)},  // dilation and groups
      {{3, 6, 8}, {6, 1, 7}, conv1d_params(1, 3, 1, 6)},   // depthwise
      {{1, 5, 1}, {2, 5, 1}, conv1d_params(1, 0, 1, 1)},   // length 1
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.x, ++seed);
    const DType weight_type = seed % 2 ? DType::kF32 : DType::kF16;
    const Tensor w = random_tensor(c.w, ++seed).to(weight_type);
    const Tensor b = random_tensor({c.w[0]}, ++seed);
    INFO("x " << shape_str(c.x) << " w " << shape_str(c.w));
    CHECK(naive::mismatch(kernels::conv1d(x, w, b, c.p), naive::conv1d(x, w, b, c.p), kTol) == "");
  }
}

// A conv1d case: shapes of x and the weight, parameters, and whether there is a bias.
struct Conv1dCase {
  Shape x, w;
  kernels::Conv1dParams p;
  bool bias;
};

// conv(x, w, b, case) for every case against the naive convolution, with 1 and 3
// threads; the inputs are drawn from seeds following `seed`.
template <typename Conv>
void check_conv1d_cases(const std::vector<Conv1dCase>& cases, uint64_t seed, Conv&& conv) {
  const int threads = num_threads();
  for (const int use_threads : {1, 3}) {
    set_num_threads(use_threads);
    uint64_t next = seed;
    for (const Conv1dCase& c : cases) {
      const Tensor x = random_tensor(c.x, ++next);
      const Tensor w = random_tensor(c.w, ++next);
      const Tensor b = c.bias ? random_tensor({c.w[0]}, ++next) : Tensor();
      INFO("threads " << use_threads << " x " << shape_str(c.x) << " w " << shape_str(c.w));
      CHECK(naive::mismatch(conv(x, w, b, c), naive::conv1d(x, w, b, c.p), kTol) == "");
    }
  }
  set_num_threads(threads);
}

TEST_CASE("stride-1 conv1d covers every tile, block and task shape", "[kernels][conv1d]") {
  // The implicit GEMM path: tiles of 8 channels x 48 positions (AVX-512), depth
  // blocks of 256 (channel, tap) rows, blocks of 384 positions, tasks over both.
  const std::vector<Conv1dCase> cases = {
      // depth 352 (two depth blocks), two position blocks, a two-vector last tile
      {{1, 32, 700}, {32, 32, 11}, conv1d_params(1, 25, 5, 1), true},
      // 13 output channels (a partial row tile), 50 positions (a one-vector last tile)
      {{2, 20, 50}, {13, 20, 7}, conv1d_params(1, 9, 3, 1), true},
      // 38 positions: a three-vector partial tile; no bias
      {{1, 5, 40}, {3, 5, 3}, conv1d_params(1, 0, 1, 1), false},
      // padding wider than the kernel: zero columns on both sides
      {{1, 3, 10}, {4, 3, 3}, conv1d_params(1, 6, 1, 1), true},
      // groups and batch
      {{2, 8, 100}, {12, 4, 5}, conv1d_params(1, 4, 2, 2), true},
      // whole tiles only, kernel 1
      {{1, 16, 96}, {16, 16, 1}, conv1d_params(1, 0, 1, 1), true},
      // HiFi-GAN ResBlock shape (kernel 3, dilation 3) with 64 channels
      {{1, 64, 515}, {64, 64, 3}, conv1d_params(1, 3, 3, 1), true},
      // output shorter than the input (no padding, wide dilated kernel)
      {{1, 6, 60}, {9, 6, 11}, conv1d_params(1, 0, 5, 1), true},
      // one output channel (HiFi-GAN's conv_post): one-row tiles, a partial last one
      {{1, 32, 300}, {1, 32, 7}, conv1d_params(1, 3, 1, 1), true},
      // one output channel, whole tiles only, two images, no bias
      {{2, 5, 96}, {1, 5, 3}, conv1d_params(1, 1, 1, 1), false},
  };
  check_conv1d_cases(cases, 400,
                     [](const Tensor& x, const Tensor& w, const Tensor& b, const Conv1dCase& c) {
                       return kernels::conv1d(x, w, b, c.p);
                     });
}

kernels::cpu::Conv1dShape conv1d_shape(const Shape& x, const Shape& w,
                                       const kernels::Conv1dParams& p) {
  const int64_t out = x[2] + 2 * p.padding - p.dilation * (w[2] - 1);
  return {x[0], x[1], x[2], w[0], w[2], p.padding, p.dilation, 1, out};
}

TEST_CASE("stride-1 conv1d by Winograd matches the naive convolution", "[kernels][conv1d]") {
  // Called directly, so that short shapes (which conv1d keeps on the implicit GEMM)
  // cover every tile, chunk and lane edge.
  const std::vector<Conv1dCase> cases = {
      // 3 taps: F(4, 3), one chunk; a last tile group of one tile
      {{1, 16, 300}, {16, 16, 3}, conv1d_params(1, 1, 1, 1), true},
      // 4 taps, "same" padding impossible: the output is one shorter than the input
      {{1, 9, 130}, {8, 9, 4}, conv1d_params(1, 1, 1, 1), true},
      // 7 taps, dilation 3: two chunks, the second reading tiles 3 further on
      {{2, 20, 257}, {13, 20, 7}, conv1d_params(1, 9, 3, 1), true},
      // 11 taps, dilation 5 (a HiFi-GAN ResBlock): three chunks, 12 taps with the zero
      {{1, 32, 700}, {32, 32, 11}, conv1d_params(1, 25, 5, 1), true},
      // 5 taps (conv1d keeps them on the implicit GEMM, but the path computes them)
      {{1, 8, 99}, {10, 8, 5}, conv1d_params(1, 2, 2, 1), false},
      // no padding, wide dilated kernel: the output is shorter than the input
      {{1, 6, 90}, {9, 6, 11}, conv1d_params(1, 0, 5, 1), true},
      // padding wider than the kernel: zero columns on both sides
      {{1, 5, 20}, {8, 5, 3}, conv1d_params(1, 6, 1, 1), true},
      // fewer positions than lanes
      {{1, 4, 7}, {8, 4, 3}, conv1d_params(1, 1, 1, 1), true},
  };
  check_conv1d_cases(
      cases, 500, [](const Tensor& x, const Tensor& w, const Tensor& b, const Conv1dCase& c) {
        const kernels::cpu::Conv1dShape s = conv1d_shape(c.x, c.w, c.p);
        Tensor y = Tensor::empty({s.batch, s.out_channels, s.out_length}, DType::kF32);
        kernels::cpu::conv1d_winograd(x.typed_data<float>(), w.typed_data<float>(),
                                      c.bias ? b.typed_data<float>() : nullptr,
                                      y.typed_data<float>(), s);
        return y;
      });
}

TEST_CASE("Winograd conv1d over several stripes matches the implicit GEMM", "[kernels][conv1d]") {
  // 128 channels in and out: stripes of 400 positions per lane (the 4 MiB budget, raised
  // to 4x the halo of 11 taps at dilation 5: 20 blocks of 20), so 36000 positions (2250
  // per lane, 113 blocks) take six, the last one of 13 blocks; two images, with the
  // folded activation and residual. One thread runs the stripes one after the other,
  // two take whole stripes (twelve of them).
  const Shape xs{2, 128, 36000}, ws{128, 128, 11};
  const kernels::Conv1dParams p = conv1d_params(1, 25, 5, 1);
  const Tensor x = random_tensor(xs, 651), w = random_tensor(ws, 652, -0.03f, 0.03f);
  const Tensor b = random_tensor({128}, 653), r = random_tensor(xs, 654);
  const kernels::cpu::Conv1dShape s = conv1d_shape(xs, ws, p);
  const kernels::cpu::Conv1dFolds folds{0.1f, r.typed_data<float>()};
  Tensor direct = Tensor::empty(xs, DType::kF32);
  kernels::cpu::conv1d_implicit_gemm(x.typed_data<float>(), w.typed_data<float>(),
                                     b.typed_data<float>(), direct.typed_data<float>(), s, folds);
  const int threads = num_threads();
  for (const int use_threads : {1, 2}) {
    set_num_threads(use_threads);
    Tensor winograd = Tensor::empty(xs, DType::kF32);
    kernels::cpu::conv1d_winograd(x.typed_data<float>(), w.typed_data<float>(),
                                  b.typed_data<float>(), winograd.typed_data<float>(), s, folds);
    const test::Difference d = test::compare(winograd, direct);
    INFO("threads " << use_threads << " max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
    CHECK(d.rel_l2 < 2e-6);
    CHECK(d.max_abs < 2e-5);
  }
  set_num_threads(threads);
}

TEST_CASE("conv1d takes Winograd's path where it saves products", "[kernels][conv1d]") {
  using kernels::cpu::conv1d_winograd_applies;
  const auto p = [](int padding, int dilation) { return conv1d_params(1, padding, dilation, 1); };
  // HiFi-GAN ResBlocks at their lengths for 10 s of audio
  CHECK(conv1d_winograd_applies(conv1d_shape({1, 256, 7064}, {256, 256, 11}, p(25, 5))));
  CHECK(conv1d_winograd_applies(conv1d_shape({1, 128, 56512}, {128, 128, 7}, p(9, 3))));
  CHECK(conv1d_winograd_applies(conv1d_shape({1, 32, 226048}, {32, 32, 11}, p(5, 1))));
  // 32 channels x 3 taps: only where x outgrows the caches
  CHECK(conv1d_winograd_applies(conv1d_shape({1, 32, 226048}, {32, 32, 3}, p(1, 1))));
  CHECK_FALSE(conv1d_winograd_applies(conv1d_shape({1, 32, 65536}, {32, 32, 3}, p(1, 1))));
  CHECK_FALSE(conv1d_winograd_applies(conv1d_shape({1, 16, 226048}, {16, 16, 3}, p(1, 1))));
  // 5 taps: two 4-tap chunks save too little
  CHECK_FALSE(conv1d_winograd_applies(conv1d_shape({1, 192, 9000}, {192, 192, 5}, p(2, 1))));
  // short rows, one output channel, 1x1
  CHECK_FALSE(conv1d_winograd_applies(conv1d_shape({1, 256, 200}, {256, 256, 3}, p(1, 1))));
  CHECK_FALSE(conv1d_winograd_applies(conv1d_shape({1, 32, 226048}, {1, 32, 7}, p(3, 1))));
  CHECK_FALSE(conv1d_winograd_applies(conv1d_shape({1, 256, 7064}, {256, 256, 1}, p(0, 1))));

  // And through kernels::conv1d on such a shape, with a batch of two.
  const Shape xs{2, 16, 2100}, ws{24, 16, 11};
  const kernels::Conv1dParams params = p(10, 2);
  REQUIRE(conv1d_winograd_applies(conv1d_shape(xs, ws, params)));
  const Tensor x = random_tensor(xs, 601), w = random_tensor(ws, 602), b = random_tensor({24}, 603);
  CHECK(naive::mismatch(kernels::conv1d(x, w, b, params), naive::conv1d(x, w, b, params), kTol) ==
        "");
}

TEST_CASE("conv1d folds a leaky ReLU of x and a residual in, as the separate ops bit for bit",
          "[kernels][conv1d]") {
  struct Case {
    const char* path;
    Shape x, w;
    kernels::Conv1dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {"winograd", {2, 16, 2100}, {24, 16, 11}, conv1d_params(1, 10, 2, 1), true},
      // two depth blocks (352 rows), a partial row tile (13 channels), masked last tiles
      {"implicit gemm", {1, 32, 700}, {13, 32, 11}, conv1d_params(1, 25, 5, 1), true},
      {"implicit gemm, no bias", {2, 5, 40}, {3, 5, 3}, conv1d_params(1, 1, 1, 1), false},
      {"strided (im2col)", {1, 4, 23}, {6, 4, 5}, conv1d_params(2, 2, 1, 1), true},
  };
  const int threads = num_threads();
  for (const int use_threads : {1, 3}) {
    set_num_threads(use_threads);
    uint64_t seed = 700;
    for (const Case& c : cases) {
      const Tensor x = random_tensor(c.x, ++seed);
      const Tensor w = random_tensor(c.w, ++seed);
      const Tensor b = c.bias ? random_tensor({c.w[0]}, ++seed) : Tensor();
      const Tensor plain = kernels::conv1d(x, w, b, c.p);
      const Tensor r = random_tensor(plain.shape(), ++seed);
      INFO(c.path << ", threads " << use_threads);
      kernels::Conv1dFusion fusion;
      fusion.leaky_relu_input = true;
      fusion.negative_slope = 0.1f;
      const Tensor activated = kernels::leaky_relu(x, 0.1f);
      CHECK(test::compare(kernels::conv1d(x, w, b, c.p, fusion),
                          kernels::conv1d(activated, w, b, c.p))
                .max_abs == 0.0);
      fusion.residual = r;
      CHECK(test::compare(kernels::conv1d(x, w, b, c.p, fusion),
                          kernels::add(kernels::conv1d(activated, w, b, c.p), r))
                .max_abs == 0.0);
      fusion.leaky_relu_input = false;
      CHECK(test::compare(kernels::conv1d(x, w, b, c.p, fusion), kernels::add(plain, r)).max_abs ==
            0.0);
    }
  }
  set_num_threads(threads);

  kernels::Conv1dFusion wrong;
  wrong.residual = random_tensor({1, 6, 9}, 799);
  CHECK_THROWS_WITH(kernels::conv1d(random_tensor({1, 4, 23}, 1), random_tensor({6, 4, 5}, 2),
                                    Tensor(), conv1d_params(2, 2, 1, 1), wrong),
                    Catch::StartsWith("conv1d: residual f32[1, 6, 9] must have the output's shape "
                                      "[1, 6, 12]"));
}

TEST_CASE("conv_transpose1d matches the naive transposed convolution",
          "[kernels][conv_transpose1d]") {
  struct Case {
    Shape x, w;
    kernels::Conv1dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 3, 7}, {3, 4, 3}, conv1d_params(1, 0, 1, 1), true},
      {{1, 4, 9}, {4, 3, 4}, conv1d_params(2, 1, 1, 1, 1), true},   // output padding
      {{1, 4, 6}, {4, 2, 3}, conv1d_params(3, 2, 2, 2, 1), false},  // dilation, groups
      {{1, 8, 19}, {8, 4, 16}, conv1d_params(8, 4, 1, 1), true},    // HiFi-GAN upsampler
      {{2, 2, 1}, {2, 5, 2}, conv1d_params(1, 0, 1, 1), true},      // length 1
  };
  uint64_t seed = 200;
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.x, ++seed);
    const Tensor w = random_tensor(c.w, ++seed);
    const Tensor b = c.bias ? random_tensor({c.w[1] * c.p.groups}, ++seed) : Tensor();
    INFO("x " << shape_str(c.x) << " w " << shape_str(c.w));
    CHECK(naive::mismatch(kernels::conv_transpose1d(x, w, b, c.p),
                          naive::conv_transpose1d(x, w, b, c.p), kTol) == "");
  }
}

TEST_CASE("conv_transpose1d matches the naive one at vocoder and edge shapes",
          "[kernels][conv_transpose1d]") {
  // GEMM into (output channel, tap) columns, then the strided overlap-add.
  struct Case {
    Shape x, w;
    kernels::Conv1dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      // HiFi-GAN's later upsamplers: kernel 4, stride 2, padding 1; 20 output channels
      {{1, 24, 130}, {24, 20, 4}, conv1d_params(2, 1, 1, 1), true},
      // depth 64 x 8 taps = 512 (two depth blocks), kernel 16 stride 2
      {{1, 64, 50}, {64, 9, 16}, conv1d_params(2, 7, 1, 1), true},
      // kernel not a multiple of the stride, padding wider than the stride
      {{2, 5, 33}, {5, 6, 5}, conv1d_params(3, 4, 1, 1), true},
      // kernel shorter than the stride: outputs with no tap get the bias alone
      {{1, 4, 12}, {4, 3, 2}, conv1d_params(3, 0, 1, 1, 2), true},
      // groups, no bias, output padding past the last input
      {{2, 6, 21}, {6, 4, 4}, conv1d_params(2, 1, 1, 3, 1), false},
  };
  const int threads = num_threads();
  for (const int use_threads : {1, 3}) {
    set_num_threads(use_threads);
    uint64_t seed = 500;
    for (const Case& c : cases) {
      const Tensor x = random_tensor(c.x, ++seed);
      const Tensor w = random_tensor(c.w, ++seed);
      const Tensor b = c.bias ? random_tensor({c.w[1] * c.p.groups}, ++seed) : Tensor();
      INFO("threads " << use_threads << " x " << shape_str(c.x) << " w " << shape_str(c.w));
      CHECK(naive::mismatch(kernels::conv_transpose1d(x, w, b, c.p),
                            naive::conv_transpose1d(x, w, b, c.p), kTol) == "");
    }
  }
  set_num_threads(threads);
}

TEST_CASE("convolutions report mismatched shapes and parameters",
          "[kernels][conv2d][conv1d][conv_transpose1d]") {
  const Tensor x = random_tensor({1, 3, 8, 8}, 300);
  CHECK_THROWS_WITH(kernels::conv2d(x, random_tensor({4, 2, 3, 3}, 301)),
                    "conv2d: x f32[1, 3, 8, 8] does not match weight f32[4, 2, 3, 3] with groups 1 "
                    "(weight needs [O, 3, kh, kw], O divisible by 1)");
  CHECK_THROWS_WITH(kernels::conv2d(x, random_tensor({4, 3, 9, 9}, 302)),
                    Catch::Contains("is smaller than the kernel span 9"));
  CHECK_THROWS_WITH(kernels::conv2d(x, random_tensor({4, 3, 3, 3}, 303), random_tensor({5}, 304)),
                    "conv2d: bias f32[5] must be [4]");
  kernels::Conv2dParams bad;
  bad.stride_h = 0;
  CHECK_THROWS_WITH(kernels::conv2d(x, random_tensor({4, 3, 3, 3}, 305), {}, bad),
                    Catch::StartsWith("conv2d: invalid parameters stride 0x1"));
  CHECK_THROWS_WITH(kernels::conv1d(random_tensor({1, 4, 9}, 306), random_tensor({2, 3, 3}, 307)),
                    Catch::StartsWith("conv1d: x f32[1, 4, 9] does not match weight f32[2, 3, 3]"));
  CHECK_THROWS_WITH(
      kernels::conv_transpose1d(random_tensor({1, 4, 9}, 308), random_tensor({3, 2, 3}, 309)),
      Catch::StartsWith("conv_transpose1d: x f32[1, 4, 9] does not match weight f32[3, 2, 3]"));
  CHECK_THROWS_WITH(
      kernels::conv_transpose1d(random_tensor({1, 4, 9}, 310), random_tensor({4, 2, 3}, 311), {},
                                conv1d_params(2, 0, 1, 1, 2)),
      Catch::Contains("output_padding must be below stride or dilation"));
  CHECK_THROWS_WITH(
      kernels::conv2d(random_tensor({3, 8, 8}, 312), random_tensor({4, 3, 3, 3}, 313)),
      "conv2d: x must be 4-d [N, C, H, W], got f32[3, 8, 8]");
}

}  // namespace
}  // namespace mmgen
