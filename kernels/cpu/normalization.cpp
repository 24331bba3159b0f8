// group_norm, layer_norm, rms_norm and softmax on the CPU.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/vector_math.h"

namespace mmgen::kernels::cpu {
namespace {

const float* optional_data(const Tensor& t) {
  return t.defined() ? t.typed_data<float>() : nullptr;
}

// Mean and 1 / sqrt(variance + eps) of n values: a first pass finds a centre, a
// second sums deviations from it (double accumulation of float runs).
void mean_rstd(const float* x, int64_t n, float eps, float& mean, float& rstd) {
  if (n == 0) {
    mean = 0.0f;
    rstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(eps)));
    return;
  }
  const float center = static_cast<float>(sum_f64(x, n) / static_cast<double>(n));
  const DeviationSums d = deviation_sums(x, n, center);
  const double shift = d.sum / static_cast<double>(n);
  const double var = std::max(0.0, d.sum_sq / static_cast<double>(n) - shift * shift);
  mean = static_cast<float>(center + shift);
  rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
}

// y = (x - mean) * scale + shift (subtracting first keeps a large mean exact)
void normalize_run(const float* x, float* y, int64_t n, float mean, float scale, float shift) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * scale + shift;
}

// Rows per task so that a task touches about 64K elements.
int64_t row_grain(int64_t row_length) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, row_length));
}

}  // namespace

Tensor group_norm(const Tensor& x, int groups, const Tensor& weight, const Tensor& bias,
                  float eps) {
  const int64_t n = x.dim(0), channels = x.dim(1), spatial = x.dim(2);
  const int64_t group_channels = channels / groups;
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = x.typed_data<float>();
  float* yp = y.typed_data<float>();
  const float* w = optional_data(weight);
  const float* b = optional_data(bias);
  parallel_tasks(n * groups, [&](int64_t task) {
    const int64_t g = task % groups;
    const int64_t offset = task * group_channels * spatial;
    float mean, rstd;
    mean_rstd(xp + offset, group_channels * spatial, eps, mean, rstd);
    for (int64_t c = 0; c < group_channels; ++c) {
      const int64_t channel = g * group_channels + c;
      const float scale = rstd * (w ? w[channel] : 1.0f);
      const int64_t at = offset + c * spatial;
      normalize_run(xp + at, yp + at, spatial, mean, scale, b ? b[channel] : 0.0f);
    }
  });
  return y;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const int64_t rows = x.dim(0), d = x.dim(1);
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = x.typed_data<float>();
  float* yp = y.typed_data<float>();
  const float* w = optional_data(weight);
  const float* b = optional_data(bias);
  parallel_chunks(rows, row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* in = xp + r * d;
      float* out = yp + r * d;
      float mean, rstd;
      mean_rstd(in, d, eps, mean, rstd);
      for (int64_t i = 0; i < d; ++i) {
        const float v = (in[i] - mean) * rstd;
        out[i] = (w ? v * w[i] : v) + (b ? b[i] : 0.0f);
      }
    }
  });
  return y;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  const int64_t rows = x.dim(0), d = x.dim(1);
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = x.typed_data<float>();
  float* yp = y.typed_data<float>();
  const float* w = optional_data(weight);
  parallel_chunks(rows, row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* in = xp + r * d;
      float* out = yp + r * d;
      const double mean_square =
          d ? deviation_sums(in, d, 0.0f).sum_sq / static_cast<double>(d) : 0.0;
      const float rstd = static_cast<float>(1.0 / std::sqrt(mean_square + eps));
      if (w) {
        for (int64_t i = 0; i < d; ++i) out[i] = in[i] * rstd * w[i];
      } else {
        for (int64_t i = 0; i < d; ++i) out[i] = in[i] * rstd;
      }
    }
  });
  return y;
}

Tensor softmax(const Tensor& x) {
  const int64_t rows = x.dim(0), d = x.dim(1);
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = x.typed_data<float>();
  float* yp = y.typed_data<float>();
  parallel_chunks(rows, row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* in = xp + r * d;
      float* out = yp + r * d;
      if (in != out) std::copy(in, in + d, out);
      softmax_row_inplace(out, d);
    }
  });
  return y;
}

}  // namespace mmgen::kernels::cpu
