#include "kernels/cpu/row_dot.h"

// GCC 12 reports false "(may be) used uninitialized" warnings inside the AVX-512
// conversion intrinsics (their _mm512_undefined_* pass-through operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cstring>

#include "core/half.h"
#include "kernels/cpu/simd.h"

namespace mmgen::kernels::cpu {
namespace {

#if defined(__AVX512F__)

float hsum(__m512 v) { return Simd::sum(v); }

float dot_f16(const uint16_t* w, const float* x, int64_t k) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
    const __m512 w1 =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16)));
    a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), a1);
  }
  float s = hsum(_mm512_add_ps(a0, a1));
  for (; i < k; ++i) s += f16_to_f32(w[i]) * x[i];
  return s;
}

float dot_bf16(const uint16_t* w, const float* x, int64_t k) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  auto widen = [](const uint16_t* p) {
    const __m512i v =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  };
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    a0 = _mm512_fmadd_ps(widen(w + i), _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(widen(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
  }
  float s = hsum(_mm512_add_ps(a0, a1));
  for (; i < k; ++i) s += bf16_to_f32(w[i]) * x[i];
  return s;
}

// The f16 scale at the start of a block, through the F16C instruction.
float block_scale(const uint8_t* block) {
  uint16_t bits;
  std::memcpy(&bits, block, 2);
  return _cvtsh_ss(bits);
}

// Q8_0 block: f16 scale, 32 int8 values. Returns the unscaled 16-lane partial dot.
inline __m512 q8_0_block(const uint8_t* w, const float* x) {
  const __m512 f0 = _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2))));
  const __m512 f1 = _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 18))));
  return _mm512_fmadd_ps(f1, _mm512_loadu_ps(x + 16), _mm512_mul_ps(f0, _mm512_loadu_ps(x)));
}

// Q4_0 block: f16 scale, 16 bytes; element j in the low nibble of byte j, element
// j + 16 in the high nibble; value = (q - 8) * scale.
inline __m512 q4_0_block(const uint8_t* w, const float* x) {
  const __m512i bytes =
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2)));
  const __m512i eight = _mm512_set1_epi32(8);
  const __m512 lo =
      _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(bytes, _mm512_set1_epi32(0x0f)), eight));
  const __m512 hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight));
  return _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
}

// Blocks of 32 values and `bytes` bytes: two independent accumulators, two blocks
// per step.
template <int64_t kBytes, __m512 (*kBlock)(const uint8_t*, const float*)>
float dot_blocks(const uint8_t* w, const float* x, int64_t k) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  const int64_t blocks = k / 32;
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2, w += 2 * kBytes, x += 64) {
    acc0 = _mm512_fmadd_ps(_mm512_set1_ps(block_scale(w)), kBlock(w, x), acc0);
    acc1 =
        _mm512_fmadd_ps(_mm512_set1_ps(block_scale(w + kBytes)), kBlock(w + kBytes, x + 32), acc1);
  }
  if (b < blocks) acc0 = _mm512_fmadd_ps(_mm512_set1_ps(block_scale(w)), kBlock(w, x), acc0);
  return hsum(_mm512_add_ps(acc0, acc1));
}

#endif

}  // namespace

bool has_fused_dot(DType type) {
#if defined(__AVX512F__)
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16 ||
         type == DType::kQ8_0 || type == DType::kQ4_0;
#else
  return type == DType::kF32;
#endif
}

float fused_dot(DType type, const void* row, const float* x, int64_t k) {
  switch (type) {
#if defined(__AVX512F__)
    case DType::kF16:
      return dot_f16(static_cast<const uint16_t*>(row), x, k);
    case DType::kBF16:
      return dot_bf16(static_cast<const uint16_t*>(row), x, k);
    case DType::kQ8_0:
      return dot_blocks<34, q8_0_block>(static_cast<const uint8_t*>(row), x, k);
    case DType::kQ4_0:
      return dot_blocks<18, q4_0_block>(static_cast<const uint8_t*>(row), x, k);
#endif
    default:
      return dot_f32(static_cast<const float*>(row), x, k);
  }
}

}  // namespace mmgen::kernels::cpu
