// The register tile of both stride-1 conv1d kernels (conv1d_direct.cpp,
// conv1d_winograd.cpp): a few output channels x a few vectors, summed over rows of B
// that start at offsets into one buffer (shifted rows of x for the implicit GEMM, rows
// of transformed inputs for Winograd), so no B panel is packed.
#pragma once

#include <cstdint>

#include "kernels/cpu/simd.h"

namespace mmgen::kernels::cpu {

// AVX-512 keeps 24 accumulators, 3 B vectors and a broadcast in its 32 registers; rows
// come in 8s so that the power-of-two channel counts of vocoders fill every tile.
#if defined(__AVX512F__)
constexpr int kTileRows = 8;
#else
constexpr int kTileRows = 4;
#endif
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
constexpr int kTileVecs = 3;
#else
constexpr int kTileVecs = 2;
#endif

// acc[i][v] += sum_p ap[p * kTileRows + i] * b[off[p] + v * Simd::kWidth], p < depth:
// ap is a panel of kTileRows weights per row of B, of which the first kR are used.
template <int kV, int kR = kTileRows>
[[gnu::always_inline]] inline void add_shifted_rows(Simd::V (&acc)[kR][kV], int64_t depth,
                                                    const float* __restrict ap,
                                                    const int64_t* __restrict off, const float* b) {
  for (int64_t p = 0; p < depth; ++p) {
    const float* row = b + off[p];
    Simd::V bv[kV];
#pragma GCC unroll 3
    for (int v = 0; v < kV; ++v) bv[v] = Simd::load(row + v * Simd::kWidth);
#pragma GCC unroll 8
    for (int i = 0; i < kR; ++i) {
      const Simd::V a = Simd::set1(ap[i]);
#pragma GCC unroll 3
      for (int v = 0; v < kV; ++v) acc[i][v] = Simd::fmadd(a, bv[v], acc[i][v]);
    }
    ap += kTileRows;
  }
}

}  // namespace mmgen::kernels::cpu
