// A 16 x 16 transpose of 32-bit elements in AVX-512 registers.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {

// r[j][k] becomes r[k][j]: 16 rows of 16 floats transposed in registers.
#if defined(__AVX512F__)
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // q[g][j]: 128-bit lane l holds column 4 l + j of rows 4 g .. 4 g + 3.
  __m512 q[4][4];
  for (int g = 0; g < 4; ++g) {
    q[g][0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    q[g][1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    q[g][2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    q[g][3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(q[0][j], q[1][j], 0x44);
    const __m512 u1 = _mm512_shuffle_f32x4(q[0][j], q[1][j], 0xee);
    const __m512 u2 = _mm512_shuffle_f32x4(q[2][j], q[3][j], 0x44);
    const __m512 u3 = _mm512_shuffle_f32x4(q[2][j], q[3][j], 0xee);
    r[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    r[4 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
    r[8 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
  }
}
#endif

}  // namespace mmgen::kernels::cpu
