// Tensor views and copies (core/tensor.cpp), element conversion (core/convert.cpp) and
// the f16/bf16/f8 conversions (core/half.h).
#include "core/tensor.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/convert.h"
#include "core/half.h"
#include "core/storage.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

Tensor iota(const Shape& shape) {
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  return Tensor::from_vector(values, shape);
}

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

TEST_CASE("new tensors have row-major strides and the requested contents", "[tensor]") {
  const Tensor t = Tensor::zeros({2, 3, 4});
  CHECK(t.defined());
  CHECK(t.dtype() == DType::kF32);
  CHECK(t.device().is_cpu());
  CHECK(t.strides() == Shape{12, 4, 1});
  CHECK(t.numel() == 24);
  CHECK(t.nbytes() == 96);
  CHECK(t.is_contiguous());
  CHECK(t.to_f32_vector() == std::vector<float>(24, 0.0f));
  CHECK(Tensor::full({2}, 2.5f).to_f32_vector() == std::vector<float>{2.5f, 2.5f});
  CHECK(t.dim(-1) == 4);
  CHECK(t.stride(-3) == 12);
  CHECK_THROWS_WITH(t.dim(3), Contains("out of range"));
  CHECK_THROWS_WITH(Tensor::empty({2, -1}, DType::kF32), Contains("negative dimension"));
  CHECK_THROWS_WITH(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), Contains("do not fill"));
  CHECK_FALSE(Tensor().defined());
  CHECK(t.str() == "f32[2, 3, 4] cpu");
  CHECK(shape_str({}) == "[]");
  CHECK(Tensor::from_vector<float>({7}, {}).numel() == 1);
  CHECK(Tensor::zeros({0, 5}).numel() == 0);
}

TEST_CASE("a storage keeps derived forms by key, made once", "[tensor]") {
  const Tensor t = iota({4, 8});
  Storage& storage = *t.storage();
  CHECK_FALSE(storage.read_only());
  storage.mark_read_only();
  CHECK(storage.read_only());
  CHECK(t.narrow(0, 1, 2).storage()->read_only());  // views share the storage
  int made = 0;
  auto make = [&] {
    ++made;
    return std::make_shared<const int>(made);
  };
  const auto a = storage.derived("form at 0", make);
  const auto again = storage.derived("form at 0", make);
  const auto other = storage.derived("form at 64", make);
  CHECK(a == again);
  CHECK(made == 2);
  CHECK(*std::static_pointer_cast<const int>(a) == 1);
  CHECK(*std::static_pointer_cast<const int>(other) == 2);
}

TEST_CASE("reshape and view share storage, and reshape copies when it must", "[tensor]") {
  const Tensor t = iota({2, 6});
  const Tensor v = t.view({3, -1});
  CHECK(v.shape() == Shape{3, 4});
  CHECK(v.storage() == t.storage());
  CHECK(v.to_f32_vector() == t.to_f32_vector());
  CHECK(t.reshape({12}).shape() == Shape{12});
  CHECK_THROWS_WITH(t.view({5, -1}), Contains("cannot reshape"));
  CHECK_THROWS_WITH(t.view({-1, -1}), Contains("more than one -1"));
  CHECK_THROWS_WITH(t.view({4, 4}), Contains("cannot reshape"));

  const Tensor transposed = t.transpose(0, 1);  // [6, 2], not contiguous
  CHECK_FALSE(transposed.is_contiguous());
  CHECK_THROWS_WITH(transposed.view({12}), Contains("non-contiguous"));
  const Tensor flat = transposed.reshape({12});
  CHECK(flat.storage() != t.storage());
  CHECK(flat.to_f32_vector() == std::vector<float>{0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
}

TEST_CASE("permute, transpose and contiguous reorder elements", "[tensor]") {
  const Tensor t = iota({2, 3, 4});
  const Tensor p = t.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK(p.storage() == t.storage());
  // p[i][j][k] == t[j][k][i]
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) CHECK(p.item_f32(i * 6 + j * 3 + k) == j * 12 + k * 4 + i);
  const Tensor c = p.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.strides() == Shape{6, 3, 1});
  CHECK(c.to_f32_vector() == p.to_f32_vector());
  CHECK(c.to_f32_vector()[1] == 4.0f);
  CHECK(t.contiguous().storage() == t.storage());  // already contiguous: no copy
  CHECK_THROWS_WITH(t.permute({0, 0, 1}), Contains("repeated"));
  CHECK_THROWS_WITH(t.permute({0, 1}), Contains("2 dims given"));
  CHECK(t.transpose(-1, 0).shape() == Shape{4, 3, 2});
}

TEST_CASE("narrow, unsqueeze and squeeze are views with the right offsets", "[tensor]") {
  const Tensor t = iota({4, 5});
  const Tensor rows = t.narrow(0, 1, 2);
  CHECK(rows.shape() == Shape{2, 5});
  CHECK(rows.byte_offset() == 5 * 4);
  CHECK(rows.is_contiguous());
  CHECK(rows.to_f32_vector()[0] == 5.0f);
  const Tensor cols = t.narrow(1, 3, 2);
  CHECK_FALSE(cols.is_contiguous());
  CHECK(cols.to_f32_vector() == std::vector<float>{3, 4, 8, 9, 13, 14, 18, 19});
  CHECK(cols.narrow(0, 3, 1).to_f32_vector() == std::vector<float>{18, 19});
  CHECK_THROWS_WITH(t.narrow(1, 4, 2), Contains("out of range"));
  CHECK_THROWS_WITH(t.narrow(0, -1, 1), Contains("out of range"));
  CHECK(t.narrow(0, 4, 0).numel() == 0);

  const Tensor u = t.unsqueeze(1);
  CHECK(u.shape() == Shape{4, 1, 5});
  CHECK(u.is_contiguous());
  CHECK(u.squeeze(1).shape() == Shape{4, 5});
  CHECK(t.unsqueeze(-1).shape() == Shape{4, 5, 1});
  CHECK_THROWS_WITH(t.squeeze(0), Contains("is not 1"));
}

TEST_CASE("clone copies, and item_f32 follows strides", "[tensor]") {
  const Tensor t = iota({3, 2});
  const Tensor c = t.clone();
  CHECK(c.storage() != t.storage());
  c.typed_data<float>()[0] = 100.0f;
  CHECK(t.item_f32(0) == 0.0f);
  const Tensor tt = t.transpose(0, 1);
  CHECK(tt.item_f32(1) == 2.0f);
  CHECK(tt.clone().to_f32_vector() == std::vector<float>{0, 2, 4, 1, 3, 5});
  CHECK_THROWS_WITH(t.item_f32(6), Contains("out of range"));
  CHECK_THROWS_WITH(t.typed_data<int32_t>(), Contains("f32") && Contains("i32"));
}

TEST_CASE("dtype conversion of tensors and element arrays", "[tensor][convert]") {
  const Tensor f = Tensor::from_vector<float>({-300.0f, -1.5f, 0.0f, 2.5f, 300.0f, NAN}, {6});
  CHECK(f.to(DType::kU8).to_i64_vector() == std::vector<int64_t>{0, 0, 0, 2, 255, 0});
  CHECK(f.to(DType::kI8).to_i64_vector() == std::vector<int64_t>{-128, -1, 0, 2, 127, 0});
  CHECK(f.to(DType::kBool).to_i64_vector() == std::vector<int64_t>{1, 1, 0, 1, 1, 1});
  const auto f64 = f.to(DType::kF64).to_f32_vector();
  CHECK(f64[3] == 2.5f);
  CHECK(std::isnan(f64[5]));
  CHECK(f.to(DType::kI32).to(DType::kF32).to_f32_vector()[4] == 300.0f);

  // Same-type conversion is a byte copy, exact even for 64-bit integers beyond 2^53.
  const int64_t big[] = {(1LL << 62) + 1, -((1LL << 60) + 3)};
  int64_t copy[2];
  convert_elements(DType::kI64, big, DType::kI64, copy, 2);
  CHECK(copy[0] == big[0]);
  CHECK(copy[1] == big[1]);

  // Quantised tensors convert through f32 only.
  const Tensor q = Tensor::full({2, 32}, 127.0f).to(DType::kQ8_0);  // d = 1: exact
  CHECK(q.dtype() == DType::kQ8_0);
  CHECK(q.nbytes() == 2 * 34);
  CHECK(q.to_f32_vector() == std::vector<float>(64, 127.0f));
  CHECK_THROWS_WITH(Tensor::full({30}, 1.0f).to(DType::kQ8_0), Contains("multiple of 32"));
  CHECK_THROWS_WITH(q.to(DType::kF16), Contains("converts only to f32"));
  CHECK_THROWS_WITH(q.narrow(1, 0, 16), Contains("split the blocks"));
  CHECK(q.narrow(0, 1, 1).to_f32_vector() == std::vector<float>(32, 127.0f));
}

TEST_CASE("f16 conversion is exact for every half value and rounds to nearest even",
          "[tensor][half]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = f16_to_f32(h);
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (nan) {
      REQUIRE(std::isnan(f));
      REQUIRE((f32_to_f16(f) & 0x7c00) == 0x7c00);
      REQUIRE((f32_to_f16(f) & 0x3ff) != 0);
    } else {
      REQUIRE(f32_to_f16(f) == h);
    }
  }
  // subnormals
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(f16_to_f32(0x8001) == -std::ldexp(1.0f, -24));
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);            // tie to even: 0
  CHECK(f32_to_f16(std::ldexp(1.0f, -25) * 1.0001f) == 0x0001);  // above the tie
  CHECK(f32_to_f16(std::ldexp(3.0f, -25)) == 0x0002);            // tie to even: 2
  CHECK(f32_to_f16(std::ldexp(1.0f, -26)) == 0x0000);
  CHECK(f32_to_f16(-0.0f) == 0x8000);
  // normal rounding
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie: stays even
  CHECK(f32_to_f16(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);  // tie: up to even
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11) * 1.001f) == 0x3c01);
  // range ends, infinities and NaN
  CHECK(f32_to_f16(65504.0f) == 0x7bff);
  CHECK(f32_to_f16(65519.0f) == 0x7bff);
  CHECK(f32_to_f16(65520.0f) == 0x7c00);
  CHECK(f32_to_f16(1e10f) == 0x7c00);
  CHECK(f32_to_f16(-1e10f) == 0xfc00);
  CHECK(f32_to_f16(INFINITY) == 0x7c00);
  CHECK(f32_to_f16(-INFINITY) == 0xfc00);
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK((f32_to_f16(NAN) & 0x7fff) > 0x7c00);
  CHECK(f16_to_f32(f32_to_f16(-2.75f)) == -2.75f);
}

TEST_CASE("bf16 conversion is exact for every bf16 value and rounds to nearest even",
          "[tensor][half]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto b = static_cast<uint16_t>(bits);
    const float f = bf16_to_f32(b);
    if (std::isnan(f)) {
      REQUIRE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    } else {
      REQUIRE(f32_to_bf16(f) == b);
    }
  }
  CHECK(bf16_to_f32(0x0001) == std::ldexp(1.0f, -133));       // smallest subnormal
  CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie: stays even
  CHECK(f32_to_bf16(1.0f + std::ldexp(3.0f, -8)) == 0x3f82);  // tie: up to even
  CHECK(f32_to_bf16(from_bits(0x7f7fffff)) == 0x7f80);        // max float rounds to inf
  CHECK(f32_to_bf16(INFINITY) == 0x7f80);
  CHECK(f32_to_bf16(-INFINITY) == 0xff80);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  // A NaN whose payload sits only in the low bits must not become infinity.
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7f800001)))));
  CHECK(f32_to_bf16(-0.0f) == 0x8000);
}

TEST_CASE("f8 formats decode as the safetensors F8_E4M3 and F8_E5M2 types", "[tensor][half]") {
  CHECK(f8e4m3_to_f32(0x38) == 1.0f);
  CHECK(f8e4m3_to_f32(0x7e) == 448.0f);  // largest finite
  CHECK(std::isnan(f8e4m3_to_f32(0x7f)));
  CHECK(std::isnan(f8e4m3_to_f32(0xff)));
  CHECK(f8e4m3_to_f32(0x08) == std::ldexp(1.0f, -6));  // smallest normal
  CHECK(f8e4m3_to_f32(0x01) == std::ldexp(1.0f, -9));  // smallest subnormal
  CHECK(f8e4m3_to_f32(0x87) == -std::ldexp(7.0f, -9));
  CHECK(f8e5m2_to_f32(0x3c) == 1.0f);
  CHECK(f8e5m2_to_f32(0x7b) == 57344.0f);
  CHECK(std::isinf(f8e5m2_to_f32(0x7c)));
  CHECK(std::isnan(f8e5m2_to_f32(0x7d)));
  CHECK(f8e5m2_to_f32(0x01) == std::ldexp(1.0f, -16));
  const uint8_t raw[] = {0x38, 0xc0};
  CHECK(Tensor::from_data(raw, {2}, DType::kF8E4M3).to_f32_vector() ==
        std::vector<float>{1.0f, -2.0f});
}

}  // namespace mmgen
