// Rotary position embedding, token embedding lookup and the diffusion timestep
// embedding on the CPU.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_convert.h"

namespace mmgen::kernels::cpu {

Tensor rope(const Tensor& x, const Tensor& positions, const Tensor& inv_freq, RopeStyle style) {
  const int64_t batch = x.dim(0), length = x.dim(1), heads = x.dim(2), dim = x.dim(3);
  const int64_t pairs = inv_freq.numel();
  const int64_t rotary = 2 * pairs;
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = x.typed_data<float>();
  float* yp = y.typed_data<float>();
  const int64_t* pos = positions.typed_data<int64_t>();
  const float* freq = inv_freq.typed_data<float>();

  // cos / sin of position * frequency, one row of `pairs` per position (angles in double).
  std::vector<float> cos_table(static_cast<size_t>(length * pairs));
  std::vector<float> sin_table(cos_table.size());
  auto fill_tables = [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      for (int64_t i = 0; i < pairs; ++i) {
        const double angle = static_cast<double>(pos[l]) * static_cast<double>(freq[i]);
        cos_table[l * pairs + i] = static_cast<float>(std::cos(angle));
        sin_table[l * pairs + i] = static_cast<float>(std::sin(angle));
      }
    }
  };
  parallel_chunks(length, std::max<int64_t>(1, 1024 / std::max<int64_t>(pairs, 1)), fill_tables);

  // Pair i rotates elements (first, first + partner): (i, i + pairs) for rotate-half,
  // (2i, 2i + 1) for interleaved.
  const bool half = style == RopeStyle::kRotateHalf;
  const int64_t first_step = half ? 1 : 2;
  const int64_t partner = half ? pairs : 1;
  auto rotate_rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t l = r % length;
      const float* c = cos_table.data() + l * pairs;
      const float* s = sin_table.data() + l * pairs;
      for (int64_t h = 0; h < heads; ++h) {
        const float* in = xp + (r * heads + h) * dim;
        float* out = yp + (r * heads + h) * dim;
        for (int64_t i = 0; i < pairs; ++i) {
          const int64_t a = i * first_step, b = a + partner;
          const float x1 = in[a], x2 = in[b];
          out[a] = x1 * c[i] - x2 * s[i];
          out[b] = x2 * c[i] + x1 * s[i];
        }
        for (int64_t i = rotary; i < dim; ++i) out[i] = in[i];
      }
    }
  };
  parallel_chunks(batch * length, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, heads * dim)),
                  rotate_rows);
  return y;
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const int64_t n = ids.numel(), dim = weight.dim(1);
  Tensor y = Tensor::empty({n, dim}, DType::kF32);
  const int64_t* id = ids.typed_data<int64_t>();
  float* out = y.typed_data<float>();
  parallel_chunks(n, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      to_f32(weight.dtype(), element_address(weight.dtype(), weight.data(), id[i] * dim),
             out + i * dim, dim);
  });
  return y;
}

Tensor timestep_embedding(const Tensor& timesteps, int dim, float max_period, bool cos_first,
                          float shift) {
  const int64_t n = timesteps.numel();
  const int64_t half = dim / 2;
  Tensor y = Tensor::empty({n, dim}, DType::kF32);
  const float* t = timesteps.typed_data<float>();
  float* out = y.typed_data<float>();
  const double log_period = std::log(static_cast<double>(max_period));
  for (int64_t r = 0; r < n; ++r) {
    float* row = out + r * dim;
    float* first = row;
    float* second = row + half;
    for (int64_t i = 0; i < half; ++i) {
      const double freq =
          std::exp(-log_period * static_cast<double>(i) / (static_cast<double>(half) - shift));
      const double arg = static_cast<double>(t[r]) * freq;
      first[i] = static_cast<float>(cos_first ? std::cos(arg) : std::sin(arg));
      second[i] = static_cast<float>(cos_first ? std::sin(arg) : std::cos(arg));
    }
    if (dim % 2) row[dim - 1] = 0.0f;
  }
  return y;
}

}  // namespace mmgen::kernels::cpu
