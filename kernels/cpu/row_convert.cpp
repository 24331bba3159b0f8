#include "kernels/cpu/row_convert.h"

// GCC 12 reports false "(may be) used uninitialized" warnings inside the AVX-512
// conversion intrinsics (their _mm512_undefined_* pass-through operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cstring>

#include "core/convert.h"
#include "core/half.h"

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {
namespace {

void f16_run_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(
        dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void bf16_run_to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const __m512i wide =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
  }
#endif
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

#if defined(__AVX512F__)
// The two most common GGUF types, vectorised (same products as dequantize_row).
float block_scale(const uint8_t* block) {
  uint16_t bits;
  std::memcpy(&bits, block, 2);
  return _cvtsh_ss(bits);
}

void dequantize_q8_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += 34, dst += 32) {
    const __m512 d = _mm512_set1_ps(block_scale(src));
    for (int half = 0; half < 2; ++half) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 + 16 * half));
      _mm512_storeu_ps(dst + 16 * half,
                       _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
    }
  }
}

void dequantize_q4_0(const uint8_t* src, float* dst, int64_t n) {
  const __m512i eight = _mm512_set1_epi32(8), low = _mm512_set1_epi32(0x0f);
  for (int64_t b = 0; b < n / 32; ++b, src += 18, dst += 32) {
    const __m512 d = _mm512_set1_ps(block_scale(src));
    const __m512i bytes =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2)));
    _mm512_storeu_ps(
        dst, _mm512_mul_ps(
                 _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(bytes, low), eight)), d));
    _mm512_storeu_ps(
        dst + 16,
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight)), d));
  }
}
#endif

}  // namespace

void to_f32(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      f16_run_to_f32(static_cast<const uint16_t*>(src), dst, n);
      return;
    case DType::kBF16:
      bf16_run_to_f32(static_cast<const uint16_t*>(src), dst, n);
      return;
#if defined(__AVX512F__)
    case DType::kQ8_0:
      dequantize_q8_0(static_cast<const uint8_t*>(src), dst, n);
      return;
    case DType::kQ4_0:
      dequantize_q4_0(static_cast<const uint8_t*>(src), dst, n);
      return;
#endif
    default:
      if (is_quantized(type)) {
        dequantize_row(type, src, dst, n);
      } else {
        convert_elements(type, src, DType::kF32, dst, n);
      }
  }
}

void f32_to_f16_run(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void f32_to_bf16_run(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace mmgen::kernels::cpu
