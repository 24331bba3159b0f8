// Straightforward double-precision reference implementations of the kernel ops,
// for tests of both backends. Inputs are host tensors of any dtype (quantised
// weights are dequantised first); outputs are f32 host tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/op_types.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen::test::naive {

using Values = std::vector<double>;

inline Values values(const Tensor& t) {
  const std::vector<float> f = t.to_f32_vector();
  return Values(f.begin(), f.end());
}

inline Tensor make(const Values& v, const Shape& shape) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector(f, shape);
}

// Empty when `actual` matches `expected` within tol * max(1, max |expected|) in every
// element (same shape, no NaN where a number is expected); otherwise a description.
inline std::string mismatch(const Tensor& actual, const Tensor& expected, double tol) {
  std::ostringstream out;
  if (actual.shape() != expected.shape()) {
    out << "shape " << shape_str(actual.shape()) << " vs expected " << shape_str(expected.shape());
    return out.str();
  }
  const Values a = values(actual), e = values(expected);
  double magnitude = 1.0;
  for (double v : e)
    if (std::isfinite(v)) magnitude = std::max(magnitude, std::abs(v));
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::isnan(a[i]) != std::isnan(e[i]) ? INFINITY
                     : std::isnan(e[i])                   ? 0.0
                     : a[i] == e[i]                       ? 0.0
                                                          : std::abs(a[i] - e[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (worst <= tol * magnitude) return "";
  out << "max |difference| " << worst << " at flat index " << at << " (got " << a[at]
      << ", expected " << e[at] << "), allowed " << tol * magnitude;
  return out.str();
}

// ---- indexing helpers ----------------------------------------------------------

inline Shape broadcast(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Flat offset in a row-major tensor of `shape` (right-aligned with the index; size-1
// dims read index 0) for the multi-index `idx`.
inline int64_t broadcast_offset(const Shape& shape, const std::vector<int64_t>& idx) {
  int64_t offset = 0;
  const size_t skip = idx.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d)
    offset = offset * shape[d] + (shape[d] == 1 ? 0 : idx[skip + d]);
  return offset;
}

inline std::vector<int64_t> unflatten(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

// ---- matrix products -----------------------------------------------------------

inline Tensor matmul(const Tensor& a, const Tensor& b, bool ta = false, bool tb = false) {
  const Values av = values(a), bv = values(b);
  const int64_t m = ta ? a.dim(-1) : a.dim(-2), k = ta ? a.dim(-2) : a.dim(-1);
  const int64_t n = tb ? b.dim(-2) : b.dim(-1);
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast(batch_a, batch_b);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Values out(static_cast<size_t>(shape_numel(out_shape)));
  const int64_t a_mat = a.dim(-1) * a.dim(-2), b_mat = b.dim(-1) * b.dim(-2);
  for (int64_t bi = 0; bi < shape_numel(batch); ++bi) {
    const auto idx = unflatten(bi, batch);
    const double* ap = av.data() + broadcast_offset(batch_a, idx) * a_mat;
    const double* bp = bv.data() + broadcast_offset(batch_b, idx) * b_mat;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += (ta ? ap[p * m + i] : ap[i * k + p]) * (tb ? bp[j * k + p] : bp[p * n + j]);
        out[(bi * m + i) * n + j] = s;
      }
  }
  return make(out, out_shape);
}

inline Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = {}) {
  const int64_t in = w.dim(1), out_f = w.dim(0), rows = x.numel() / in;
  const Values xv = values(x), wv = values(w);
  const Values bv = bias.defined() ? values(bias) : Values(out_f, 0.0);
  Values out(static_cast<size_t>(rows * out_f));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out_f; ++o) {
      double s = bv[o];
      for (int64_t i = 0; i < in; ++i) s += xv[r * in + i] * wv[o * in + i];
      out[r * out_f + o] = s;
    }
  Shape shape(x.shape().begin(), x.shape().end() - 1);
  shape.push_back(out_f);
  return make(out, shape);
}

// ---- convolutions ----------------------------------------------------------------

inline Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias,
                     const kernels::Conv2dParams& p) {
  const Values xv = values(x), wv = values(w);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t o = w.dim(0), kh = w.dim(2), kw = w.dim(3);
  const Values bv = bias.defined() ? values(bias) : Values(o, 0.0);
  const int64_t cg = c / p.groups, og = o / p.groups;
  const int64_t ho = (h + 2 * p.pad_h - p.dilation_h * (kh - 1) - 1) / p.stride_h + 1;
  const int64_t wo = (wd + 2 * p.pad_w - p.dilation_w * (kw - 1) - 1) / p.stride_w + 1;
  Values out(static_cast<size_t>(n * o * ho * wo));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc) {
      const int64_t g = oc / og;
      for (int64_t y = 0; y < ho; ++y)
        for (int64_t z = 0; z < wo; ++z) {
          double s = bv[oc];
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iy = y * p.stride_h - p.pad_h + i * p.dilation_h;
                const int64_t ix = z * p.stride_w - p.pad_w + j * p.dilation_w;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += xv[((b * c + g * cg + ci) * h + iy) * wd + ix] *
                     wv[((oc * cg + ci) * kh + i) * kw + j];
              }
          out[((b * o + oc) * ho + y) * wo + z] = s;
        }
    }
  return make(out, {n, o, ho, wo});
}

inline Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& bias,
                     const kernels::Conv1dParams& p) {
  kernels::Conv2dParams q;
  q.stride_w = p.stride;
  q.pad_w = p.padding;
  q.dilation_w = p.dilation;
  q.groups = p.groups;
  const Tensor y = naive::conv2d(x.contiguous().view({x.dim(0), x.dim(1), 1, x.dim(2)}),
                                 w.contiguous().view({w.dim(0), w.dim(1), 1, w.dim(2)}), bias, q);
  return y.view({y.dim(0), y.dim(1), y.dim(3)});
}

inline Tensor conv_transpose1d(const Tensor& x, const Tensor& w, const Tensor& bias,
                               const kernels::Conv1dParams& p) {
  const Values xv = values(x), wv = values(w);
  const int64_t n = x.dim(0), c = x.dim(1), l = x.dim(2);
  const int64_t og = w.dim(1), k = w.dim(2), o = og * p.groups, cg = c / p.groups;
  const int64_t lo =
      (l - 1) * p.stride - 2 * p.padding + p.dilation * (k - 1) + p.output_padding + 1;
  const Values bv = bias.defined() ? values(bias) : Values(o, 0.0);
  Values out(static_cast<size_t>(n * o * lo));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t t = 0; t < lo; ++t) out[(b * o + oc) * lo + t] = bv[oc];
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ci = 0; ci < c; ++ci) {
      const int64_t g = ci / cg;
      for (int64_t oi = 0; oi < og; ++oi)
        for (int64_t i = 0; i < l; ++i)
          for (int64_t t = 0; t < k; ++t) {
            const int64_t pos = i * p.stride - p.padding + t * p.dilation;
            if (pos < 0 || pos >= lo) continue;
            out[(b * o + g * og + oi) * lo + pos] +=
                xv[(b * c + ci) * l + i] * wv[(ci * og + oi) * k + t];
          }
    }
  return make(out, {n, o, lo});
}

// ---- normalisation -----------------------------------------------------------------

inline Tensor group_norm(const Tensor& x, int groups, const Tensor& w, const Tensor& b,
                         double eps) {
  const Values xv = values(x);
  const int64_t n = x.dim(0), c = x.dim(1), s = x.numel() / (n * c), cg = c / groups;
  const Values wv = w.defined() ? values(w) : Values(c, 1.0);
  const Values bv = b.defined() ? values(b) : Values(c, 0.0);
  Values out(xv.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t start = (i * c + g * cg) * s, count = cg * s;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < count; ++j) mean += xv[start + j];
      mean /= count;
      for (int64_t j = 0; j < count; ++j) var += (xv[start + j] - mean) * (xv[start + j] - mean);
      var /= count;
      for (int64_t j = 0; j < count; ++j) {
        const int64_t ch = g * cg + j / s;
        out[start + j] = (xv[start + j] - mean) / std::sqrt(var + eps) * wv[ch] + bv[ch];
      }
    }
  return make(out, x.shape());
}

inline Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const Values xv = values(x);
  const int64_t d = x.dim(-1), rows = x.numel() / d;
  const Values wv = w.defined() ? values(w) : Values(d, 1.0);
  const Values bv = b.defined() ? values(b) : Values(d, 0.0);
  Values out(xv.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += xv[r * d + i];
    mean /= d;
    for (int64_t i = 0; i < d; ++i) var += (xv[r * d + i] - mean) * (xv[r * d + i] - mean);
    var /= d;
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = (xv[r * d + i] - mean) / std::sqrt(var + eps) * wv[i] + bv[i];
  }
  return make(out, x.shape());
}

inline Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
  const Values xv = values(x);
  const int64_t d = x.dim(-1), rows = x.numel() / d;
  const Values wv = w.defined() ? values(w) : Values(d, 1.0);
  Values out(xv.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t i = 0; i < d; ++i) ms += xv[r * d + i] * xv[r * d + i];
    ms /= d;
    for (int64_t i = 0; i < d; ++i) out[r * d + i] = xv[r * d + i] / std::sqrt(ms + eps) * wv[i];
  }
  return make(out, x.shape());
}

// Softmax of one row; all -inf gives zeros.
inline void softmax_row(double* row, int64_t n) {
  double max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, row[i]);
  if (max == -INFINITY) {
    std::fill(row, row + n, 0.0);
    return;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += row[i] = std::exp(row[i] - max);
  for (int64_t i = 0; i < n; ++i) row[i] /= sum;
}

inline Tensor softmax(const Tensor& x) {
  Values v = values(x);
  const int64_t d = x.dim(-1);
  for (int64_t r = 0; r < x.numel() / d; ++r) softmax_row(v.data() + r * d, d);
  return make(v, x.shape());
}

// ---- attention -----------------------------------------------------------------------

inline Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                        bool causal, double scale = 0) {
  const Values qv = values(q), kv = values(k), vv = values(v);
  const Values mv = mask.defined() ? values(mask) : Values();
  const int64_t b = q.dim(0), hq = q.dim(1), lq = q.dim(2), d = q.dim(3);
  const int64_t hkv = k.dim(1), lk = k.dim(2), dv = v.dim(3);
  if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(d));
  Values out(static_cast<size_t>(b * hq * lq * dv));
  std::vector<double> s(static_cast<size_t>(lk));
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t kh = h / (hq / hkv);
      for (int64_t i = 0; i < lq; ++i) {
        for (int64_t j = 0; j < lk; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e)
            dot += qv[((bi * hq + h) * lq + i) * d + e] * kv[((bi * hkv + kh) * lk + j) * d + e];
          s[j] = dot * scale;
          if (mask.defined()) s[j] += mv[broadcast_offset(mask.shape(), {bi, h, i, j})];
          if (causal && j > i + (lk - lq)) s[j] = -INFINITY;
        }
        softmax_row(s.data(), lk);
        for (int64_t e = 0; e < dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < lk; ++j) acc += s[j] * vv[((bi * hkv + kh) * lk + j) * dv + e];
          out[((bi * hq + h) * lq + i) * dv + e] = acc;
        }
      }
    }
  return make(out, {b, hq, lq, dv});
}

// ---- elementwise -----------------------------------------------------------------------

inline double unary_value(kernels::UnaryOp op, double x, double alpha, double beta) {
  using kernels::UnaryOp;
  switch (op) {
    case UnaryOp::kGelu:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case UnaryOp::kGeluTanh:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::kQuickGelu:
      return x / (1.0 + std::exp(-1.702 * x));
    case UnaryOp::kSilu:
      return x / (1.0 + std::exp(-x));
    case UnaryOp::kRelu:
      return x > 0 ? x : 0.0;
    case UnaryOp::kLeakyRelu:
      return x >= 0 ? x : alpha * x;
    case UnaryOp::kTanh:
      return std::tanh(x);
    case UnaryOp::kSigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case UnaryOp::kExp:
      return std::exp(x);
    case UnaryOp::kScale:
      return x * alpha;
    case UnaryOp::kAddScalar:
      return x + alpha;
    case UnaryOp::kClamp:
      return std::min(std::max(x, alpha), beta);
  }
  return 0;
}

inline Tensor unary(kernels::UnaryOp op, const Tensor& x, double alpha = 0, double beta = 0) {
  Values v = values(x);
  for (double& e : v) e = unary_value(op, e, alpha, beta);
  return make(v, x.shape());
}

inline Tensor binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b) {
  const Values av = values(a), bv = values(b);
  const Shape shape = broadcast(a.shape(), b.shape());
  Values out(static_cast<size_t>(shape_numel(shape)));
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
    const auto idx = unflatten(i, shape);
    const double x = av[broadcast_offset(a.shape(), idx)];
    const double y = bv[broadcast_offset(b.shape(), idx)];
    switch (op) {
      case kernels::BinaryOp::kAdd:
        out[i] = x + y;
        break;
      case kernels::BinaryOp::kSub:
        out[i] = x - y;
        break;
      case kernels::BinaryOp::kMul:
        out[i] = x * y;
        break;
      case kernels::BinaryOp::kDiv:
        out[i] = x / y;
        break;
    }
  }
  return make(out, shape);
}

// ---- positions and embeddings -------------------------------------------------------------

// x: [B, L, H, D]; positions as integers; inv_freq empty means theta^(-2i / rotary),
// rounded to f32 as the models store it.
inline Tensor rope(const Tensor& x, const std::vector<int64_t>& positions, int rotary_dims,
                   double theta, kernels::RopeStyle style, std::vector<double> inv_freq = {}) {
  Values v = values(x);
  const int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2), d = x.dim(3);
  const int64_t r = rotary_dims ? rotary_dims : d, half = r / 2;
  if (inv_freq.empty())
    for (int64_t i = 0; i < half; ++i)
      inv_freq.push_back(static_cast<float>(1.0 / std::pow(theta, 2.0 * i / r)));
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t li = 0; li < l; ++li)
      for (int64_t hi = 0; hi < h; ++hi) {
        double* row = v.data() + ((bi * l + li) * h + hi) * d;
        for (int64_t i = 0; i < half; ++i) {
          const double angle = static_cast<double>(positions[li]) * inv_freq[i];
          const int64_t first = style == kernels::RopeStyle::kRotateHalf ? i : 2 * i;
          const int64_t second = style == kernels::RopeStyle::kRotateHalf ? i + half : 2 * i + 1;
          const double x1 = row[first], x2 = row[second];
          row[first] = x1 * std::cos(angle) - x2 * std::sin(angle);
          row[second] = x2 * std::cos(angle) + x1 * std::sin(angle);
        }
      }
  return make(v, x.shape());
}

inline Tensor embedding(const Tensor& weight, const std::vector<int64_t>& ids, Shape ids_shape) {
  const Values w = values(weight);
  const int64_t d = weight.dim(1);
  Values out;
  for (int64_t id : ids) out.insert(out.end(), w.begin() + id * d, w.begin() + (id + 1) * d);
  ids_shape.push_back(d);
  return make(out, ids_shape);
}

inline Tensor timestep_embedding(const std::vector<double>& t, int dim, double max_period,
                                 bool cos_first, double shift) {
  const int64_t half = dim / 2, n = static_cast<int64_t>(t.size());
  Values out(static_cast<size_t>(n * dim), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < half; ++i) {
      const double arg = t[r] * std::exp(-std::log(max_period) * i / (half - shift));
      out[r * dim + i] = cos_first ? std::cos(arg) : std::sin(arg);
      out[r * dim + half + i] = cos_first ? std::sin(arg) : std::cos(arg);
    }
  return make(out, {n, dim});
}

// ---- layout ------------------------------------------------------------------------------------

inline Tensor upsample_nearest2d(const Tensor& x, int f) {
  const Values v = values(x);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Values out(static_cast<size_t>(n * c * h * f * w * f));
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < h * f; ++y)
      for (int64_t z = 0; z < w * f; ++z)
        out[(p * h * f + y) * w * f + z] = v[(p * h + y / f) * w + z / f];
  return make(out, {n, c, h * f, w * f});
}

inline Tensor concat(const std::vector<Tensor>& ts, int dim) {
  Shape shape = ts[0].shape();
  if (dim < 0) dim += static_cast<int>(shape.size());
  shape[dim] = 0;
  for (const Tensor& t : ts) shape[dim] += t.dim(dim);
  Values out(static_cast<size_t>(shape_numel(shape)));
  int64_t start = 0;
  for (const Tensor& t : ts) {
    const Values v = values(t);
    for (int64_t i = 0; i < t.numel(); ++i) {
      auto idx = unflatten(i, t.shape());
      idx[dim] += start;
      int64_t flat = 0;
      for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
      out[flat] = v[i];
    }
    start += t.dim(dim);
  }
  return make(out, shape);
}

// First index of the maximum along the last dim (NaN counts as the maximum).
inline std::vector<int64_t> argmax(const Tensor& x) {
  const Values v = values(x);
  const int64_t n = x.dim(-1);
  std::vector<int64_t> out;
  for (int64_t r = 0; r < x.numel() / n; ++r) {
    int64_t best = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = v[r * n + i];
      if (std::isnan(e)) {
        best = i;
        break;
      }
      if (e > v[r * n + best]) best = i;
    }
    out.push_back(best);
  }
  return out;
}

}  // namespace mmgen::test::naive
