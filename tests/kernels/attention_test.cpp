#include <catch2/catch.hpp>
#include <limits>

#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using test::random_tensor;
namespace naive = test::naive;

constexpr double kTol = 1e-5;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Qkv {
  Tensor q, k, v;
};

Qkv make_qkv(int64_t b, int64_t hq, int64_t hkv, int64_t lq, int64_t lk, int64_t d, int64_t dv,
             uint64_t seed) {
  return {random_tensor({b, hq, lq, d}, seed, -2.0f, 2.0f),
          random_tensor({b, hkv, lk, d}, seed + 1, -2.0f, 2.0f),
          random_tensor({b, hkv, lk, dv}, seed + 2)};
}

kernels::AttentionParams params(Tensor mask = {}, bool causal = false, float scale = 0.0f) {
  kernels::AttentionParams p;
  p.mask = std::move(mask);
  p.causal = causal;
  p.scale = scale;
  return p;
}

TEST_CASE("attention matches the naive softmax(q k^T) v", "[kernels][attention]") {
  struct Case {
    int64_t b, hq, hkv, lq, lk, d, dv;
  };
  const std::vector<Case> cases = {
      {2, 3, 3, 5, 7, 16, 8},     // Dv != D
      {1, 6, 2, 9, 11, 8, 8},     // grouped-query attention
      {1, 2, 1, 1, 100, 32, 32},  // one query against a long cache
      {1, 4, 2, 1, 33, 64, 72},   // one query: an odd number of keys, a Dv tail of 8
      {1, 1, 1, 130, 129, 5, 3},  // several query blocks, odd head dim
      {3, 4, 4, 1, 1, 1, 1},
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    const Qkv t = make_qkv(c.b, c.hq, c.hkv, c.lq, c.lk, c.d, c.dv, seed += 3);
    INFO("b " << c.b << " hq " << c.hq << " hkv " << c.hkv << " lq " << c.lq << " lk " << c.lk);
    CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v),
                          naive::attention(t.q, t.k, t.v, {}, false), kTol) == "");
    CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v, params({}, false, 0.3f)),
                          naive::attention(t.q, t.k, t.v, {}, false, 0.3), kTol) == "");
  }
}

TEST_CASE("causal attention aligns the last query with the last key", "[kernels][attention]") {
  for (auto [lq, lk] : std::vector<std::pair<int64_t, int64_t>>{{3, 9}, {70, 70}, {1, 6}, {5, 3}}) {
    const Qkv t = make_qkv(2, 6, 2, lq, lk, 12, 12, 40 + lq);
    INFO("lq " << lq << " lk " << lk);
    CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v, params({}, true)),
                          naive::attention(t.q, t.k, t.v, {}, true), kTol) == "");
  }
  // Lq > Lk: the first queries see no key at all and give zeros.
  const Qkv t = make_qkv(1, 1, 1, 5, 3, 4, 4, 60);
  const auto y = kernels::attention(t.q, t.k, t.v, params({}, true)).to_f32_vector();
  for (int i = 0; i < 8; ++i) CHECK(y[i] == 0.0f);
}

TEST_CASE("attention masks broadcast and fully masked rows give zeros", "[kernels][attention]") {
  const int64_t b = 2, hq = 4, lq = 6, lk = 10;
  const Qkv t = make_qkv(b, hq, 2, lq, lk, 8, 8, 70);
  uint64_t seed = 80;
  for (const Shape& shape : std::vector<Shape>{
           {1, 1, lq, lk}, {b, 1, 1, lk}, {lq, lk}, {b, hq, lq, lk}, {1, hq, 1, 1}, {lk}}) {
    const Tensor mask = random_tensor(shape, ++seed, -3.0f, 1.0f);
    INFO("mask " << shape_str(shape));
    CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v, params(mask)),
                          naive::attention(t.q, t.k, t.v, mask, false), kTol) == "");
    CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v, params(mask, true)),
                          naive::attention(t.q, t.k, t.v, mask, true), kTol) == "");
  }
  // A padding mask hiding keys 3.. of batch 1, and one query row with every key masked.
  std::vector<float> m(static_cast<size_t>(b * lq * lk), 0.0f);
  for (int64_t j = 3; j < lk; ++j)
    for (int64_t i = 0; i < lq; ++i) m[(1 * lq + i) * lk + j] = -kInf;
  for (int64_t j = 0; j < lk; ++j) m[(0 * lq + 2) * lk + j] = -kInf;
  const Tensor mask = Tensor::from_vector(m, {b, 1, lq, lk});
  const Tensor y = kernels::attention(t.q, t.k, t.v, params(mask));
  CHECK(naive::mismatch(y, naive::attention(t.q, t.k, t.v, mask, false), kTol) == "");
  const auto values = y.to_f32_vector();
  for (int64_t h = 0; h < hq; ++h)
    for (int64_t e = 0; e < 8; ++e) CHECK(values[((0 * hq + h) * lq + 2) * 8 + e] == 0.0f);
}

TEST_CASE("attention over long query blocks shares packed keys and values",
          "[kernels][attention]") {
  // Enough queries per head for blocks of several register tiles.
  const Qkv t = make_qkv(1, 4, 2, 100, 300, 40, 24, 85);
  const Tensor mask = random_tensor({1, 1, 100, 300}, 86, -2.0f, 0.0f);
  CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v),
                        naive::attention(t.q, t.k, t.v, {}, false), kTol) == "");
  CHECK(naive::mismatch(kernels::attention(t.q, t.k, t.v, params(mask, true)),
                        naive::attention(t.q, t.k, t.v, mask, true), kTol) == "");
  const Qkv u = make_qkv(2, 2, 2, 90, 90, 16, 16, 87);
  CHECK(naive::mismatch(kernels::attention(u.q, u.k, u.v, params({}, true, 0.2f)),
                        naive::attention(u.q, u.k, u.v, {}, true, 0.2), kTol) == "");
}

TEST_CASE("attention reads strided q, k and v", "[kernels][attention]") {
  // [B, L, H, D] projections viewed as [B, H, L, D].
  const Tensor q = random_tensor({2, 7, 4, 8}, 90).permute({0, 2, 1, 3});
  const Tensor k = random_tensor({2, 9, 2, 8}, 91).permute({0, 2, 1, 3});
  const Tensor v = random_tensor({2, 9, 2, 8}, 92).permute({0, 2, 1, 3});
  CHECK(naive::mismatch(kernels::attention(q, k, v, params({}, true)),
                        naive::attention(q, k, v, {}, true), kTol) == "");
}

TEST_CASE("attention reports inconsistent shapes", "[kernels][attention]") {
  const Qkv t = make_qkv(1, 6, 4, 3, 5, 8, 8, 100);
  CHECK_THROWS_WITH(kernels::attention(t.q, t.k, t.v),
                    "attention: 6 query heads of q f32[1, 6, 3, 8] are not a multiple of the 4 "
                    "key/value heads of k f32[1, 4, 5, 8]");
  const Qkv u = make_qkv(1, 2, 2, 3, 5, 8, 8, 110);
  CHECK_THROWS_WITH(kernels::attention(u.q, u.k, u.v, params(random_tensor({1, 2, 3, 4}, 111))),
                    "attention: mask f32[1, 2, 3, 4] does not broadcast to [1, 2, 3, 5]");
  CHECK_THROWS_WITH(kernels::attention(u.q, random_tensor({1, 2, 5, 7}, 112), u.v),
                    Catch::StartsWith("attention: q f32[1, 2, 3, 8], k f32[1, 2, 5, 7] and v "
                                      "f32[1, 2, 5, 8] do not agree"));
}

}  // namespace
}  // namespace mmgen
