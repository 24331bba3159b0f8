// Elementwise activations and broadcasting arithmetic on the CPU.
// GCC 12 reports false "(may be) used uninitialized" warnings inside Eigen's AVX-512
// packet math (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vector_math.h"

namespace mmgen::kernels::cpu {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per task

using Array = Eigen::Map<const Eigen::ArrayXf>;
using OutArray = Eigen::Map<Eigen::ArrayXf>;

// 0.5 x (1 + erf(x / sqrt 2)) = max(x, 0) - 0.5 |x| erfc(|x| / sqrt 2), with
// erfc(z) = t P(t) exp(-z^2), t = 1 / (1 + p z) (Abramowitz & Stegun 7.1.26,
// |error| < 1.5e-7). Vectorises, where Eigen's float erf does not; runs of 256 keep
// the temporaries on the stack.
void gelu_erf(const float* in, float* out, int64_t n) {
  constexpr int64_t kRun = 256;
  using Run = Eigen::Array<float, Eigen::Dynamic, 1, 0, kRun, 1>;
  for (int64_t start = 0; start < n; start += kRun) {
    const int64_t len = std::min(kRun, n - start);
    const Array x(in + start, len);
    const Run z = x.abs() * static_cast<float>(M_SQRT1_2);
    const Run t = 1.0f / (1.0f + 0.3275911f * z);
    const Run erfc =
        t *
        (0.254829592f +
         t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f)))) *
        (-(z * z)).exp();
    OutArray(out + start, len) = x.max(0.0f) - 0.5f * x.abs() * erfc;
  }
}

void apply_unary(UnaryOp op, const float* in, float* out, int64_t n, float alpha, float beta) {
  const Array x(in, n);
  OutArray y(out, n);
  switch (op) {
    case UnaryOp::kGelu:
      gelu_erf(in, out, n);
      return;
    case UnaryOp::kGeluTanh: {
      constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
      y = 0.5f * x * (1.0f + (kC * (x + 0.044715f * x * x * x)).tanh());
      return;
    }
    case UnaryOp::kQuickGelu:
      y = x * (1.702f * x).logistic();
      return;
    case UnaryOp::kSilu:
      y = x * x.logistic();
      return;
    case UnaryOp::kRelu:
      y = x.max(0.0f);
      return;
    case UnaryOp::kLeakyRelu:
      y = x.max(0.0f) + alpha * x.min(0.0f);  // (select() would not vectorise)
      return;
    case UnaryOp::kTanh:
      y = x.tanh();
      return;
    case UnaryOp::kSigmoid:
      y = x.logistic();
      return;
    case UnaryOp::kExp:
      y = x;
      exp_inplace(out, n);
      return;
    case UnaryOp::kScale:
      y = x * alpha;
      return;
    case UnaryOp::kAddScalar:
      y = x + alpha;
      return;
    case UnaryOp::kClamp:
      y = x.max(alpha).min(beta);
      return;
  }
}

struct AddOp {
  float operator()(float a, float b) const { return a + b; }
};
struct SubOp {
  float operator()(float a, float b) const { return a - b; }
};
struct MulOp {
  float operator()(float a, float b) const { return a * b; }
};
struct DivOp {
  float operator()(float a, float b) const { return a / b; }
};

// out[j] = f(a[j * SA], b[j * SB]) with SA, SB in {0, 1}.
template <int SA, int SB, typename F>
void binary_run(F f, const float* a, const float* b, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = f(a[j * SA], b[j * SB]);
}

template <typename F>
void binary_inner(F f, const float* a, int64_t sa, const float* b, int64_t sb, float* out,
                  int64_t n) {
  if (sa == 1 && sb == 1) {
    binary_run<1, 1>(f, a, b, out, n);
  } else if (sa == 1) {
    binary_run<1, 0>(f, a, b, out, n);
  } else if (sb == 1) {
    binary_run<0, 1>(f, a, b, out, n);
  } else {
    binary_run<0, 0>(f, a, b, out, n);
  }
}

// Broadcast loop: dims merged where both operands allow, then rows of the
// innermost dim, each split into runs of at most kGrain elements.
template <typename F>
void binary_broadcast(F f, const Tensor& a, const Tensor& b, const Shape& out_shape, float* out) {
  const int nd = static_cast<int>(out_shape.size());
  const Shape a_full = contiguous_strides(a.shape()), b_full = contiguous_strides(b.shape());
  Shape dims, sa, sb;
  for (int d = 0; d < nd; ++d) {
    if (out_shape[d] == 1) continue;
    const int64_t da = a.dim(d) == 1 ? 0 : a_full[d];
    const int64_t db = b.dim(d) == 1 ? 0 : b_full[d];
    if (!dims.empty() && sa.back() == da * out_shape[d] && sb.back() == db * out_shape[d]) {
      dims.back() *= out_shape[d];
      sa.back() = da;
      sb.back() = db;
    } else {
      dims.push_back(out_shape[d]);
      sa.push_back(da);
      sb.push_back(db);
    }
  }
  if (dims.empty()) {
    dims = {1};
    sa = {1};
    sb = {1};
  }
  const int outer_nd = static_cast<int>(dims.size()) - 1;
  const int64_t inner = dims.back();
  const int64_t rows = shape_numel(Shape(dims.begin(), dims.end() - 1));
  const int64_t runs = (inner + kGrain - 1) / kGrain;
  const float* ap = a.typed_data<float>();
  const float* bp = b.typed_data<float>();
  const int64_t row_grain = std::max<int64_t>(1, kGrain / inner);
  parallel_chunks(rows * runs, row_grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t row = t / runs, run = t % runs;
      int64_t oa = 0, ob = 0, rest = row;
      for (int d = outer_nd - 1; d >= 0; --d) {
        const int64_t i = rest % dims[d];
        rest /= dims[d];
        oa += i * sa[d];
        ob += i * sb[d];
      }
      const int64_t j0 = run * kGrain, j1 = std::min(inner, j0 + kGrain);
      binary_inner(f, ap + oa + j0 * sa.back(), sa.back(), bp + ob + j0 * sb.back(), sb.back(),
                   out + row * inner + j0, j1 - j0);
    }
  });
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x, float alpha, float beta) {
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* in = x.typed_data<float>();
  float* out = y.typed_data<float>();
  parallel_chunks(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    apply_unary(op, in + begin, out + begin, end - begin, alpha, beta);
  });
  return y;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor y = Tensor::empty(out_shape, DType::kF32);
  float* out = y.typed_data<float>();
  if (y.numel() == 0) return y;
  switch (op) {
    case BinaryOp::kAdd:
      binary_broadcast(AddOp{}, a, b, out_shape, out);
      break;
    case BinaryOp::kSub:
      binary_broadcast(SubOp{}, a, b, out_shape, out);
      break;
    case BinaryOp::kMul:
      binary_broadcast(MulOp{}, a, b, out_shape, out);
      break;
    case BinaryOp::kDiv:
      binary_broadcast(DivOp{}, a, b, out_shape, out);
      break;
  }
  return y;
}

}  // namespace mmgen::kernels::cpu
