// conv1d with bf16 weights: bf16 products on AMX tiles where the CPU has them, the f32
// kernels with widened weights elsewhere.
#include <catch2/catch.hpp>

#include "core/thread_pool.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/amx_conv.h"
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

// The pool at `threads` threads for a scope (3: more than a 2-core machine has, so
// tasks queue), back to its size after.
class PoolThreads {
 public:
  explicit PoolThreads(int threads) : saved_(num_threads()) { set_num_threads(threads); }
  ~PoolThreads() { set_num_threads(saved_); }
  PoolThreads(const PoolThreads&) = delete;
  PoolThreads& operator=(const PoolThreads&) = delete;

 private:
  int saved_;
};

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
      // several stripes (32 channels: 1344 positions each) and a batch of two
      {{2, 32, 9000}, {32, 32, 7}, params(9, 3), true, 0.2f, true},
      // padding wider than the kernel, output longer than x; fewer positions than a tile
      {{1, 32, 5}, {16, 32, 3}, params(6, 1), true, 1.0f, false},
      // no padding: the output is shorter than x
      {{1, 64, 300}, {32, 64, 11}, params(0, 5), true, 0.1f, false},
  };
  for (const int use_threads : {1, 3}) {
    const PoolThreads pool(use_threads);
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

TEST_CASE("tile scopes nest: an inner one leaves the outer configuration loaded",
          "[kernels][bf16]") {
#if MMGEN_HAVE_AMX
  if (!amx()) {
    WARN("no AMX here");
    return;
  }
  namespace amx = kernels::cpu::amx;
  // conv_rows opens no scope of its own: it needs the outer one to survive the scopes a
  // convolution on this thread opens and closes.
  amx::PackedConv ones;
  const std::vector<uint16_t> weight(32 * 32 * 3, 0x3f80);  // bf16 1.0
  ones.pack(weight.data(), 32, 32, 3);
  amx::PaddedBias zero;
  zero.set(nullptr, 32, 32);
  kernels::cpu::AlignedBuffer<uint16_t> in_buffer;
  kernels::cpu::AlignedFloats out_buffer;
  uint16_t* in = in_buffer.get(48 * 32);
  std::fill(in, in + 48 * 32, uint16_t{0x3f80});
  float* out = out_buffer.get(32 * 32);
  {
    const PoolThreads pool(1);  // the convolution's scopes open on this thread
    const kernels::cpu::TileScope outer;
    const Tensor x = random_tensor({1, 32, 100}, 1200);
    (void)kernels::conv1d(x, random_tensor({32, 32, 3}, 1201).to(DType::kBF16));
    amx::conv_rows(in, ones, zero.data(), 1, out, 32, 32);
  }
  CHECK(out[0] == 96.0f);  // 32 channels x 3 taps of 1 x 1
  CHECK(out[32 * 32 - 1] == 96.0f);
#else
  WARN("this build has no AMX kernels");
  CHECK_FALSE(amx());
#endif
}

TEST_CASE("a read-only bf16 weight is packed once, any other on every call",
          "[kernels][conv1d][bf16]") {
  const Tensor x = random_tensor({1, 32, 200}, 1300);
  for (const bool read_only : {false, true}) {
    const Tensor w = random_tensor({32, 32, 3}, 1301).to(DType::kBF16);
    if (read_only) w.storage()->mark_read_only();
    const Tensor before = kernels::conv1d(x, w, Tensor(), params(1, 1));
    // Break the promise: change a weight in place.
    static_cast<uint16_t*>(w.data())[0] = 0x4000;  // 2.0
    const Tensor after = kernels::conv1d(x, w, Tensor(), params(1, 1));
    INFO("read-only " << read_only);
    if (read_only && amx()) {
      CHECK(test::compare(after, before).max_abs == 0.0);  // the packed copy was kept
    } else {
      CHECK(test::compare(after, before).max_abs > 0.0);  // packed again from the bytes
    }
  }
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

namespace mmgen {
namespace {

// residual_stacks_mean spelled out: one conv1d per convolution with its folds, then the
// sum and the mean.
Tensor composed_stacks_mean(const Tensor& x, const std::vector<kernels::ResidualStack>& stacks,
                            float slope) {
  Tensor sum;
  for (const kernels::ResidualStack& stack : stacks) {
    Tensor h = x;
    for (const kernels::ResidualUnit& unit : stack) {
      Tensor a = h;
      for (size_t c = 0; c < unit.size(); ++c) {
        const int k = static_cast<int>(unit[c].weight.dim(2));
        kernels::Conv1dFusion fusion;
        fusion.leaky_relu_input = true;
        fusion.negative_slope = slope;
        if (c + 1 == unit.size()) fusion.residual = h;
        a = kernels::conv1d(a, unit[c].weight, unit[c].bias,
                            params(unit[c].dilation * (k - 1) / 2, unit[c].dilation), fusion);
      }
      h = a;
    }
    sum = sum.defined() ? kernels::add(sum, h) : h;
  }
  return stacks.size() == 1 ? sum : kernels::scale(sum, 1.0f / static_cast<float>(stacks.size()));
}

// HiFi-GAN ResBlocks over `channels`: type 1 (units of a dilated and a plain
// convolution) or type 2 (one dilated convolution per unit), one stack per kernel.
std::vector<kernels::ResidualStack> resblocks(int64_t channels, const std::vector<int>& kernels,
                                              const std::vector<int>& dilations, bool type1,
                                              DType dtype, uint64_t seed) {
  std::vector<kernels::ResidualStack> stacks;
  for (const int k : kernels) {
    kernels::ResidualStack& stack = stacks.emplace_back();
    for (const int d : dilations) {
      kernels::ResidualUnit& unit = stack.emplace_back();
      for (int c = 0; c < (type1 ? 2 : 1); ++c) {
        const Tensor w = random_tensor({channels, channels, k}, ++seed, -0.1f, 0.1f).to(dtype);
        // Every other convolution without a bias.
        const Tensor b = seed % 2 ? random_tensor({channels}, ++seed, -0.1f, 0.1f) : Tensor();
        unit.push_back({w, b, c == 0 ? d : 1});
      }
    }
  }
  return stacks;
}

TEST_CASE("residual_stacks_mean rounds as the conv1d calls it stands for",
          "[kernels][conv1d][resblock]") {
  const Tensor x = random_tensor({2, 12, 300}, 960);
  for (const bool type1 : {true, false}) {
    const auto stacks = resblocks(12, {3, 7, 11}, {1, 3, 5}, type1, DType::kF32, 961);
    const Tensor expected = composed_stacks_mean(x, stacks, 0.1f);
    CHECK(test::compare(kernels::residual_stacks_mean(x, stacks, 0.1f), expected).max_abs == 0.0);
  }
  // One stack: no mean to take.
  const auto one = resblocks(12, {3}, {1, 2}, true, DType::kF32, 970);
  CHECK(
      test::compare(kernels::residual_stacks_mean(x, one, 0.2f), composed_stacks_mean(x, one, 0.2f))
          .max_abs == 0.0);
}

TEST_CASE("residual_stacks_mean with bf16 weights matches the conv1d calls",
          "[kernels][conv1d][resblock][bf16]") {
  if (!amx()) WARN("no AMX here: the stacks run as conv1d calls with widened weights");
  struct Case {
    Shape x;
    std::vector<int> kernels, dilations;
    bool type1;
  };
  const std::vector<Case> cases = {
      // HiFi-GAN V1's last level over several stripes, two images
      {{2, 32, 4000}, {3, 7, 11}, {1, 3, 5}, true},
      // fewer positions than the receptive field: every row touches the padding
      {{1, 32, 40}, {3, 7, 11}, {1, 3, 5}, true},
      // 48 channels (a zero-padded block), type 2 units
      {{1, 48, 700}, {3, 5}, {1, 2}, false},
  };
  for (const int use_threads : {1, 3}) {
    const PoolThreads pool(use_threads);
    uint64_t seed = 980;
    for (const Case& c : cases) {
      const Tensor x = random_tensor(c.x, ++seed);
      const auto stacks = resblocks(c.x[1], c.kernels, c.dilations, c.type1, DType::kBF16, ++seed);
      seed += 100;
      INFO("threads " << use_threads << " x " << shape_str(c.x));
      // The same tile sums per position as conv1d's, the same leaky ReLU and rounding of
      // each input, the residuals and the mean added in the same order: bit for bit.
      const test::Difference d = test::compare(kernels::residual_stacks_mean(x, stacks, 0.1f),
                                               composed_stacks_mean(x, stacks, 0.1f));
      INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
      CHECK(d.max_abs == 0.0);
      if (amx()) {
        // And the inputs really were rounded: f32 inputs with the same weights differ.
        auto widened = stacks;
        for (auto& stack : widened)
          for (auto& unit : stack)
            for (auto& conv : unit) conv.weight = conv.weight.to(DType::kF32);
        CHECK(test::compare(kernels::residual_stacks_mean(x, stacks, 0.1f),
                            composed_stacks_mean(x, widened, 0.1f))
                  .rel_l2 > 1e-5);
      }
    }
  }
}

TEST_CASE("residual_stacks_mean takes weights that are views", "[kernels][conv1d][resblock]") {
  const Tensor x = random_tensor({1, 32, 500}, 995);
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    auto stacks = resblocks(32, {3, 5}, {1, 2}, true, dtype, 996);
    auto views = stacks;
    // Each weight as a transposed view of its [out, k, in] copy: not contiguous.
    for (auto& stack : views)
      for (auto& unit : stack)
        for (auto& conv : unit) {
          conv.weight = conv.weight.permute({0, 2, 1}).contiguous().permute({0, 2, 1});
          REQUIRE_FALSE(conv.weight.is_contiguous());
        }
    INFO(dtype_name(dtype));
    CHECK(test::compare(kernels::residual_stacks_mean(x, views, 0.1f),
                        kernels::residual_stacks_mean(x, stacks, 0.1f))
              .max_abs == 0.0);
  }
}

TEST_CASE("residual_stacks_mean names the convolution with a bad shape",
          "[kernels][conv1d][resblock]") {
  const Tensor x = random_tensor({1, 8, 50}, 990);
  auto stacks = resblocks(8, {3}, {1, 3}, true, DType::kF32, 991);
  stacks[0][1][1].weight = random_tensor({8, 8, 4}, 992);
  CHECK_THROWS_WITH(kernels::residual_stacks_mean(x, stacks, 0.1f),
                    Catch::Contains("stack 0 unit 1 convolution 1: weight f32[8, 8, 4]") &&
                        Catch::Contains("k odd"));
  CHECK_THROWS_WITH(kernels::residual_stacks_mean(x, {}, 0.1f), Catch::Contains("no stacks"));
}

}  // namespace
}  // namespace mmgen

namespace mmgen {
namespace {

kernels::Conv1dParams transposed(int stride, int padding, int output_padding = 0) {
  kernels::Conv1dParams p;
  p.stride = stride;
  p.padding = padding;
  p.output_padding = output_padding;
  return p;
}

TEST_CASE("conv_transpose1d with bf16 weights sums bf16 products in f32",
          "[kernels][conv_transpose1d][bf16]") {
  if (!amx()) WARN("no AMX here: bf16 weights are widened and the f32 kernels run");
  struct Case {
    Shape x, w;
    kernels::Conv1dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      // HiFi-GAN V1's upsamplers: kernel 16 stride 8, kernel 4 stride 2
      {{1, 64, 40}, {64, 32, 16}, transposed(8, 4), true},
      {{2, 32, 300}, {32, 16, 4}, transposed(2, 1), true},
      // several stripes (about 680 inputs each here)
      {{1, 64, 1500}, {64, 32, 4}, transposed(2, 1), true},
      // a kernel that is not a multiple of the stride; output padding; 20 channels in,
      // 48 out (zero-padded blocks); no bias
      {{1, 20, 33}, {20, 48, 5}, transposed(2, 0, 1), false},
      // padding wider than the stride; one input position
      {{1, 32, 1}, {32, 16, 16}, transposed(8, 4), true},
      {{1, 32, 9}, {32, 16, 7}, transposed(3, 5), true},
  };
  for (const int use_threads : {1, 3}) {
    const PoolThreads pool(use_threads);
    uint64_t seed = 1000;
    for (const Case& c : cases) {
      const Tensor x = random_tensor(c.x, ++seed);
      const Tensor w = random_tensor(c.w, ++seed).to(DType::kBF16);
      const Tensor b = c.bias ? random_tensor({c.w[1]}, ++seed) : Tensor();
      INFO("threads " << use_threads << " x " << shape_str(c.x) << " w " << shape_str(c.w)
                      << " stride " << c.p.stride);
      CHECK(naive::mismatch(kernels::conv_transpose1d(x, w, b, c.p),
                            naive::conv_transpose1d(product_input(x, 1.0f), w, b, c.p),
                            1e-5) == "");
    }
  }
}

TEST_CASE("conv_transpose1d folds a leaky ReLU of x in, as the separate ops bit for bit",
          "[kernels][conv_transpose1d]") {
  const Tensor x = random_tensor({2, 64, 100}, 1100);
  const Tensor b = random_tensor({32}, 1101);
  kernels::Conv1dFusion fusion;
  fusion.leaky_relu_input = true;
  fusion.negative_slope = 0.1f;
  const Tensor activated = kernels::leaky_relu(x, 0.1f);
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor w = random_tensor({64, 32, 16}, 1102).to(dtype);
    INFO(dtype_name(dtype));
    CHECK(test::compare(kernels::conv_transpose1d(x, w, b, transposed(8, 4), fusion),
                        kernels::conv_transpose1d(activated, w, b, transposed(8, 4)))
              .max_abs == 0.0);
  }
  fusion.residual = random_tensor({2, 32, 800}, 1103);
  CHECK_THROWS_WITH(
      kernels::conv_transpose1d(x, random_tensor({64, 32, 16}, 1104), b, transposed(8, 4), fusion),
      Catch::Contains("conv_transpose1d: a residual is not folded in"));
}

}  // namespace
}  // namespace mmgen
