#include "kernels/cpu/vector_math.h"

// GCC 12 reports false "(may be) used uninitialized" warnings inside Eigen's AVX-512
// packet math (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/reduce.h"
#include "kernels/cpu/simd.h"

namespace mmgen::kernels::cpu {

void exp_inplace(float* x, int64_t n, float shift) {
  // Eigen's packet exp applied packet by packet: Eigen's own array loop would peel
  // unaligned heads and tails into scalar expf calls, slow for short rows.
  using Packet = Eigen::internal::packet_traits<float>::type;
  constexpr int64_t kPacket = Eigen::internal::packet_traits<float>::size;
  const Packet offset = Eigen::internal::pset1<Packet>(shift);
  // Eigen clamps very negative inputs (-inf included) to about -88.7 and returns a
  // subnormal there; results under the smallest normal float become 0 exactly.
  const Packet tiny = Eigen::internal::pset1<Packet>(std::numeric_limits<float>::min());
  auto exp_packet = [&](const float* in, float* out) {
    const Packet e =
        Eigen::internal::pexp(Eigen::internal::padd(Eigen::internal::ploadu<Packet>(in), offset));
    Eigen::internal::pstoreu(out, Eigen::internal::pand(e, Eigen::internal::pcmp_le(tiny, e)));
  };
  int64_t i = 0;
  for (; i + kPacket <= n; i += kPacket) exp_packet(x + i, x + i);
  if (i < n) {
    float tail[kPacket] = {};
    std::copy(x + i, x + n, tail);
    exp_packet(tail, tail);
    std::copy(tail, tail + (n - i), x + i);
  }
}

void softmax_row_inplace(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = max_f32(x, n);
  if (max == -std::numeric_limits<float>::infinity()) {
    // Every entry masked: nothing to attend to. (A NaN anywhere propagates below.)
    std::fill(x, x + n, 0.0f);
    return;
  }
  exp_inplace(x, n, -max);
  const float inv = static_cast<float>(1.0 / sum_f64(x, n));
  Eigen::Map<Eigen::ArrayXf>(x, n) *= inv;
}

}  // namespace mmgen::kernels::cpu
