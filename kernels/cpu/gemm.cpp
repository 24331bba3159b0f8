#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_convert.h"
#include "kernels/cpu/row_dot.h"
#include "kernels/cpu/simd.h"

// GCC 12 reports false "(may be) used uninitialized" warnings inside the AVX-512
// intrinsics (their _mm512_undefined_* pass-through operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace mmgen::kernels::cpu {
namespace {

// Register tile: kMr rows of A times kNr = two vectors of B columns. The AVX-512
// tile keeps 28 accumulators in the 32 vector registers.
constexpr int kW = Simd::kWidth;
#if defined(__AVX512F__)
constexpr int kMr = 14;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kMr = 6;
#else
constexpr int kMr = 4;
#endif
constexpr int kNr = 2 * kW;
// Cache blocking: a kKc x kNr panel of B stays in L1 while a block of kMcPanels A
// panels (kMc x kKc) stays in L2 next to the task's kKc x kNch block of packed B.
// kKc is a multiple of every quantised block (256).
constexpr int64_t kKc = 256;
constexpr int64_t kMcPanels = 12;
constexpr int64_t kNch = 4 * kNr;                     // B columns one task owns
constexpr int64_t kPackedABudget = int64_t{4} << 20;  // floats of A packed at once
// Up to this many rows of A, no packing: dot products against stored rows of a
// transposed B (streamed once), or axpy over rows of a plain B.
constexpr int64_t kSmallMTransposed = 16;
constexpr int64_t kSmallM = 4;
#if defined(__AVX512F__)
constexpr int kDotRows = 4, kDotCols = 4;
#else
constexpr int kDotRows = 2, kDotCols = 4;
#endif

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

namespace {

// c[i, j] (+)= sum_p ap[p * kMr + i] * bp[p * kNr + j] over a full tile of kMr rows
// and kVectors * kW columns (kVectors = 2: the whole panel; 1: its first half, for
// narrow matrices such as attention's 40-wide heads).
// With AVX-512 the kernel also stores partial tiles (rows < kMr, cols < width) through
// masks; elsewhere callers pass full tiles only.
template <int kVectors>
inline void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                         float* c, int64_t ldc, bool accumulate,
                         [[maybe_unused]] int64_t rows = kMr,
                         [[maybe_unused]] int64_t cols = kVectors * kW) {
  Simd::V acc[kMr][kVectors];
#pragma GCC unroll 16
  for (int i = 0; i < kMr; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) acc[i][v] = Simd::zero();
  // The tile of C is read at the end: start fetching it now.
  for (int i = 0; i < kMr; ++i) __builtin_prefetch(c + i * ldc, 1, 3);
  for (int64_t p = 0; p < kc; ++p) {
    Simd::V b[kVectors];
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) b[v] = Simd::load(bp + v * kW);
#pragma GCC unroll 16
    for (int i = 0; i < kMr; ++i) {
      const Simd::V a = Simd::set1(ap[i]);
#pragma GCC unroll 2
      for (int v = 0; v < kVectors; ++v) acc[i][v] = Simd::fmadd(a, b[v], acc[i][v]);
    }
    ap += kMr;
    bp += kNr;
  }
#if defined(__AVX512F__)
  if (rows < kMr || cols < kVectors * kW) {
    // Partial tile: masked stores of the valid columns of the valid rows.
    __mmask16 masks[kVectors];
    for (int v = 0; v < kVectors; ++v) {
      const int64_t n = std::clamp<int64_t>(cols - v * kW, 0, kW);
      masks[v] = static_cast<__mmask16>((1u << n) - 1);
    }
#pragma GCC unroll 16
    for (int i = 0; i < kMr; ++i) {
      if (i >= rows) break;
      float* row = c + i * ldc;
#pragma GCC unroll 2
      for (int v = 0; v < kVectors; ++v) {
        if (accumulate)
          acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(masks[v], row + v * kW));
        _mm512_mask_storeu_ps(row + v * kW, masks[v], acc[i][v]);
      }
    }
    return;
  }
#endif
#pragma GCC unroll 16
  for (int i = 0; i < kMr; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) {
      if (accumulate) acc[i][v] = Simd::add(acc[i][v], Simd::load(row + v * kW));
      Simd::store(row + v * kW, acc[i][v]);
    }
  }
}

// A partial tile (rows < kMr or cols < the kernel's width): compute the full tile
// aside, copy the valid part.
template <int kVectors>
void edge_kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int64_t rows,
                 int64_t cols, bool accumulate) {
  alignas(64) float tile[kMr * kNr];
  micro_kernel<kVectors>(kc, ap, bp, tile, kNr, false);
  for (int64_t i = 0; i < rows; ++i) {
    float* row = c + i * ldc;
    const float* t = tile + i * kNr;
    if (accumulate) {
      for (int64_t j = 0; j < cols; ++j) row[j] += t[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) row[j] = t[j];
    }
  }
}

// One packed tile of C: the full kernel, or the half-width one for a narrow last panel.
inline void tile_kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                        int64_t rows, int64_t cols, bool accumulate) {
#if defined(__AVX512F__)
  if (cols > kW) {
    micro_kernel<2>(kc, ap, bp, c, ldc, accumulate, rows, cols);
  } else {
    micro_kernel<1>(kc, ap, bp, c, ldc, accumulate, rows, cols);
  }
  return;
#endif
  if (cols > kW) {
    if (rows == kMr && cols == kNr) {
      micro_kernel<2>(kc, ap, bp, c, ldc, accumulate);
    } else {
      edge_kernel<2>(kc, ap, bp, c, ldc, rows, cols, accumulate);
    }
  } else if (rows == kMr && cols == kW) {
    micro_kernel<1>(kc, ap, bp, c, ldc, accumulate);
  } else {
    edge_kernel<1>(kc, ap, bp, c, ldc, rows, cols, accumulate);
  }
}

#if defined(__AVX512F__)
// r[i][j] -> r[j][i] for a 16 x 16 block held in 16 vectors.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16], v[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);
    v[4 + i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xDD);
    v[8 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
    v[12 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0xDD);
    r[4 + i] = _mm512_shuffle_f32x4(v[4 + i], v[12 + i], 0x88);
    r[12 + i] = _mm512_shuffle_f32x4(v[4 + i], v[12 + i], 0xDD);
  }
}
#endif

// Packs rows [i0, i0 + rows) x columns [p0, p0 + kc) of A as kc groups of kMr
// values (zero rows pad a short panel).
void pack_a(const float* a, int64_t lda, bool trans_a, int64_t i0, int64_t rows, int64_t p0,
            int64_t kc, float* ap) {
  if (!trans_a) {
    int64_t p_done = 0;
#if defined(__AVX512F__)
    // 16 columns at a time: load a 16 x 16 block of rows, transpose in registers,
    // store the first kMr values of each column.
    static_assert(kMr <= 16);
    const __mmask16 keep = static_cast<__mmask16>((1u << kMr) - 1);
    for (; p_done + 16 <= kc; p_done += 16) {
      __m512 block[16];
      for (int i = 0; i < 16; ++i)
        block[i] =
            i < rows ? _mm512_loadu_ps(a + (i0 + i) * lda + p0 + p_done) : _mm512_setzero_ps();
      transpose16(block);
      for (int t = 0; t < 16; ++t) _mm512_mask_storeu_ps(ap + (p_done + t) * kMr, keep, block[t]);
    }
#endif
    for (int64_t i = 0; i < rows; ++i) {
      const float* src = a + (i0 + i) * lda + p0;
      for (int64_t p = p_done; p < kc; ++p) ap[p * kMr + i] = src[p];
    }
    for (int64_t i = rows; i < kMr; ++i)
      for (int64_t p = p_done; p < kc; ++p) ap[p * kMr + i] = 0.0f;
    return;
  }
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = a + (p0 + p) * lda + i0;
    float* dst = ap + p * kMr;
    int64_t i = 0;
    for (; i < rows; ++i) dst[i] = src[i];
    for (; i < kMr; ++i) dst[i] = 0.0f;
  }
}

// Packs logical rows [p0, p0 + kc) x columns [j0, j0 + cols) of B as kc groups of
// kNr values, converting to f32 (zero columns pad a short panel). `scratch` holds
// kNr * kKc floats for transposed non-f32 data.
void pack_b(const MatrixOperand& b, int64_t p0, int64_t kc, int64_t j0, int64_t cols, float* bp,
            float* scratch) {
  if (!b.transposed && b.dtype == DType::kF32 && cols == kNr) {
    // The common case, copied with vector moves rather than a call per row.
    const float* src = static_cast<const float*>(b.data) + p0 * b.ld + j0;
    for (int64_t p = 0; p < kc; ++p, src += b.ld) {
      Simd::store(bp + p * kNr, Simd::load(src));
      Simd::store(bp + p * kNr + kW, Simd::load(src + kW));
    }
    return;
  }
  if (!b.transposed) {
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = bp + p * kNr;
      to_f32(b.dtype, element_address(b.dtype, b.data, (p0 + p) * b.ld + j0), dst, cols);
      for (int64_t j = cols; j < kNr; ++j) dst[j] = 0.0f;
    }
    return;
  }
  // Stored rows are logical columns: gather them, then interleave.
  const float* rows[kNr];
  const size_t block_bytes_ahead = bytes_for(b.dtype, kc);
  for (int64_t j = 0; j < cols; ++j) {
    const void* src = element_address(b.dtype, b.data, (j0 + j) * b.ld + p0);
    // Start fetching this row's next K block: short strided runs defeat the
    // hardware prefetcher, and it is needed right after this block's products.
    const char* next = static_cast<const char*>(src) + block_bytes_ahead;
    for (size_t offset = 0; offset < block_bytes_ahead; offset += 64)
      __builtin_prefetch(next + offset, 0, 1);
    if (b.dtype == DType::kF32) {
      rows[j] = static_cast<const float*>(src);
    } else {
      to_f32(b.dtype, src, scratch + j * kc, kc);
      rows[j] = scratch + j * kc;
    }
  }
  // Row by row: sequential reads. (Reading across rows at one K index would put
  // 32 loads a power-of-two stride apart into the same L1 set.)
  for (int64_t j = 0; j < cols; ++j) {
    const float* src = rows[j];
    for (int64_t p = 0; p < kc; ++p) bp[p * kNr + j] = src[p];
  }
  for (int64_t j = cols; j < kNr; ++j)
    for (int64_t p = 0; p < kc; ++p) bp[p * kNr + j] = 0.0f;
}

// produce(out) writes count results: straight into c, or, when accumulating, into a
// buffer then added to c.
template <typename Fn>
void write_or_add(float* c, int64_t count, bool accumulate, Fn&& produce) {
  if (!accumulate) {
    produce(c);
    return;
  }
  thread_local std::vector<float> sums;
  sums.resize(static_cast<size_t>(count));
  produce(sums.data());
  for (int64_t j = 0; j < count; ++j) c[j] += sums[j];
}

// Few rows of A (decoding, short prompts): stream B once without packing,
// parallel over columns.
void gemm_small_m(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
                  const MatrixOperand& b, float* c, int64_t ldc, bool accumulate) {
  // A's rows made contiguous.
  std::unique_ptr<float[]> a_rows(new float[m * k]);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) a_rows[i * k + p] = trans_a ? a[p * lda + i] : a[i * lda + p];
  const bool f32 = b.dtype == DType::kF32;

  if (b.transposed && m == 1 && has_fused_dot(b.dtype)) {
    // One row of A: convert each stored row while multiplying, a run of rows per call
    // (a decode step's attention scores: one call per head instead of one per key).
    const size_t row_bytes = bytes_for(b.dtype, b.ld);
    parallel_chunks(n, std::max<int64_t>(4, 65536 / k), [&](int64_t j0, int64_t j1) {
      write_or_add(c + j0, j1 - j0, accumulate, [&](float* out) {
        fused_dot_rows(b.dtype, element_address(b.dtype, b.data, j0 * b.ld), row_bytes, j1 - j0,
                       a_rows.get(), 1, k, out, 1);
      });
    });
    return;
  }
  if (b.transposed) {
    // Blocks of kDotRows rows of A against kDotCols stored rows: every stored row is
    // read (and converted) once, sequentially.
    const int64_t groups = ceil_div(n, kDotCols);
    parallel_chunks(groups, std::max<int64_t>(1, 16384 / k), [&](int64_t g0, int64_t g1) {
      thread_local AlignedFloats buffer;
      float* converted = f32 ? nullptr : buffer.get(kDotCols * k);
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t j0 = g * kDotCols, cols = std::min<int64_t>(kDotCols, n - j0);
        const float* rows[kDotCols] = {};
        for (int64_t q = 0; q < kDotCols; ++q) {
          if (q >= cols) {
            rows[q] = rows[0];  // padding: computed, not stored
            continue;
          }
          const void* src = element_address(b.dtype, b.data, (j0 + q) * b.ld);
          if (f32) {
            rows[q] = static_cast<const float*>(src);
          } else {
            to_f32(b.dtype, src, converted + q * k, k);
            rows[q] = converted + q * k;
          }
        }
        for (int64_t i0 = 0; i0 < m; i0 += kDotRows) {
          const int64_t count = std::min<int64_t>(kDotRows, m - i0);
          const float* lhs[kDotRows];
          for (int64_t r = 0; r < kDotRows; ++r)
            lhs[r] = a_rows.get() + (i0 + std::min(r, count - 1)) * k;
          float out[kDotRows * kDotCols];
          dot_block<kDotRows, kDotCols>(lhs, rows, k, out);
          for (int64_t r = 0; r < count; ++r)
            for (int64_t q = 0; q < cols; ++q) {
              float& dst = c[(i0 + r) * ldc + j0 + q];
              dst = accumulate ? dst + out[r * kDotCols + q] : out[r * kDotCols + q];
            }
        }
      }
    });
    return;
  }

  if (m == 1 && f32) {
    // One row of A against plain rows of B (a decode query's attention output): the
    // sums stay in registers over all of B's rows.
    parallel_chunks(n, 512, [&](int64_t j0, int64_t j1) {
      write_or_add(c + j0, j1 - j0, accumulate, [&](float* out) {
        weighted_rows_f32(a_rows.get(), static_cast<const float*>(b.data) + j0, b.ld, k, j1 - j0,
                          out);
      });
    });
    return;
  }
  parallel_chunks(n, 512, [&](int64_t j0, int64_t j1) {
    const int64_t w = j1 - j0;
    thread_local AlignedFloats acc_buffer, row_buffer;
    float* acc = acc_buffer.get(m * w);
    float* converted = f32 ? nullptr : row_buffer.get(w);
    std::fill(acc, acc + m * w, 0.0f);
    for (int64_t p = 0; p < k; ++p) {
      const void* src = element_address(b.dtype, b.data, p * b.ld + j0);
      const float* row = static_cast<const float*>(src);
      if (!f32) {
        to_f32(b.dtype, src, converted, w);
        row = converted;
      }
      for (int64_t i = 0; i < m; ++i) axpy_f32(a_rows[i * k + p], row, acc + i * w, w);
    }
    for (int64_t i = 0; i < m; ++i) {
      float* out = c + i * ldc + j0;
      for (int64_t j = 0; j < w; ++j)
        out[j] = accumulate ? out[j] + acc[i * w + j] : acc[i * w + j];
    }
  });
}

// The packed GEMM. Two parallel phases per chunk of A rows (few synchronisations,
// which matters on busy machines): pack the rows of A for every K block into a
// buffer shared by all tasks, then tasks of kNch columns (times row ranges when
// columns are few) run the micro-kernel. B comes either as an operand that each
// task packs for its own columns, or already packed.
void gemm_packed_driver(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
                        const MatrixOperand* b, const PackedMatrix* packed, float* c, int64_t ldc,
                        bool accumulate) {
  thread_local AlignedFloats a_buffer;  // owned by the calling thread, read by all
  const int64_t k_blocks = ceil_div(k, kKc);
  const int64_t rows_per_chunk = std::max<int64_t>(kMr, kPackedABudget / k / kMr * kMr);
  const int64_t n_chunks = ceil_div(n, kNch);
  const int64_t target_tasks = 4 * static_cast<int64_t>(num_threads());

  for (int64_t ic = 0; ic < m; ic += rows_per_chunk) {
    const int64_t mo = std::min(rows_per_chunk, m - ic);
    const int64_t m_panels = ceil_div(mo, kMr);
    const int64_t block_stride = m_panels * kMr * kKc;  // floats per K block of packed A
    float* const a_packed = a_buffer.get(static_cast<size_t>(block_stride * k_blocks));
    parallel_tasks(m_panels, [&](int64_t ip) {
      const int64_t rows = std::min<int64_t>(kMr, mo - ip * kMr);
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t pc = kb * kKc, kc = std::min(kKc, k - pc);
        pack_a(a, lda, trans_a, ic + ip * kMr, rows, pc, kc,
               a_packed + kb * block_stride + ip * kMr * kc);
      }
    });

    int64_t m_ranges =
        std::clamp<int64_t>(ceil_div(target_tasks, n_chunks), 1, ceil_div(m_panels, kMcPanels));
    const int64_t range_panels = ceil_div(m_panels, m_ranges);
    m_ranges = ceil_div(m_panels, range_panels);
    parallel_tasks(m_ranges * n_chunks, [&](int64_t task) {
      const int64_t chunk = task % n_chunks, range = task / n_chunks;
      const int64_t j0 = chunk * kNch, cols = std::min(kNch, n - j0);
      const int64_t n_panels = ceil_div(cols, kNr);
      const int64_t ip_begin = range * range_panels;
      const int64_t ip_end = std::min(m_panels, ip_begin + range_panels);
      thread_local AlignedFloats b_buffer, scratch;
      float* const b_task = packed ? nullptr : b_buffer.get(static_cast<size_t>(kKc * kNch));
      float* const convert = packed ? nullptr : scratch.get(static_cast<size_t>(kNr * kKc));
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t pc = kb * kKc, kc = std::min(kKc, k - pc);
        const bool add = accumulate || kb > 0;
        if (!packed) {
          for (int64_t jp = 0; jp < n_panels; ++jp)
            pack_b(*b, pc, kc, j0 + jp * kNr, std::min<int64_t>(kNr, cols - jp * kNr),
                   b_task + jp * kNr * kc, convert);
        }
        const float* a_block = a_packed + kb * block_stride;
        for (int64_t ib = ip_begin; ib < ip_end; ib += kMcPanels) {
          const int64_t ie = std::min(ip_end, ib + kMcPanels);
          for (int64_t jp = 0; jp < n_panels; ++jp) {
            const int64_t panel_cols = std::min<int64_t>(kNr, cols - jp * kNr);
            const float* bp = packed ? packed->panel(kb, j0 / kNr + jp) : b_task + jp * kNr * kc;
            for (int64_t ip = ib; ip < ie; ++ip) {
              const int64_t rows = std::min<int64_t>(kMr, mo - ip * kMr);
              float* cp = c + (ic + ip * kMr) * ldc + j0 + jp * kNr;
              const float* ap = a_block + ip * kMr * kc;
              tile_kernel(kc, ap, bp, cp, ldc, rows, panel_cols, add);
            }
          }
        }
      }
    });
  }
}

}  // namespace

int gemm_tile_rows() { return kMr; }
int gemm_tile_cols() { return kNr; }

void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
          const MatrixOperand& b, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  if (is_quantized(b.dtype)) {
    const int64_t block = block_size(b.dtype);
    MMGEN_CHECK(b.transposed && k % block == 0 && b.ld % block == 0, "gemm: ", dtype_name(b.dtype),
                " operand needs whole blocks along K (K ", k, ", row ", b.ld, ")");
  }
  if (m <= (b.transposed ? kSmallMTransposed : kSmallM)) {
    gemm_small_m(m, n, k, a, lda, trans_a, b, c, ldc, accumulate);
    return;
  }

  gemm_packed_driver(m, n, k, a, lda, trans_a, &b, nullptr, c, ldc, accumulate);
}

const float* PackedMatrix::panel(int64_t kb, int64_t jp) const {
  return data_ + kb * block_stride_ + jp * kNr * std::min(kKc, k_ - kb * kKc);
}

void PackedMatrix::pack(int64_t k, int64_t n, const MatrixOperand& b) {
  k_ = k;
  n_ = n;
  const int64_t k_blocks = ceil_div(k, kKc), n_panels = ceil_div(n, kNr);
  block_stride_ = n_panels * kNr * kKc;
  if (!storage_) storage_ = std::make_shared<AlignedFloats>();
  float* data = storage_->get(static_cast<size_t>(std::max<int64_t>(1, block_stride_ * k_blocks)));
  data_ = data;
  parallel_tasks(n_panels, [&](int64_t jp) {
    thread_local AlignedFloats scratch;
    float* convert = scratch.get(static_cast<size_t>(kNr * kKc));
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t pc = kb * kKc, kc = std::min(kKc, k - pc);
      pack_b(b, pc, kc, jp * kNr, std::min<int64_t>(kNr, n - jp * kNr),
             data + kb * block_stride_ + jp * kNr * kc, convert);
    }
  });
}

void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
          const PackedMatrix& b, float* c, int64_t ldc, bool accumulate) {
  MMGEN_CHECK(k <= b.k() && n <= b.n(), "gemm: packed operand is ", b.k(), " x ", b.n(),
              ", too small for ", k, " x ", n);
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  gemm_packed_driver(m, n, k, a, lda, trans_a, nullptr, &b, c, ldc, accumulate);
}

}  // namespace mmgen::kernels::cpu
