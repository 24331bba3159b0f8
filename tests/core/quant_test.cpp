// Block (de)quantisation: hand-built blocks with exact values, element-by-element
// decoding of the ggml layouts, quantiser error bounds, and golden weights.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "core/convert.h"
#include "core/gguf.h"
#include "core/half.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

void put_f16(std::vector<uint8_t>& block, size_t at, float value) {
  const uint16_t h = f32_to_f16(value);
  std::memcpy(block.data() + at, &h, 2);
}

float get_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

std::vector<float> dequantize(DType type, const std::vector<uint8_t>& blocks) {
  const int64_t n = static_cast<int64_t>(blocks.size() / block_bytes(type)) * block_size(type);
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, blocks.data(), out.data(), n);
  return out;
}

std::vector<uint8_t> quantize(DType type, const std::vector<float>& values) {
  std::vector<uint8_t> out(bytes_for(type, static_cast<int64_t>(values.size())));
  quantize_row(type, values.data(), out.data(), static_cast<int64_t>(values.size()));
  return out;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// ---- The K-quant layouts decoded one element at a time (index arithmetic written
// from the layout description, independent of the block loops in core/quant.cpp).

// 6-bit scale and min of sub-block j of Q4_K / Q5_K.
std::pair<int, int> k4_scale_min(const uint8_t* s, int j) {
  if (j < 4) return {s[j] & 63, s[j + 4] & 63};
  return {(s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)};
}

float q2_k_element(const uint8_t* b, int e) {
  const int n = e / 128, j = (e % 128) / 32, h = (e % 32) / 16, l = e % 16;
  const int q = (b[16 + 32 * n + 16 * h + l] >> (2 * j)) & 3;
  const int sc = b[8 * n + 2 * j + h];
  return get_f16(b + 80) * static_cast<float>(sc & 15) * static_cast<float>(q) -
         get_f16(b + 82) * static_cast<float>(sc >> 4);
}

float q3_k_element(const uint8_t* b, int e) {
  const int n = e / 128, j = (e % 128) / 32, h = (e % 32) / 16, l = e % 16;
  const int low = (b[32 + 32 * n + 16 * h + l] >> (2 * j)) & 3;
  const bool high = (b[16 * h + l] >> (4 * n + j)) & 1;
  const int is = 8 * n + 2 * j + h;
  const uint8_t* s = b + 96;
  const int scale4 = is < 8 ? s[is] & 15 : s[is - 8] >> 4;
  const int scale = (scale4 | (((s[8 + is % 4] >> (2 * (is / 4))) & 3) << 4)) - 32;
  return get_f16(b + 108) * static_cast<float>(scale) * static_cast<float>(low - (high ? 0 : 4));
}

float q4_k_element(const uint8_t* b, int e) {
  const int c = e / 64, h = (e % 64) / 32, l = e % 32;
  const uint8_t byte = b[16 + 32 * c + l];
  const int q = h ? byte >> 4 : byte & 15;
  const auto [sc, mn] = k4_scale_min(b + 4, 2 * c + h);
  return get_f16(b) * static_cast<float>(sc) * static_cast<float>(q) -
         get_f16(b + 2) * static_cast<float>(mn);
}

float q5_k_element(const uint8_t* b, int e) {
  const int c = e / 64, h = (e % 64) / 32, l = e % 32;
  const uint8_t byte = b[48 + 32 * c + l];
  const int high = (b[16 + l] >> (2 * c + h)) & 1;
  const int q = (h ? byte >> 4 : byte & 15) + 16 * high;
  const auto [sc, mn] = k4_scale_min(b + 4, 2 * c + h);
  return get_f16(b) * static_cast<float>(sc) * static_cast<float>(q) -
         get_f16(b + 2) * static_cast<float>(mn);
}

float q6_k_element(const uint8_t* b, int e) {
  const int n = e / 128, k = (e % 128) / 32, l = e % 32;
  const uint8_t low_byte = b[64 * n + l + 32 * (k & 1)];
  const int low = k < 2 ? low_byte & 15 : low_byte >> 4;
  const int high = (b[128 + 32 * n + l] >> (2 * k)) & 3;
  const auto scale = static_cast<int8_t>(b[192 + 8 * n + l / 16 + 2 * k]);
  return get_f16(b + 208) * static_cast<float>(scale) *
         static_cast<float>((low | (high << 4)) - 32);
}

float q8_k_element(const uint8_t* b, int e) {
  float d;
  std::memcpy(&d, b, 4);
  return d * static_cast<float>(static_cast<int8_t>(b[4 + e]));
}

}  // namespace

TEST_CASE("q4_0 hand-built block and reference quantisation", "[quant]") {
  // d = 0.5; element j in the low nibble of qs[j], element j+16 in the high nibble.
  std::vector<uint8_t> block(18);
  put_f16(block, 0, 0.5f);
  for (int j = 0; j < 16; ++j) block[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequantize(DType::kQ4_0, block);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == (j - 8) * 0.5f);
    CHECK(y[j + 16] == (7 - j) * 0.5f);
  }

  // x = j - 8 in both halves: the largest magnitude is -8, so d = 1 and q = x + 8.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16 - 8);
  const auto q = quantize(DType::kQ4_0, x);
  CHECK(get_f16(q.data()) == 1.0f);
  for (int j = 0; j < 16; ++j) CHECK(q[2 + j] == (j | (j << 4)));
  CHECK(dequantize(DType::kQ4_0, q) == x);
}

TEST_CASE("q4_1 hand-built block and reference quantisation", "[quant]") {
  std::vector<uint8_t> block(20);
  put_f16(block, 0, 0.25f);
  put_f16(block, 2, -1.0f);
  for (int j = 0; j < 16; ++j) block[4 + j] = static_cast<uint8_t>(j | (3 << 4));
  const auto y = dequantize(DType::kQ4_1, block);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == j * 0.25f - 1.0f);
    CHECK(y[j + 16] == -0.25f);
  }

  // min -1, max 14: d = 1, m = -1, q = x + 1.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16 - 1);
  const auto q = quantize(DType::kQ4_1, x);
  CHECK(get_f16(q.data()) == 1.0f);
  CHECK(get_f16(q.data() + 2) == -1.0f);
  for (int j = 0; j < 16; ++j) CHECK(q[4 + j] == (j | (j << 4)));
  CHECK(dequantize(DType::kQ4_1, q) == x);
}

TEST_CASE("q5_0 hand-built block and reference quantisation", "[quant]") {
  // qh bit i is the fifth bit of element i.
  std::vector<uint8_t> block(22);
  put_f16(block, 0, 2.0f);
  const uint32_t qh = 0x80000001u;  // elements 0 and 31 have the high bit
  std::memcpy(block.data() + 2, &qh, 4);
  for (int j = 0; j < 16; ++j) block[6 + j] = static_cast<uint8_t>(j | (j << 4));
  const auto y = dequantize(DType::kQ5_0, block);
  CHECK(y[0] == (16 + 0 - 16) * 2.0f);
  CHECK(y[1] == (1 - 16) * 2.0f);
  CHECK(y[15] == (15 - 16) * 2.0f);
  CHECK(y[16] == (0 - 16) * 2.0f);
  CHECK(y[31] == (16 + 15 - 16) * 2.0f);

  // x = j - 16: the largest magnitude is -16, so d = 1 and q = j.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  const auto q = quantize(DType::kQ5_0, x);
  CHECK(get_f16(q.data()) == 1.0f);
  uint32_t packed;
  std::memcpy(&packed, q.data() + 2, 4);
  CHECK(packed == 0xffff0000u);
  for (int j = 0; j < 16; ++j) CHECK(q[6 + j] == (j | (j << 4)));
  CHECK(dequantize(DType::kQ5_0, q) == x);
}

TEST_CASE("q5_1 hand-built block and reference quantisation", "[quant]") {
  std::vector<uint8_t> block(24);
  put_f16(block, 0, 0.5f);
  put_f16(block, 2, 3.0f);
  const uint32_t qh = 0x00010002u;  // elements 1 and 16
  std::memcpy(block.data() + 4, &qh, 4);
  for (int j = 0; j < 16; ++j) block[8 + j] = static_cast<uint8_t>(15 | (1 << 4));
  const auto y = dequantize(DType::kQ5_1, block);
  CHECK(y[0] == 15 * 0.5f + 3.0f);
  CHECK(y[1] == 31 * 0.5f + 3.0f);
  CHECK(y[16] == 17 * 0.5f + 3.0f);
  CHECK(y[17] == 1 * 0.5f + 3.0f);

  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j);
  const auto q = quantize(DType::kQ5_1, x);
  CHECK(get_f16(q.data()) == 1.0f);
  CHECK(get_f16(q.data() + 2) == 0.0f);
  uint32_t packed;
  std::memcpy(&packed, q.data() + 4, 4);
  CHECK(packed == 0xffff0000u);
  CHECK(dequantize(DType::kQ5_1, q) == x);
}

TEST_CASE("q8_0 hand-built block and reference quantisation", "[quant]") {
  std::vector<uint8_t> block(34);
  put_f16(block, 0, 0.25f);
  for (int j = 0; j < 32; ++j)
    block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  const auto y = dequantize(DType::kQ8_0, block);
  for (int j = 0; j < 32; ++j) CHECK(y[j] == (j * 8 - 128) * 0.25f);

  // amax 127 gives d = 1; values round half away from zero.
  std::vector<float> x(32, 0.0f);
  const float values[] = {127, -127, 0, 1, -1, 2.4f, 2.5f, -2.5f, 2.6f};
  std::copy(std::begin(values), std::end(values), x.begin());
  const auto q = quantize(DType::kQ8_0, x);
  CHECK(get_f16(q.data()) == 1.0f);
  const int expected[] = {127, -127, 0, 1, -1, 2, 3, -3, 3};
  for (int j = 0; j < 9; ++j) CHECK(static_cast<int8_t>(q[2 + j]) == expected[j]);

  // An all-zero block has d = 0 and decodes to zeros.
  const auto zero = quantize(DType::kQ8_0, std::vector<float>(32, 0.0f));
  CHECK(dequantize(DType::kQ8_0, zero) == std::vector<float>(32, 0.0f));
}

TEST_CASE("K-quant hand-built blocks give the values of the ggml layouts", "[quant]") {
  SECTION("q2_k") {
    std::vector<uint8_t> b(84, 0);
    put_f16(b, 80, 0.5f);   // d
    put_f16(b, 82, 0.25f);  // dmin
    b[0] = 0x21;            // group 0: scale 1, min 2
    b[1] = 0x13;            // group 1 (elements 16..31): scale 3, min 1
    b[16] = 0b11100100;     // element 0: 0, element 32: 1, element 64: 2, element 96: 3
    b[32] = 0x03;           // element 16: 3
    b[2] = 0x04;            // group 2 (elements 32..47): scale 4
    b[4] = 0x05;            // group 4 (elements 64..79): scale 5
    b[6] = 0x06;            // group 6 (elements 96..111): scale 6
    const auto y = dequantize(DType::kQ2_K, b);
    CHECK(y[0] == 0.5f * 1 * 0 - 0.25f * 2);
    CHECK(y[1] == -0.5f);
    CHECK(y[16] == 0.5f * 3 * 3 - 0.25f * 1);
    CHECK(y[32] == 0.5f * 4 * 1);
    CHECK(y[64] == 0.5f * 5 * 2);
    CHECK(y[96] == 0.5f * 6 * 3);
    CHECK(y[255] == 0.0f);
  }
  SECTION("q3_k") {
    std::vector<uint8_t> b(110, 0);
    put_f16(b, 108, 2.0f);
    // Scale 0 = 33 (6 bits 100001): low nibble 1 in scales[0], high bits 10 in scales[8].
    b[96] = 0x01;
    b[104] = 0x02;
    b[0] = 0x01;   // element 0 has its high bit: q = low
    b[32] = 0x02;  // element 0 low bits 2
    const auto y = dequantize(DType::kQ3_K, b);
    CHECK(y[0] == 2.0f * (33 - 32) * 2);
    CHECK(y[1] == 2.0f * (33 - 32) * (0 - 4));  // no high bit: q = low - 4
    CHECK(y[16] == 2.0f * (0 - 32) * (0 - 4));  // scale 1 is 0 -> -32
  }
  SECTION("q4_k") {
    std::vector<uint8_t> b(144, 0);
    put_f16(b, 0, 0.5f);
    put_f16(b, 2, 0.125f);
    b[4] = 10;          // scale 0
    b[8] = 3;           // min 0
    b[5] = 7;           // scale 1 (elements 32..63)
    b[12] = 0x21;       // scale 4 low nibble 1, min 4 low nibble 2
    b[4] |= 1u << 6;    // scale 4 high bits 01 -> 17 (and scale 0 stays 10 in its low 6 bits)
    b[16] = 0x5f;       // element 0: 15, element 32: 5
    b[16 + 64] = 0x09;  // element 128 (sub-block 4): 9
    const auto y = dequantize(DType::kQ4_K, b);
    CHECK(y[0] == 0.5f * 10 * 15 - 0.125f * 3);
    CHECK(y[32] == 0.5f * 7 * 5);
    CHECK(y[128] == 0.5f * 17 * 9 - 0.125f * 2);
  }
  SECTION("q5_k") {
    std::vector<uint8_t> b(176, 0);
    put_f16(b, 0, 1.0f);
    put_f16(b, 2, 1.0f);
    b[4] = 2;      // scale 0
    b[8] = 1;      // min 0
    b[5] = 3;      // scale 1
    b[16] = 0x03;  // element 0 and element 32 have their fifth bit
    b[48] = 0x21;  // element 0 low 1, element 32 low 2
    const auto y = dequantize(DType::kQ5_K, b);
    CHECK(y[0] == 2.0f * (1 + 16) - 1.0f);
    CHECK(y[32] == 3.0f * (2 + 16));
    CHECK(y[1] == -1.0f);
  }
  SECTION("q6_k") {
    std::vector<uint8_t> b(210, 0);
    put_f16(b, 208, 0.5f);
    b[192] = 2;                         // scale of elements 0..15
    b[194] = static_cast<uint8_t>(-3);  // elements 32..47
    b[0] = 0x0f;                        // element 0 low 15, element 64 low 0
    b[128] = 0x02 | (0x03 << 2);        // element 0 high 2, element 32 high 3
    const auto y = dequantize(DType::kQ6_K, b);
    CHECK(y[0] == 0.5f * 2 * ((15 | (2 << 4)) - 32));
    CHECK(y[32] == 0.5f * -3 * ((3 << 4) - 32));
    CHECK(y[1] == 0.5f * 2 * -32);
  }
  SECTION("q8_k") {
    std::vector<uint8_t> b(292, 0);
    const float d = 0.75f;
    std::memcpy(b.data(), &d, 4);
    b[4] = static_cast<uint8_t>(-4);
    b[4 + 255] = 100;
    const auto y = dequantize(DType::kQ8_K, b);
    CHECK(y[0] == -3.0f);
    CHECK(y[255] == 75.0f);
    CHECK(y[1] == 0.0f);
  }
}

TEST_CASE("K-quant dequantisation matches the layout element by element", "[quant]") {
  using ElementFn = float (*)(const uint8_t*, int);
  const std::vector<std::tuple<DType, ElementFn, std::vector<size_t>>> types = {
      {DType::kQ2_K, q2_k_element, {80, 82}}, {DType::kQ3_K, q3_k_element, {108}},
      {DType::kQ4_K, q4_k_element, {0, 2}},   {DType::kQ5_K, q5_k_element, {0, 2}},
      {DType::kQ6_K, q6_k_element, {208}},    {DType::kQ8_K, q8_k_element, {}}};
  for (const auto& [type, element, f16_fields] : types) {
    INFO(dtype_name(type));
    const int blocks = 3;
    auto bytes = random_bytes(block_bytes(type) * blocks, 7);
    for (int i = 0; i < blocks; ++i) {
      // Keep the f16 scales finite so that values compare exactly.
      for (size_t at : f16_fields) put_f16(bytes, i * block_bytes(type) + at, 0.01f * (i + 1));
      if (type == DType::kQ8_K) {
        const float d = 0.02f * (i + 1);
        std::memcpy(bytes.data() + i * block_bytes(type), &d, 4);
      }
    }
    const auto y = dequantize(type, bytes);
    REQUIRE(y.size() == 256u * blocks);
    for (int i = 0; i < blocks; ++i)
      for (int e = 0; e < 256; ++e)
        REQUIRE(y[i * 256 + e] == element(bytes.data() + i * block_bytes(type), e));
  }
}

TEST_CASE("quantisers stay within the per-block error bound of their format", "[quant]") {
  const Tensor x = test::random_tensor({64, 256}, 99, -3.0f, 3.0f);
  const float* v = x.typed_data<float>();
  const int64_t n = x.numel();
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0}) {
    INFO(dtype_name(type));
    std::vector<float> values(v, v + n);
    // Include a constant block and an all-zero block.
    std::fill(values.begin(), values.begin() + 32, 0.75f);
    std::fill(values.begin() + 32, values.begin() + 64, 0.0f);
    const auto q = quantize(type, values);
    const auto y = dequantize(type, q);
    double worst = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      float min = INFINITY, max = -INFINITY, amax = 0;
      for (int j = 0; j < 32; ++j) {
        min = std::min(min, values[b * 32 + j]);
        max = std::max(max, values[b * 32 + j]);
        amax = std::max(amax, std::fabs(values[b * 32 + j]));
      }
      // Half a step (a whole step at the clamped end of the symmetric 4/5-bit types),
      // plus the f16 rounding of the scale (and of the min) over the full range.
      const double f16_slop = 3.0 * amax / 2048;
      double bound = 0;
      switch (type) {
        case DType::kQ4_0:
          bound = amax / 8.0 + f16_slop;
          break;
        case DType::kQ5_0:
          bound = amax / 16.0 + f16_slop;
          break;
        case DType::kQ8_0:
          bound = amax / 127.0 / 2 + f16_slop;
          break;
        case DType::kQ4_1:
          bound = (max - min) / 15.0 / 2 + f16_slop;
          break;
        default:
          bound = (max - min) / 31.0 / 2 + f16_slop;
          break;
      }
      for (int j = 0; j < 32; ++j) {
        const double err = std::fabs(y[b * 32 + j] - values[b * 32 + j]);
        worst = std::max(worst, err / (bound + 1e-12));
        REQUIRE(err <= bound + 1e-7);
      }
    }
    CHECK(worst > 0.3);  // the bound is tight, not vacuous
    CHECK(y[0] == Approx(0.75f).margin(0.75f / 1024));
    for (int j = 32; j < 64; ++j) CHECK(y[j] == 0.0f);
    // The mean error shrinks with more bits: sanity check on the ordering.
  }
  const auto rms = [&](DType type) {
    const std::vector<float> values(v, v + n);
    const auto y = dequantize(type, quantize(type, values));
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += (y[i] - values[i]) * (y[i] - values[i]);
    return std::sqrt(sum / n);
  };
  CHECK(rms(DType::kQ8_0) < rms(DType::kQ5_1));
  CHECK(rms(DType::kQ5_0) < rms(DType::kQ4_0));
  CHECK(rms(DType::kQ5_1) < rms(DType::kQ4_1));
}

TEST_CASE("quantisation rejects partial blocks and types without a quantiser", "[quant]") {
  std::vector<float> x(48, 1.0f);
  std::vector<uint8_t> out(512);
  CHECK_THROWS_WITH(quantize_row(DType::kQ8_0, x.data(), out.data(), 48),
                    Contains("48 elements") && Contains("q8_0"));
  CHECK_THROWS_WITH(dequantize_row(DType::kQ4_K, out.data(), x.data(), 32), Contains("q4_k"));
  CHECK_THROWS_WITH(quantize_row(DType::kQ4_K, x.data(), out.data(), 256),
                    Contains("no quantiser for q4_k"));
  CHECK_THROWS_WITH(dequantize_row(DType::kF32, out.data(), x.data(), 4),
                    Contains("not a quantised type"));
  // NaN input stays defined (no crash, no undefined casts).
  std::vector<float> nan(32, NAN);
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0})
    CHECK_NOTHROW(quantize(type, nan));
}

TEST_CASE("golden GGUF weights quantised to q8_0 and q4_0 decode within bounds", "[quant]") {
  // The golden GGUF files hold f32/f16 tensors; quantise one through a GGUF file and back.
  auto golden = ModelFile::open(test::golden_file("llm/llama_tiny.gguf"));
  const Tensor weight = golden->tensor("blk.0.ffn_gate.weight").to(DType::kF32);  // [172, 64]
  const auto dir = test::temp_dir("quant-golden");
  GgufWriter w;
  w.add_tensor("q8", weight.to(DType::kQ8_0));
  w.add_tensor("q4", weight.to(DType::kQ4_0));
  w.write(dir / "q.gguf");
  auto file = ModelFile::open(dir / "q.gguf");
  CHECK(file->info("q8").dtype == DType::kQ8_0);
  CHECK(file->info("q8").shape == weight.shape());
  const auto q8 = test::compare(file->tensor("q8"), weight);
  const auto q4 = test::compare(file->tensor("q4"), weight);
  CHECK(q8.rel_l2 < 0.01);
  CHECK(q4.rel_l2 < 0.15);
  CHECK(q8.rel_l2 < q4.rel_l2);
  const auto w_values = weight.to_f32_vector();
  const float amax =
      std::fabs(*std::max_element(w_values.begin(), w_values.end(),
                                  [](float a, float b) { return std::fabs(a) < std::fabs(b); }));
  CHECK(q8.max_abs <= amax / 127 / 2 * 1.15 + 1e-6);
  CHECK(q4.max_abs <= amax / 8 * 1.01 + 1e-6);
}

}  // namespace mmgen
