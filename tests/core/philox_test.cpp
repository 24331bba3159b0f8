// Philox4x32-10 and the uniform / normal streams built on it (core/philox.h,
// core/random.h).
#include "core/philox.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/random.h"
#include "core/thread_pool.h"

namespace mmgen {
namespace {

using philox::Block;

std::vector<float> uniform(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset = 0) {
  std::vector<float> out(static_cast<size_t>(n));
  fill_uniform(out.data(), n, seed, stream, offset);
  return out;
}

std::vector<float> normal(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset = 0) {
  std::vector<float> out(static_cast<size_t>(n));
  fill_normal(out.data(), n, seed, stream, offset);
  return out;
}

struct Moments {
  double mean = 0, variance = 0, skewness = 0, kurtosis = 0;
};

Moments moments(const std::vector<float>& values) {
  Moments m;
  const double n = static_cast<double>(values.size());
  for (float v : values) m.mean += v;
  m.mean /= n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (float v : values) {
    const double d = v - m.mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  m.variance = m2;
  m.skewness = m3 / std::pow(m2, 1.5);
  m.kurtosis = m4 / (m2 * m2);
  return m;
}

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  const double n = static_cast<double>(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    sa += a[i];
    sb += b[i];
    sab += static_cast<double>(a[i]) * b[i];
    saa += static_cast<double>(a[i]) * a[i];
    sbb += static_cast<double>(b[i]) * b[i];
  }
  const double cov = sab / n - (sa / n) * (sb / n);
  return cov / std::sqrt((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
}

// Restores the default thread count when a test changes it.
struct ThreadCountGuard {
  ~ThreadCountGuard() { set_num_threads(static_cast<int>(std::thread::hardware_concurrency())); }
};

}  // namespace

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors", "[philox]") {
  // Random123 tests/kat_vectors: counter (4 words), key (2 words) -> output (4 words).
  struct Vector {
    Block counter;
    uint32_t key0, key1;
    Block expected;
  };
  const Vector vectors[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Vector& v : vectors) {
    const Block out = philox::philox4x32_10(v.counter, v.key0, v.key1);
    for (int lane = 0; lane < 4; ++lane) CHECK(out.v[lane] == v.expected.v[lane]);
  }
}

TEST_CASE("stream element i is lane i % 4 of counter (i / 4, stream) under key seed", "[philox]") {
  // The third known-answer vector, addressed through the stream layout:
  // block = 0x85a308d3'243f6a88, stream = 0x03707344'13198a2e, seed = 0x299f31d0'a4093822.
  const uint64_t seed = 0x299f31d0a4093822ull;
  const uint64_t stream = 0x0370734413198a2eull;
  const uint64_t block = 0x85a308d3243f6a88ull;
  const Block raw = philox::stream_block(seed, stream, block);
  CHECK(raw.v[0] == 0xd16cfe09u);
  CHECK(raw.v[3] == 0x24126ea1u);
  // Through the fill functions: elements 4b .. 4b + 3 are the lanes of counter (b, stream).
  const uint64_t small_block = 0x05a308d3243f6a88ull;
  const Block direct = philox::philox4x32_10(
      Block{{0x243f6a88u, 0x05a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  const auto values = uniform(4, seed, stream, small_block * 4);
  for (int lane = 0; lane < 4; ++lane)
    CHECK(values[lane] == static_cast<float>(direct.v[lane] >> 8) * 0x1p-24f);
  // Seed 0, stream 0 starts with the all-zero vector.
  CHECK(uniform(1, 0, 0)[0] == static_cast<float>(0x6627e8d5u >> 8) * 0x1p-24f);
}

TEST_CASE("uniform stream: values from 0 up to 1 with the moments of U(0, 1)", "[philox]") {
  const auto values = uniform(1'000'000, 1234, 0);
  float lo = 1, hi = 0;
  for (float v : values) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    REQUIRE(std::fmod(static_cast<double>(v) * 16777216.0, 1.0) == 0.0);  // a multiple of 2^-24
  }
  CHECK(lo >= 0.0f);
  CHECK(hi < 1.0f);
  const Moments m = moments(values);
  CHECK(m.mean == Approx(0.5).margin(0.002));             // sd of the mean: 2.9e-4
  CHECK(m.variance == Approx(1.0 / 12.0).margin(0.001));  // sd: 7.5e-5
}

TEST_CASE("normal stream: 1e6 values with the moments of N(0, 1)", "[philox]") {
  const auto values = normal(1'000'000, 42, 7);
  const Moments m = moments(values);
  CHECK(m.mean == Approx(0.0).margin(0.005));      // sd of the mean: 0.001
  CHECK(m.variance == Approx(1.0).margin(0.007));  // sd: 0.0014
  CHECK(m.skewness == Approx(0.0).margin(0.015));  // sd: 0.0024
  CHECK(m.kurtosis == Approx(3.0).margin(0.03));   // sd: 0.005
  // Tail mass beyond 2 and 3 sigma.
  int64_t beyond2 = 0, beyond3 = 0;
  float largest = 0;
  for (float v : values) {
    beyond2 += std::abs(v) > 2.0f;
    beyond3 += std::abs(v) > 3.0f;
    largest = std::max(largest, std::abs(v));
  }
  CHECK(beyond2 / 1e6 == Approx(0.0455).margin(0.001));
  CHECK(beyond3 / 1e6 == Approx(0.0027).margin(0.0003));
  CHECK(largest <= 5.8f);  // sqrt(2 ln 2^24) = 5.77 bounds Box-Muller on 24-bit uniforms
}

TEST_CASE("own log is within 2 ulp of ln for every 24-bit input", "[philox]") {
  double worst_ulp = 0;
  for (uint32_t k = 1; k <= (1u << 24); ++k) {
    const float ours = philox::log_unit(k);
    const double exact = std::log(static_cast<double>(k) * 0x1p-24);
    if (exact == 0) {
      REQUIRE(ours == 0.0f);
      continue;
    }
    const double ulp = std::ldexp(1.0, std::ilogb(static_cast<float>(exact)) - 23);
    worst_ulp = std::max(worst_ulp, std::abs(ours - exact) / ulp);
  }
  CHECK(worst_ulp < 2.0);
}

TEST_CASE("own sin and cos are within 1e-7 of the true values for every 24-bit angle", "[philox]") {
  double worst = 0;
  for (uint32_t j = 0; j < (1u << 24); ++j) {
    float s, c;
    philox::sincos_turns(j, &s, &c);
    const double angle = 2.0 * M_PI * static_cast<double>(j) * 0x1p-24;
    worst = std::max({worst, std::abs(s - std::sin(angle)), std::abs(c - std::cos(angle))});
  }
  CHECK(worst < 1e-7);
  float s, c;
  philox::sincos_turns(0, &s, &c);
  CHECK(s == 0.0f);
  CHECK(c == 1.0f);
  philox::sincos_turns(1u << 22, &s, &c);  // a quarter turn
  CHECK(s == 1.0f);
  CHECK(c == 0.0f);
}

TEST_CASE("normal values equal double-precision Box-Muller on the same bits", "[philox]") {
  for (uint64_t block = 0; block < 20000; ++block) {
    const Block raw = philox::stream_block(99, 3, block);
    float out[4];
    philox::normal4(99, 3, block, out);
    for (int pair = 0; pair < 2; ++pair) {
      const double u1 = static_cast<double>((raw.v[2 * pair] >> 8) + 1) * 0x1p-24;
      const double theta = 2.0 * M_PI * static_cast<double>(raw.v[2 * pair + 1] >> 8) * 0x1p-24;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      REQUIRE(out[2 * pair] == Approx(radius * std::cos(theta)).margin(1e-6));
      REQUIRE(out[2 * pair + 1] == Approx(radius * std::sin(theta)).margin(1e-6));
    }
  }
}

TEST_CASE("streams of different seeds and stream ids are independent", "[philox]") {
  const int64_t n = 200'000;
  const auto a = normal(n, 5, 0);
  const auto b = normal(n, 5, 1);
  const auto c = normal(n, 6, 0);
  // |correlation| of independent samples: sd 1 / sqrt(n) = 0.0022.
  CHECK(std::abs(correlation(a, b)) < 0.012);
  CHECK(std::abs(correlation(a, c)) < 0.012);
  CHECK(std::abs(correlation(b, c)) < 0.012);
  // Lag-1 correlation inside one stream, and between the two normals of a pair.
  std::vector<float> head(a.begin(), a.end() - 1), tail(a.begin() + 1, a.end());
  CHECK(std::abs(correlation(head, tail)) < 0.012);
  int64_t equal = 0;
  for (int64_t i = 0; i < n; ++i) equal += a[i] == b[i];
  CHECK(equal < 10);
}

TEST_CASE("a fill at an offset equals the same slice of a full fill", "[philox]") {
  const auto full_u = uniform(1000, 77, 9);
  const auto full_n = normal(1000, 77, 9);
  for (uint64_t offset : {0u, 1u, 2u, 3u, 5u, 130u, 997u}) {
    for (int64_t length : {1, 2, 3, 7, 3}) {
      if (offset + length > 1000) continue;
      const auto part_u = uniform(length, 77, 9, offset);
      const auto part_n = normal(length, 77, 9, offset);
      for (int64_t j = 0; j < length; ++j) {
        CHECK(part_u[j] == full_u[offset + j]);
        CHECK(part_n[j] == full_n[offset + j]);
      }
    }
  }
}

TEST_CASE("fills are identical for every thread count", "[philox]") {
  ThreadCountGuard restore;
  const int64_t n = 1'000'003;  // not a multiple of 4 or of any chunk size
  set_num_threads(1);
  const auto u1 = uniform(n, 2024, 11, 3);
  const auto n1 = normal(n, 2024, 11, 3);
  for (int threads : {2, 3, 8}) {
    set_num_threads(threads);
    REQUIRE(uniform(n, 2024, 11, 3) == u1);
    REQUIRE(normal(n, 2024, 11, 3) == n1);
  }
}

TEST_CASE("fill argument errors are reported", "[philox]") {
  float x = 0;
  CHECK_THROWS_WITH(fill_uniform(&x, -1, 0, 0), Catch::Contains("negative element count"));
  CHECK_THROWS_WITH(fill_normal(nullptr, 4, 0, 0), Catch::Contains("null destination"));
  CHECK_THROWS_WITH(fill_uniform(&x, 2, 0, 0, UINT64_MAX),
                    Catch::Contains("run past the end of the stream"));
  fill_uniform(nullptr, 0, 0, 0);  // nothing to do
}

}  // namespace mmgen
