// attention on CUDA against the CPU backend: plain, grouped-query, Dv != D,
// causal with KV-cache alignment, additive masks and fully masked rows.
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

void check_close(const Tensor& cuda_result, const Tensor& cpu_result) {
  REQUIRE(cuda_result.device().is_cuda());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
  REQUIRE(d.rel_l2 <= 1e-5);
  REQUIRE(d.max_abs <= 5e-5);
}

Tensor run_cuda(const Tensor& q, const Tensor& k, const Tensor& v, kernels::AttentionParams p) {
  p.mask = gpu(p.mask);
  return kernels::attention(gpu(q), gpu(k), gpu(v), p);
}

TEST_CASE("cuda attention matches the CPU without a mask", "[cuda][attention]") {
  const Tensor q = test::random_tensor({2, 4, 37, 24}, 1);
  const Tensor k = test::random_tensor({2, 4, 37, 24}, 2);
  const Tensor v = test::random_tensor({2, 4, 37, 24}, 3);
  kernels::AttentionParams p;
  check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
  p.scale = 0.3f;
  check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
}

TEST_CASE("cuda attention handles grouped-query heads and Dv != D", "[cuda][attention]") {
  const Tensor q = test::random_tensor({2, 6, 11, 16}, 4);
  const Tensor k = test::random_tensor({2, 2, 19, 16}, 5);
  const Tensor v = test::random_tensor({2, 2, 19, 10}, 6);
  kernels::AttentionParams p;
  const Tensor out = run_cuda(q, k, v, p);
  REQUIRE(out.shape() == Shape{2, 6, 11, 10});
  check_close(out, kernels::attention(q, k, v, p));
}

TEST_CASE("cuda attention is causal with the KV-cache alignment", "[cuda][attention]") {
  kernels::AttentionParams p;
  p.causal = true;
  SECTION("prefill, Lq == Lk") {
    const Tensor q = test::random_tensor({1, 4, 29, 32}, 7);
    const Tensor k = test::random_tensor({1, 2, 29, 32}, 8);
    const Tensor v = test::random_tensor({1, 2, 29, 32}, 9);
    check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
  }
  SECTION("decode against a cache, Lq < Lk") {
    const Tensor q = test::random_tensor({2, 8, 5, 32}, 10);
    const Tensor k = test::random_tensor({2, 8, 23, 32}, 11);
    const Tensor v = test::random_tensor({2, 8, 23, 32}, 12);
    check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
  }
  SECTION("more queries than keys leaves the first rows empty") {
    const Tensor q = test::random_tensor({1, 2, 9, 8}, 13);
    const Tensor k = test::random_tensor({1, 2, 4, 8}, 14);
    const Tensor v = test::random_tensor({1, 2, 4, 8}, 15);
    const Tensor out = run_cuda(q, k, v, p);
    check_close(out, kernels::attention(q, k, v, p));
    const auto values = out.cpu().to_f32_vector();
    for (int64_t i = 0; i < 8 * 5; ++i) REQUIRE(values[i] == 0.0f);  // head 0, rows 0..4
  }
}

TEST_CASE("cuda attention applies additive masks", "[cuda][attention]") {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor q = test::random_tensor({2, 3, 6, 8}, 20);
  const Tensor k = test::random_tensor({2, 3, 10, 8}, 21);
  const Tensor v = test::random_tensor({2, 3, 10, 8}, 22);
  kernels::AttentionParams p;
  SECTION("one padding mask for all heads, with a fully masked row") {
    std::vector<float> mask(6 * 10, 0.0f);
    for (int j = 7; j < 10; ++j)
      for (int i = 0; i < 6; ++i) mask[i * 10 + j] = -inf;  // padding keys
    for (int j = 0; j < 10; ++j) mask[2 * 10 + j] = -inf;   // query 2 sees nothing
    p.mask = Tensor::from_vector(mask, {1, 1, 6, 10});
    const Tensor out = run_cuda(q, k, v, p);
    check_close(out, kernels::attention(q, k, v, p));
    const auto values = out.cpu().to_f32_vector();
    for (int64_t d = 0; d < 8; ++d) REQUIRE(values[2 * 8 + d] == 0.0f);
  }
  SECTION("a dense mask per batch and head, with causal") {
    p.mask = test::random_tensor({2, 3, 6, 10}, 23, -3.0f, 3.0f);
    p.causal = true;
    check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
  }
  SECTION("a per-batch mask broadcast over heads") {
    p.mask = test::random_tensor({2, 1, 6, 10}, 24, -2.0f, 0.0f);
    check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
  }
}

TEST_CASE("cuda attention reads token-major K and V views in place", "[cuda][attention]") {
  // A KV cache stores [L, Hkv, D] rows; attention sees them as [1, Hkv, L, D] views.
  const Tensor cache_k = test::random_tensor({29, 2, 16}, 11);
  const Tensor cache_v = test::random_tensor({29, 2, 16}, 12);
  const Tensor q = test::random_tensor({1, 6, 1, 16}, 13);
  const Tensor k = cache_k.narrow(0, 0, 23).unsqueeze(0).transpose(1, 2);
  const Tensor v = cache_v.narrow(0, 0, 23).unsqueeze(0).transpose(1, 2);
  REQUIRE_FALSE(k.is_contiguous());
  kernels::AttentionParams p;
  p.causal = true;
  const Tensor gk = gpu(cache_k).narrow(0, 0, 23).unsqueeze(0).transpose(1, 2);
  const Tensor gv = gpu(cache_v).narrow(0, 0, 23).unsqueeze(0).transpose(1, 2);
  check_close(kernels::attention(gpu(q), gk, gv, p), kernels::attention(q, k, v, p));
  // Several query positions (prefill into a filled cache) and a batch of two items.
  const Tensor q4 = test::random_tensor({1, 6, 4, 16}, 14);
  check_close(kernels::attention(gpu(q4), gk, gv, p), kernels::attention(q4, k, v, p));
  const Tensor kb_rows = test::random_tensor({2, 29, 2, 16}, 15);
  const Tensor vb_rows = test::random_tensor({2, 29, 2, 16}, 16);
  const Tensor qb = test::random_tensor({2, 6, 3, 16}, 17);
  check_close(
      kernels::attention(gpu(qb), gpu(kb_rows).transpose(1, 2), gpu(vb_rows).transpose(1, 2), p),
      kernels::attention(qb, kb_rows.transpose(1, 2), vb_rows.transpose(1, 2), p));
}

TEST_CASE("cuda attention of a single decode token", "[cuda][attention]") {
  const Tensor q = test::random_tensor({1, 8, 1, 64}, 30);
  const Tensor k = test::random_tensor({1, 2, 100, 64}, 31);
  const Tensor v = test::random_tensor({1, 2, 100, 64}, 32);
  kernels::AttentionParams p;
  p.causal = true;
  check_close(run_cuda(q, k, v, p), kernels::attention(q, k, v, p));
}

}  // namespace
}  // namespace mmgen
