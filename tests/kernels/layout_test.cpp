#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/convert.h"
#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using test::random_tensor;
namespace naive = test::naive;

TEST_CASE("upsample_nearest2d repeats pixels", "[kernels][upsample_nearest2d]") {
  const Tensor x = random_tensor({2, 3, 4, 5}, 1);
  for (int factor : {1, 2, 3}) {
    CHECK(naive::mismatch(kernels::upsample_nearest2d(x, factor),
                          naive::upsample_nearest2d(x, factor), 0.0) == "");
  }
  const Tensor strided = random_tensor({2, 5, 4, 3}, 2).permute({0, 3, 2, 1});
  CHECK(naive::mismatch(kernels::upsample_nearest2d(strided, 2),
                        naive::upsample_nearest2d(strided, 2), 0.0) == "");
  CHECK_THROWS_WITH(kernels::upsample_nearest2d(x, 0),
                    "upsample_nearest2d: factor must be at least 1, got 0");
}

TEST_CASE("concat joins along any dim", "[kernels][concat]") {
  const Tensor a = random_tensor({2, 3, 4}, 10);
  const Tensor b = random_tensor({2, 5, 4}, 11);
  const Tensor c = random_tensor({2, 1, 4}, 12);
  CHECK(naive::mismatch(kernels::concat({a, b, c}, 1), naive::concat({a, b, c}, 1), 0.0) == "");
  const Tensor d = random_tensor({3, 3, 4}, 13);
  CHECK(naive::mismatch(kernels::concat({a, d}, 0), naive::concat({a, d}, 0), 0.0) == "");
  const Tensor e = random_tensor({2, 3, 7}, 14).narrow(2, 1, 2);  // strided input
  CHECK(naive::mismatch(kernels::concat({a, e}, -1), naive::concat({a, e}, -1), 0.0) == "");
  // Integer tensors keep their dtype and values.
  const Tensor i = Tensor::from_vector<int64_t>({1, 2, 3, 4}, {2, 2});
  const Tensor j = Tensor::from_vector<int64_t>({5, 6}, {2, 1});
  const Tensor ij = kernels::concat({i, j}, 1);
  CHECK(ij.dtype() == DType::kI64);
  CHECK(ij.to_i64_vector() == std::vector<int64_t>{1, 2, 5, 3, 4, 6});
  CHECK_THROWS_WITH(
      kernels::concat({a, random_tensor({2, 3, 5}, 15)}, 1),
      "concat: tensor 1 f32[2, 3, 5] does not match tensor 0 f32[2, 3, 4] outside dim 1");
  CHECK_THROWS_WITH(kernels::concat({a, b}, 3), "concat: dim 3 is out of range for 3-d tensors");
  CHECK_THROWS_WITH(kernels::concat({}, 0), "concat: no tensors given");
}

TEST_CASE("split returns views of consecutive pieces", "[kernels][split]") {
  const Tensor x = random_tensor({4, 9}, 20);
  const auto pieces = kernels::split(x, {2, 0, 7}, 1);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].shape() == Shape{4, 2});
  CHECK(pieces[1].shape() == Shape{4, 0});
  CHECK(pieces[2].shape() == Shape{4, 7});
  CHECK(pieces[2].storage() == x.storage());
  CHECK(pieces[2].item_f32(1 * 7 + 3) == x.item_f32(1 * 9 + 5));
  CHECK(naive::mismatch(kernels::concat(pieces, 1), x, 0.0) == "");
  CHECK_THROWS_WITH(kernels::split(x, {2, 3}, -1),
                    "split: sizes add up to 5 but dim 1 of f32[4, 9] is 9");
}

TEST_CASE("contiguous and permute gather strided tensors of every element size",
          "[kernels][contiguous][permute]") {
  const Tensor base = random_tensor({3, 4, 5, 6}, 30, -100.0f, 100.0f);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kU8, DType::kI64}) {
    const Tensor t = base.to(dtype);
    const std::vector<int> dims = {2, 0, 3, 1};
    const Tensor p = kernels::permute(t, dims);
    CHECK(p.is_contiguous());
    CHECK(p.dtype() == dtype);
    CHECK(p.shape() == Shape{5, 3, 6, 4});
    // Tensor's own strided copy is the reference.
    CHECK(naive::mismatch(p, t.permute(dims).contiguous(), 0.0) == "");
    const Tensor n = kernels::contiguous(t.narrow(3, 1, 4).narrow(1, 2, 2));
    CHECK(naive::mismatch(n, t.narrow(3, 1, 4).narrow(1, 2, 2).contiguous(), 0.0) == "");
  }
  // Contiguous input still gives a fresh copy.
  const Tensor copy = kernels::contiguous(base);
  CHECK(copy.storage() != base.storage());
  CHECK(naive::mismatch(copy, base, 0.0) == "");
}

TEST_CASE("cast converts between float types and from quantised types", "[kernels][cast]") {
  const Tensor x = random_tensor({7, 64}, 40, -3.0f, 3.0f);
  const Tensor h = kernels::cast(x, DType::kF16);
  CHECK(h.dtype() == DType::kF16);
  CHECK(naive::mismatch(h, x.to(DType::kF16), 0.0) == "");
  CHECK(naive::mismatch(kernels::cast(h, DType::kF32), x, 1e-3) == "");
  const Tensor bf = kernels::cast(x, DType::kBF16);
  CHECK(naive::mismatch(bf, x.to(DType::kBF16), 0.0) == "");
  CHECK(naive::mismatch(kernels::cast(bf, DType::kF16), x.to(DType::kBF16).to(DType::kF16), 0.0) ==
        "");
  // Quantised to f32 is dequantisation; f32 to quantised uses the reference quantiser.
  const Tensor q = x.to(DType::kQ4_1);
  std::vector<float> expected(static_cast<size_t>(x.numel()));
  dequantize_row(DType::kQ4_1, q.data(), expected.data(), x.numel());
  CHECK(kernels::cast(q, DType::kF32).to_f32_vector() == expected);
  const Tensor q8 = kernels::cast(x, DType::kQ8_0);
  CHECK(q8.nbytes() == x.to(DType::kQ8_0).nbytes());
  CHECK(std::memcmp(q8.data(), x.to(DType::kQ8_0).data(), q8.nbytes()) == 0);
  // Integers to f32, and f16 rounding of a strided view.
  CHECK(kernels::cast(Tensor::from_vector<int32_t>({-3, 7}, {2}), DType::kF32).to_f32_vector() ==
        std::vector<float>{-3.0f, 7.0f});
  const Tensor strided = x.transpose(0, 1);
  CHECK(naive::mismatch(kernels::cast(strided, DType::kF16), strided.contiguous().to(DType::kF16),
                        0.0) == "");
  CHECK_THROWS_WITH(kernels::cast(q, DType::kF16),
                    "cast: quantised q4_1[7, 64] converts only to f32, not f16");
}

TEST_CASE("argmax picks the first maximum of each row", "[kernels][argmax]") {
  const Tensor x = random_tensor({5, 3, 77}, 50);
  const Tensor y = kernels::argmax(x);
  CHECK(y.dtype() == DType::kI64);
  CHECK(y.shape() == Shape{5, 3});
  CHECK(y.to_i64_vector() == naive::argmax(x));
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  const Tensor ties = Tensor::from_vector<float>({1, 4, 4, 2, 0, kNan, 9, 9}, {2, 4});
  CHECK(kernels::argmax(ties).to_i64_vector() == std::vector<int64_t>{1, 1});
  const Tensor vec = Tensor::from_vector<float>({-5, -1, -3}, {3});
  const Tensor scalar = kernels::argmax(vec.to(DType::kF16));
  CHECK(scalar.ndim() == 0);
  CHECK(scalar.to_i64_vector() == std::vector<int64_t>{1});
  CHECK_THROWS_WITH(kernels::argmax(Tensor::zeros({2, 0})),
                    "argmax: x needs a non-empty last dim, got f32[2, 0]");
}

}  // namespace
}  // namespace mmgen
