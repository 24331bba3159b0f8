// GCC 12 reports false "may be used uninitialized" warnings inside the AVX-512 shuffle
// intrinsics of the transposes (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/conv1d_winograd.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>

#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/shifted_rows.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/transpose16.h"

namespace mmgen::kernels::cpu {
namespace {

constexpr int kLanes = Simd::kWidth;  // segments per row: one per vector lane
constexpr int kM = 4;                 // output positions per tile
constexpr int kRows = kTileRows;      // output channels per register tile (shifted_rows.h)
constexpr int kVecs = kTileVecs;      // tiles per register tile

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- Toom-Cook transforms ------------------------------------------------------------
// F(m, r) is the transpose of multiplying a polynomial of m coefficients by one of r:
// evaluate both at n = m + r - 1 points (the last one infinity, which takes the leading
// coefficients), multiply there, and interpolate. For the correlation
// y[i] = sum_j g[j] x[i + j] that gives y = AT [(G g) * (BT x)] with AT the transposed
// evaluation of m coefficients, G the evaluation of r, and BT the transposed inverse of
// the evaluation of n.
// Small points keep the float rounding near that of the direct sum.
constexpr double kPoints[] = {0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5};

constexpr double abs_value(double v) { return v < 0 ? -v : v; }

template <int M, int R>
struct Transforms {
  static constexpr int kN = M + R - 1;
  double at[M][kN];   // the n products to the m outputs
  double g[kN][R];    // the r taps to the n points
  double bt[kN][kN];  // the n inputs to the n points
};

template <int M, int R>
constexpr Transforms<M, R> toom_cook() {
  constexpr int n = M + R - 1;
  static_assert(n - 1 <= static_cast<int>(std::size(kPoints)));
  // Row k of the evaluation of a polynomial with `size` coefficients, column j.
  auto eval = [](int k, int j, int size) {
    if (k == n - 1) return j == size - 1 ? 1.0 : 0.0;
    double p = 1.0;
    for (int e = 0; e < j; ++e) p *= kPoints[k];
    return p;
  };
  Transforms<M, R> t{};
  for (int i = 0; i < M; ++i)
    for (int k = 0; k < n; ++k) t.at[i][k] = eval(k, i, M);
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < R; ++j) t.g[k][j] = eval(k, j, R);
  // Gauss-Jordan on [V | I] with partial pivoting leaves the inverse of V on the right.
  double v[n][2 * n] = {};
  for (int k = 0; k < n; ++k) {
    for (int j = 0; j < n; ++j) v[k][j] = eval(k, j, n);
    v[k][n + k] = 1.0;
  }
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int r = col + 1; r < n; ++r)
      if (abs_value(v[r][col]) > abs_value(v[pivot][col])) pivot = r;
    for (int j = 0; j < 2 * n; ++j) std::swap(v[col][j], v[pivot][j]);
    const double scale = 1.0 / v[col][col];
    for (int j = 0; j < 2 * n; ++j) v[col][j] *= scale;
    for (int r = 0; r < n; ++r) {
      if (r == col || v[r][col] == 0.0) continue;
      const double f = v[r][col];
      for (int j = 0; j < 2 * n; ++j) v[r][j] -= f * v[col][j];
    }
  }
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < n; ++j) t.bt[k][j] = v[j][n + k];
  return t;
}

template <int R>
struct Winograd {
  static constexpr int kN = kM + R - 1;
  static constexpr Transforms<kM, R> kT = toom_cook<kM, R>();
};

template <int N, typename Fn>
inline void static_for(Fn&& fn) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (fn(std::integral_constant<int, I>{}), ...); }
  (std::make_integer_sequence<int, N>{});
}

// First position of tile t: blocks of d tiles cover 4 * d positions, tile t % d of a
// block taking every d-th one.
inline int64_t tile_start(int64_t t, int64_t d) { return (t / d) * kM * d + t % d; }

// ---- segment transposes ----------------------------------------------------------------

// Row c of x [.., length] as segments: out[s * kLanes + k] = leaky(x[k * seg + s - pad])
// for s in [0, count) (count a multiple of kLanes), zero outside the row.
void segment_row(const float* x, int64_t length, int64_t seg, int64_t pad, int64_t count,
                 float slope, float* out) {
#if defined(__AVX512F__)
  static_assert(kLanes == 16);
  alignas(64) float edge[16];
  const Simd::V sv = Simd::set1(slope);
  for (int64_t s0 = 0; s0 < count; s0 += 16) {
    __m512 r[16];
    for (int k = 0; k < 16; ++k) {
      const int64_t first = k * seg + s0 - pad;
      if (first >= 0 && first + 16 <= length) {
        r[k] = _mm512_loadu_ps(x + first);
      } else {
        for (int j = 0; j < 16; ++j)
          edge[j] = first + j >= 0 && first + j < length ? x[first + j] : 0.0f;
        r[k] = _mm512_load_ps(edge);
      }
      if (slope != 1.0f) r[k] = leaky_value(r[k], sv);
    }
    transpose16(r);
    for (int j = 0; j < 16; ++j) _mm512_storeu_ps(out + (s0 + j) * 16, r[j]);
  }
#else
  for (int64_t s = 0; s < count; ++s)
    for (int k = 0; k < kLanes; ++k) {
      const int64_t p = k * seg + s - pad;
      const float v = p >= 0 && p < length ? x[p] : 0.0f;
      out[s * kLanes + k] = slope != 1.0f ? leaky_value(v, slope) : v;
    }
#endif
}

// The inverse for positions [first, first + count) of an output row: y[k * seg + first + u]
// = in[u * kLanes + k] + bias (+ res[same]) for u < count where k * seg + first + u <
// length; `in` holds whole vectors of 16 positions (count rounded up).
void unsegment_row(const float* in, int64_t length, int64_t seg, int64_t first, int64_t count,
                   float bias, const float* res, float* y) {
#if defined(__AVX512F__)
  const __m512 b = _mm512_set1_ps(bias);
  for (int64_t u0 = 0; u0 < count; u0 += 16) {
    __m512 r[16];
    for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(in + (u0 + j) * 16);
    transpose16(r);
    for (int k = 0; k < 16; ++k) {
      const int64_t at = k * seg + first + u0;
      const int64_t n = std::min({int64_t{16}, count - u0, length - at});
      if (n <= 0) continue;
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
      __m512 v = _mm512_add_ps(r[k], b);
      if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + at));
      _mm512_mask_storeu_ps(y + at, m, v);
    }
  }
#else
  for (int64_t u = 0; u < count; ++u)
    for (int k = 0; k < kLanes; ++k) {
      const int64_t at = k * seg + first + u;
      if (at < length) {
        const float v = in[u * kLanes + k] + bias;
        y[at] = res ? v + res[at] : v;
      }
    }
#endif
}

// ---- transforms and products -----------------------------------------------------------
// sum_i BT[XI][i] in[i], the coefficients folded in at compile time.
template <int R, int XI>
inline Simd::V to_point(const Simd::V* in) {
  using W = Winograd<R>;
  Simd::V acc = Simd::zero();
  static_for<W::kN>([&](auto i) {
    constexpr float c = static_cast<float>(W::kT.bt[XI][i]);
    if constexpr (c == 1.0f) {
      acc = Simd::add(acc, in[i]);
    } else if constexpr (c == -1.0f) {
      acc = Simd::sub(acc, in[i]);
    } else if constexpr (c != 0.0f) {
      acc = Simd::fmadd(Simd::set1(c), in[i], acc);
    }
  });
  return acc;
}

// The n inputs of tile t of a segmented row: x[(tile_start(t) + d i) * kLanes].
template <int N>
inline void load_tile(const float* xrow, int64_t t, int64_t d, Simd::V* in) {
  const float* src = xrow + tile_start(t, d) * kLanes;
  static_for<N>([&](auto i) { in[i] = Simd::load(src + i * d * kLanes); });
}

// v[xi * plane + tt * kLanes] = point xi of tile t0 + tt, for every point and tt in
// [0, tiles), of one segmented input row.
template <int R>
void input_transform(const float* xrow, int64_t d, int64_t t0, int64_t tiles, float* v,
                     int64_t plane) {
  constexpr int n = Winograd<R>::kN;
  for (int64_t tt = 0; tt < tiles; ++tt) {
    Simd::V in[n];
    load_tile<n>(xrow, t0 + tt, d, in);
    static_for<n>([&](auto xi) { Simd::store(v + xi * plane + tt * kLanes, to_point<R, xi>(in)); });
  }
}

// acc[i * kV + v] = sum_p ap[p * kRows + i] * vb[off[p] + v * kLanes]: kRows output
// channels x kV tiles of the product at one point, over `depth` (channel, chunk) rows.
template <int kV>
inline void product(int64_t depth, const float* __restrict ap, const int64_t* __restrict off,
                    const float* vb, Simd::V* __restrict out) {
  Simd::V acc[kRows][kV];
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < kV; ++v) acc[i][v] = Simd::zero();
  add_shifted_rows<kV>(acc, depth, ap, off, vb);
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < kV; ++v) out[i * kV + v] = acc[i][v];
}

// What every task of one convolution shares.
struct Plan {
  int64_t channels, out_channels, d, chunks, depth, panels;
  int64_t seg, halo, in_row, out_row;
  int64_t block_tiles, v_row, plane;
  const float* u;      // weights at the points, in panels
  const int64_t* off;  // row (c, q) of a plane starts at off[c * chunks + q]
};

// One task: the n points of its tiles (and the halo later chunks read) for every input
// row, then per register tile the products at all n points, staged in L1, and the output
// transform, which writes each output position once.
template <int R>
void run_task(const Plan& pl, const float* xs, float* ys, int64_t t0, int64_t count, float* v) {
  using W = Winograd<R>;
  constexpr int n = W::kN;
  for (int64_t c = 0; c < pl.channels; ++c)
    input_transform<R>(xs + c * pl.in_row * kLanes, pl.d, t0, count + pl.halo, v + c * pl.v_row,
                       pl.plane);
  const int64_t row = pl.out_row * kLanes;
  Simd::V stage[n][kRows * kVecs];
  for (int64_t panel = 0; panel < pl.panels; ++panel) {
    const int64_t rows = std::min<int64_t>(kRows, pl.out_channels - panel * kRows);
    float* yp = ys + panel * kRows * row;
    for (int64_t tt = 0; tt < count; tt += kVecs) {
      const int64_t vecs = std::min<int64_t>(kVecs, count - tt);
      for (int xi = 0; xi < n; ++xi) {
        const float* ap = pl.u + (xi * pl.panels + panel) * pl.depth * kRows;
        const float* vb = v + xi * pl.plane + tt * kLanes;
        switch (vecs) {
          case 1:
            product<1>(pl.depth, ap, pl.off, vb, stage[xi]);
            break;
          case 2:
            product<2>(pl.depth, ap, pl.off, vb, stage[xi]);
            break;
          default:
            product<kVecs>(pl.depth, ap, pl.off, vb, stage[xi]);
            break;
        }
      }
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < vecs; ++j) {
          float* out = yp + i * row + tile_start(t0 + tt + j, pl.d) * kLanes;
          const int64_t at = i * vecs + j;
          static_for<kM>([&](auto k) {
            Simd::V sum = Simd::zero();
            static_for<n>([&](auto xi) {
              constexpr float c = static_cast<float>(W::kT.at[k][xi]);
              if constexpr (c == 1.0f) {
                sum = Simd::add(sum, stage[xi][at]);
              } else if constexpr (c == -1.0f) {
                sum = Simd::sub(sum, stage[xi][at]);
              } else if constexpr (c != 0.0f) {
                sum = Simd::fmadd(Simd::set1(c), stage[xi][at], sum);
              }
            });
            Simd::store(out + k * pl.d * kLanes, sum);
          });
        }
    }
  }
}

template <int R>
void run(const float* x, const float* weight, const float* bias, float* y, const Conv1dShape& s,
         const Conv1dFolds& folds) {
  using W = Winograd<R>;
  constexpr int n = W::kN;
  Plan pl{};
  pl.channels = s.channels;
  pl.out_channels = s.out_channels;
  pl.d = s.dilation;
  pl.chunks = ceil_div(s.kernel, R);  // chunks of R taps; R == kM when several
  pl.depth = pl.channels * pl.chunks;
  pl.panels = ceil_div(pl.out_channels, kRows);
  // Positions per segment, blocks of d tiles, and the tiles after a run of tiles that
  // later chunks read.
  pl.seg = ceil_div(s.out_length, kLanes);
  const int64_t span = kM * pl.d;  // positions of a block of d tiles
  const int64_t blocks = ceil_div(pl.seg, span);
  pl.halo = (pl.chunks - 1) * pl.d;
  // Weights at the n points in panels of kRows output channels: u[((xi * panels + panel)
  // * depth + c * chunks + q) * kRows + i] = sum_j G[xi][j] w[panel * kRows + i][c][q R + j].
  std::unique_ptr<float[]> u(new float[n * pl.panels * pl.depth * kRows]);
  parallel_tasks(pl.panels, [&](int64_t panel) {
    for (int64_t i = 0; i < kRows; ++i) {
      const int64_t o = panel * kRows + i;
      for (int64_t c = 0; c < pl.channels; ++c)
        for (int64_t q = 0; q < pl.chunks; ++q) {
          double taps[R] = {};
          for (int j = 0; j < R; ++j)
            if (o < pl.out_channels && q * R + j < s.kernel)
              taps[j] = weight[(o * pl.channels + c) * s.kernel + q * R + j];
          for (int xi = 0; xi < n; ++xi) {
            double sum = 0.0;
            for (int j = 0; j < R; ++j) sum += W::kT.g[xi][j] * taps[j];
            u[((xi * pl.panels + panel) * pl.depth + c * pl.chunks + q) * kRows + i] =
                static_cast<float>(sum);
          }
        }
    }
  });
  pl.u = u.get();

  // Stripes: runs of blocks (multiples of 4 blocks, so 16 d positions) whose segmented x
  // and y take about 4 MiB, so that they are copied in and out while in cache rather than
  // as whole passes through memory; the input of a stripe reaches the halo of its last
  // tiles.
  const int64_t halo_positions = pl.chunks * span + n * pl.d;
  const int64_t budget = (4 << 20) / ((pl.channels + pl.out_channels) * kLanes * 4);
  // No longer than the rows (rounded up to 4 blocks).
  const int64_t stripe_blocks =
      std::min(ceil_div(std::max(budget, 4 * halo_positions), 4 * span), ceil_div(blocks, 4)) * 4;
  const int64_t stripes = ceil_div(blocks, stripe_blocks);
  const int64_t stripe_tiles = stripe_blocks * pl.d;
  pl.in_row = ceil_div(stripe_blocks * span + halo_positions, kLanes) * kLanes;
  pl.out_row = stripe_blocks * span;

  // Tasks within a stripe: runs of tiles, whole register tiles each, whose n planes of
  // transformed inputs (tiles and halo) take at most about 768 KiB, so they stay in L2
  // while the weight panels pass over them; with several threads on a stripe, at least
  // two tasks per thread where there are tiles enough. (Sizing them to make whole rounds
  // of the pool measured slower.)
  const int64_t want = (768 << 8) / (n * pl.channels * kLanes) - pl.halo;
  const int64_t most_tiles = std::max<int64_t>(kVecs, want / kVecs * kVecs);
  const int64_t threads = num_threads();
  const auto tiles_per_task = [&](int64_t tiles, int64_t ways) {
    if (ways == 1) return most_tiles;
    return std::min(most_tiles, ceil_div(ceil_div(tiles, 2 * ways), kVecs) * kVecs);
  };
  pl.block_tiles = tiles_per_task(std::min(stripe_tiles, blocks * pl.d), 1);
  pl.v_row = (pl.block_tiles + pl.halo) * kLanes;
  pl.plane = pl.channels * pl.v_row;
  std::unique_ptr<int64_t[]> off(new int64_t[pl.depth]);
  for (int64_t c = 0; c < pl.channels; ++c)
    for (int64_t q = 0; q < pl.chunks; ++q)
      off[c * pl.chunks + q] = c * pl.v_row + q * pl.d * kLanes;
  pl.off = off.get();

  // One stripe of one image: x in as segments [channels, in_row, kLanes], the tasks, y
  // out of segments [out_channels, out_row, kLanes]. The parallel loops inside run
  // serially where whole stripes are the parallel tasks.
  const auto run_stripe = [&](int64_t image, int64_t stripe, float* xs, float* ys, int64_t ways) {
    const float* xi = x + image * pl.channels * s.length;
    float* yi = y + image * pl.out_channels * s.out_length;
    const float* ri =
        folds.residual ? folds.residual + image * pl.out_channels * s.out_length : nullptr;
    // Positions [first, first + positions) of every segment; tiles [0, tiles) of the stripe.
    const int64_t first = stripe * stripe_blocks * span;
    const int64_t tiles = std::min(stripe_blocks, blocks - stripe * stripe_blocks) * pl.d;
    // Only what the stripe's tiles read: a last, partial stripe copies less.
    const int64_t copied = ceil_div(tiles / pl.d * span + halo_positions, kLanes) * kLanes;
    parallel_chunks(pl.channels, 4, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        segment_row(xi + c * s.length, s.length, pl.seg, s.padding - first, copied,
                    folds.input_slope, xs + c * pl.in_row * kLanes);
    });
    const int64_t task_tiles = std::min(pl.block_tiles, tiles_per_task(tiles, ways));
    parallel_tasks(ceil_div(tiles, task_tiles), [&](int64_t task) {
      thread_local AlignedFloats planes;
      const int64_t t0 = task * task_tiles;
      run_task<R>(pl, xs, ys, t0, std::min(task_tiles, tiles - t0), planes.get(n * pl.plane));
    });
    const int64_t positions = std::min(tiles / pl.d * span, pl.seg - first);
    parallel_chunks(pl.out_channels, 4, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        unsegment_row(ys + o * pl.out_row * kLanes, s.out_length, pl.seg, first, positions,
                      bias ? bias[o] : 0.0f, ri ? ri + o * s.out_length : nullptr,
                      yi + o * s.out_length);
    });
  };
  const size_t xs_floats = pl.channels * pl.in_row * kLanes;
  const size_t ys_floats = pl.out_channels * pl.out_row * kLanes;
  if (threads > 1 && s.batch * stripes >= 4 * threads) {
    // Stripes enough for every thread: each takes whole stripes, with no waiting between
    // a stripe's copies and tasks.
    parallel_tasks(s.batch * stripes, [&](int64_t task) {
      thread_local AlignedFloats xs, ys;
      run_stripe(task / stripes, task % stripes, xs.get(xs_floats), ys.get(ys_floats), 1);
    });
  } else {
    AlignedFloats xs, ys;
    for (int64_t image = 0; image < s.batch; ++image)
      for (int64_t stripe = 0; stripe < stripes; ++stripe)
        run_stripe(image, stripe, xs.get(xs_floats), ys.get(ys_floats), threads);
  }
}

}  // namespace

bool conv1d_winograd_applies(const Conv1dShape& s) {
  if (s.groups != 1 || s.kernel < 3 || s.out_channels < 8) return false;
  // Only where it saves close to half the products: 5, 6 and 9 taps take 4-tap chunks
  // with room to spare (14 products per 4 outputs for 5 taps, against 20).
  const int64_t r = std::min<int64_t>(s.kernel, kM);
  const int64_t products = ceil_div(s.kernel, r) * (kM + r - 1);
  if (products * 20 > 11 * kM * s.kernel) return false;
  // Below 128 (channel, tap) rows or 64 positions per lane (1024 with AVX-512), the
  // copies into and out of segments and the tiles' halo cost more than the products save
  // (measured: 256 channels x 11 taps at dilation 5 over 512 positions; from 1024 on, every
  // vocoder shape gains). From 96 rows it pays once x passes 16 MiB, where the implicit
  // GEMM's passes over it run at memory speed (32 channels x 3 taps: slower at 65536
  // positions, 1.3x faster at 225792).
  const int64_t rows = s.channels * s.kernel;
  if (s.out_length < 64 * kLanes) return false;
  return rows >= 128 || (rows >= 96 && s.channels * s.length >= (int64_t{1} << 22));
}

void conv1d_winograd(const float* x, const float* weight, const float* bias, float* y,
                     const Conv1dShape& s, const Conv1dFolds& folds) {
  if (s.kernel == 3) {
    run<3>(x, weight, bias, y, s, folds);
  } else {
    run<kM>(x, weight, bias, y, s, folds);
  }
}

}  // namespace mmgen::kernels::cpu
