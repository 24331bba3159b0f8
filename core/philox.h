// Philox4x32-10, the counter-based random number generator of Salmon et al.,
// "Parallel Random Numbers: As Easy as 1, 2, 3" (SC 2011), and the uniform and
// normal streams mmgen derives from it. Everything here runs unchanged on the
// host and in CUDA kernels and gives bit-identical results on both.
//
// Stream layout. A stream is named by (seed, stream id). Element i of a stream
// comes from one Philox call with
//   key     = (seed low 32 bits, seed high 32 bits)
//   counter = (block low, block high, stream low, stream high), block = i / 4
// and is lane i % 4 of the four 32-bit outputs. An element therefore depends
// only on (seed, stream, i): any split of the work over threads or GPU blocks
// yields the same values.
//
// Uniform floats: u = (x >> 8) * 2^-24, the top 24 bits of a lane, so every
// value in [0, 1) is a multiple of 2^-24 and exactly representable.
//
// Normal floats: Box-Muller on lane pairs (0, 1) and (2, 3) of the same block:
//   r = sqrt(-2 ln u1), u1 = ((x_even >> 8) + 1) * 2^-24 in (0, 1]
//   theta = 2 pi * (x_odd >> 8) * 2^-24
//   lane even = r cos(theta), lane odd = r sin(theta)
// (|z| <= sqrt(2 ln 2^24) = 5.77 by construction.)
//
// Why the log, sin and cos are our own: CUDA's logf/sinf/cosf and glibc's differ
// in the last bit for some arguments, so a stream drawn on the GPU would not
// equal the one drawn on the CPU. The functions below use only operations that
// IEEE 754 defines exactly (integer bit manipulation, correctly rounded +, *,
// /, sqrt and fused multiply-add) in a fixed order:
// - every multiply-add is an explicit fmaf, and no plain product feeds a plain
//   addition, so a compiler that contracts a * b + c into an FMA (nvcc always,
//   g++ with -ffp-contract=fast) has nothing to contract;
// - in device code the remaining plain operations use the __f*_rn intrinsics,
//   which the CUDA compiler never fuses or approximates (even with fast math;
//   no intermediate value is subnormal, so flush-to-zero modes change nothing).
// The polynomials are Taylor series in exactly reduced arguments (the inputs
// are 24-bit integers, so range reduction is integer arithmetic); the results
// are within a few ulp of the true values (tests/core/philox_test.cpp checks
// every one of the 2^24 inputs against double precision).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/half.h"

namespace mmgen::philox {

struct Block {
  uint32_t v[4];
};

// The spacing of the uniform values.
inline constexpr float kTwoPowMinus24 = 0x1p-24f;

namespace detail {

inline constexpr uint32_t kMultiplier0 = 0xD2511F53u;
inline constexpr uint32_t kMultiplier1 = 0xCD9E8D57u;
inline constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
inline constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1

MMGEN_HD uint32_t mul_hi(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Correctly rounded float operations that no compiler may fuse.
MMGEN_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
MMGEN_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
MMGEN_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
MMGEN_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
MMGEN_HD float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
MMGEN_HD float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

}  // namespace detail

// Philox4x32 with 10 rounds: the key is bumped by the Weyl constants before
// rounds 2..10.
MMGEN_HD Block philox4x32_10(Block counter, uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += detail::kWeyl0;
      key1 += detail::kWeyl1;
    }
    const uint32_t hi0 = detail::mul_hi(detail::kMultiplier0, counter.v[0]);
    const uint32_t lo0 = detail::kMultiplier0 * counter.v[0];
    const uint32_t hi1 = detail::mul_hi(detail::kMultiplier1, counter.v[2]);
    const uint32_t lo1 = detail::kMultiplier1 * counter.v[2];
    counter = Block{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
  }
  return counter;
}

// The four raw lanes of 4-block `block` of stream (seed, stream).
MMGEN_HD Block stream_block(uint64_t seed, uint64_t stream, uint64_t block) {
  const Block counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                       static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// [0, 1) from the top 24 bits.
MMGEN_HD float uniform_from_bits(uint32_t x) {
  return detail::mul_rn(static_cast<float>(x >> 8), kTwoPowMinus24);
}

// ln(k * 2^-24) for an integer k in [1, 2^24].
MMGEN_HD float log_unit(uint32_t k) {
  using namespace detail;
  // k = m * 2^e exactly, with m in [sqrt(1/2), sqrt(2)).
  const uint32_t bits = float_bits(static_cast<float>(k));  // exact: k <= 2^24
  int exponent = static_cast<int>(bits >> 23) - 127;
  uint32_t mantissa_bits = (bits & 0x7fffffu) | 0x3f800000u;  // [1, 2)
  if (mantissa_bits > 0x3fb504f3u) {                          // > sqrt(2) as a float
    mantissa_bits -= 0x00800000u;                             // halve: [sqrt(1/2), 1)
    exponent += 1;
  }
  const float m = bits_float(mantissa_bits);
  // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| <= 0.172;
  // the series to s^11 is exact to ~1e-10 relative.
  const float f = sub_rn(m, 1.0f);  // exact (Sterbenz)
  const float s = div_rn(f, add_rn(2.0f, f));
  const float z = mul_rn(s, s);
  float p = 0x1.745d18p-4f;             // 1/11
  p = fma_rn(p, z, 0x1.c71c72p-4f);     // 1/9
  p = fma_rn(p, z, 0x1.24924ap-3f);     // 1/7
  p = fma_rn(p, z, 0x1.99999ap-3f);     // 1/5
  p = fma_rn(p, z, 0x1.555556p-2f);     // 1/3
  const float two_s = mul_rn(2.0f, s);  // exact
  const float ln_m = fma_rn(two_s, mul_rn(z, p), two_s);
  // (e - 24) ln 2 with ln 2 split in two floats for the extra bits.
  const float e = static_cast<float>(exponent - 24);
  return fma_rn(e, 0x1.62e430p-1f, fma_rn(e, -0x1.05c610p-29f, ln_m));
}

// cos and sin of 2 pi * j * 2^-24 for an integer j in [0, 2^24).
MMGEN_HD void sincos_turns(uint32_t j, float* sin_out, float* cos_out) {
  using namespace detail;
  // Nearest quarter turn q and the exact remainder t in [-1/2, 1/2) quarter turns.
  const uint32_t quarter = (j + (1u << 21)) >> 22;  // 0..4
  const int32_t rest = static_cast<int32_t>(j) - static_cast<int32_t>(quarter << 22);
  const float t = mul_rn(static_cast<float>(rest), 0x1p-22f);  // exact
  const float t2 = mul_rn(t, t);
  // phi = t * pi / 2 in [-pi/4, pi/4]; Taylor series of sin(phi) and cos(phi) in t.
  float s = 0x1.507834p-13f;           // (pi/2)^9 / 9!
  s = fma_rn(s, t2, -0x1.32d2ccp-8f);  // -(pi/2)^7 / 7!
  s = fma_rn(s, t2, 0x1.466bc6p-4f);   // (pi/2)^5 / 5!
  s = fma_rn(s, t2, -0x1.4abbcep-1f);  // -(pi/2)^3 / 3!
  s = fma_rn(s, t2, 0x1.921fb6p+0f);   // pi/2
  const float sin_phi = mul_rn(s, t);
  float c = -0x1.a6d1f2p-16f;          // -(pi/2)^10 / 10!
  c = fma_rn(c, t2, 0x1.e1f506p-11f);  // (pi/2)^8 / 8!
  c = fma_rn(c, t2, -0x1.55d3c8p-6f);  // -(pi/2)^6 / 6!
  c = fma_rn(c, t2, 0x1.03c1f0p-2f);   // (pi/2)^4 / 4!
  c = fma_rn(c, t2, -0x1.3bd3ccp+0f);  // -(pi/2)^2 / 2!
  const float cos_phi = fma_rn(c, t2, 1.0f);
  switch (quarter & 3u) {
    case 0:
      *sin_out = sin_phi;
      *cos_out = cos_phi;
      break;
    case 1:
      *sin_out = cos_phi;
      *cos_out = -sin_phi;
      break;
    case 2:
      *sin_out = -sin_phi;
      *cos_out = -cos_phi;
      break;
    default:
      *sin_out = -cos_phi;
      *cos_out = sin_phi;
      break;
  }
}

// Box-Muller on one pair of lanes: z_even = r cos(theta), z_odd = r sin(theta).
MMGEN_HD void box_muller(uint32_t x_even, uint32_t x_odd, float* z_even, float* z_odd) {
  using namespace detail;
  const float radius = sqrt_rn(mul_rn(-2.0f, log_unit((x_even >> 8) + 1u)));
  float sin_theta, cos_theta;
  sincos_turns(x_odd >> 8, &sin_theta, &cos_theta);
  *z_even = mul_rn(radius, cos_theta);
  *z_odd = mul_rn(radius, sin_theta);
}

// The four uniform values of one block.
MMGEN_HD void uniform4(uint64_t seed, uint64_t stream, uint64_t block, float out[4]) {
  const Block b = stream_block(seed, stream, block);
  for (int lane = 0; lane < 4; ++lane) out[lane] = uniform_from_bits(b.v[lane]);
}

// The four standard-normal values of one block.
MMGEN_HD void normal4(uint64_t seed, uint64_t stream, uint64_t block, float out[4]) {
  const Block b = stream_block(seed, stream, block);
  box_muller(b.v[0], b.v[1], &out[0], &out[1]);
  box_muller(b.v[2], b.v[3], &out[2], &out[3]);
}

}  // namespace mmgen::philox
