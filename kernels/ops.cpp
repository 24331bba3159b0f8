// The op dispatcher: validates shapes, dtypes, devices and parameters, resolves
// defaults, makes inputs contiguous in the forms of kernels/backend_ops.inc and
// calls the backend of the inputs' device.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/linear_products.h"
#include "kernels/cpu/residual_stacks_amx.h"
#if MMGEN_HAS_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

// Returns backend::CALL for the device `dev` (without CUDA, a CUDA tensor cannot exist).
#if MMGEN_HAS_CUDA
#define MMGEN_DISPATCH(dev, CALL)           \
  do {                                      \
    if ((dev).is_cuda()) return cuda::CALL; \
    return cpu::CALL;                       \
  } while (0)
#else
#define MMGEN_DISPATCH(dev, CALL) return cpu::CALL
#endif

namespace mmgen::kernels {
namespace {

// "f32[2, 7]": what error messages call a tensor.
std::string desc(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape());
}

void check_defined(const char* op, const char* name, const Tensor& t) {
  MMGEN_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
}

// All defined tensors on the first one's device.
void check_devices(const char* op,
                   std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  const std::pair<const char*, const Tensor*>* first = nullptr;
  for (const auto& entry : ts) {
    if (!entry.second->defined()) continue;
    if (!first) {
      first = &entry;
      continue;
    }
    MMGEN_CHECK(entry.second->device() == first->second->device(), op, ": ", entry.first, " is on ",
                entry.second->device().str(), " but ", first->first, " is on ",
                first->second->device().str());
  }
}

void check_f32(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  MMGEN_CHECK(t.dtype() == DType::kF32, op, ": ", name, " must be f32, got ", desc(t));
}

void check_rank(const char* op, const char* name, const Tensor& t, int rank, const char* layout) {
  MMGEN_CHECK(t.ndim() == rank, op, ": ", name, " must be ", rank, "-d ", layout, ", got ",
              desc(t));
}

bool is_weight_dtype(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || is_quantized(d);
}

// The tensor itself when contiguous, else a contiguous copy on its device.
Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : contiguous(t); }

// A small parameter vector (norm weights, biases) as dense f32 of `length` elements.
Tensor param_f32(const char* op, const char* name, const Tensor& t, int64_t length) {
  if (!t.defined()) return t;
  MMGEN_CHECK(t.ndim() == 1 && t.dim(0) == length, op, ": ", name, " ", desc(t), " must be [",
              length, "]");
  MMGEN_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kF16 || t.dtype() == DType::kBF16, op,
              ": ", name, " must be f32, f16 or bf16, got ", desc(t));
  return t.dtype() == DType::kF32 ? dense(t) : cast(t, DType::kF32);
}

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Leading 1s up to `rank` dims (a view of a dense tensor).
Tensor pad_rank(const Tensor& t, size_t rank) {
  Shape shape(rank - t.shape().size(), 1);
  shape.insert(shape.end(), t.shape().begin(), t.shape().end());
  return dense(t).view(shape);
}

// Repeats size-1 dims of t (same rank as `shape`) until t has `shape` (copies).
Tensor expand_copy(Tensor t, const Shape& shape) {
  for (size_t d = 0; d < shape.size(); ++d) {
    if (t.dim(static_cast<int>(d)) == 1 && shape[d] != 1)
      t = concat(std::vector<Tensor>(static_cast<size_t>(shape[d]), t), static_cast<int>(d));
  }
  return t;
}

// Product of all dims but the last.
int64_t leading_rows(const Tensor& t) {
  return shape_numel(Shape(t.shape().begin(), t.shape().end() - 1));
}

int wrap_dim(const char* op, int dim, int rank) {
  const int wrapped = dim < 0 ? dim + rank : dim;
  MMGEN_CHECK(wrapped >= 0 && wrapped < rank, op, ": dim ", dim, " is out of range for ", rank,
              "-d tensors");
  return wrapped;
}

Tensor unary_op(const char* op, UnaryOp kind, const Tensor& x, float alpha = 0.0f,
                float beta = 0.0f) {
  check_f32(op, "x", x);
  const Tensor in = dense(x);
  MMGEN_DISPATCH(in.device(), unary(kind, in, alpha, beta));
}

Tensor binary_op(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b) {
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  check_devices(op, {{"a", &a}, {"b", &b}});
  const auto shape = broadcast_shapes(a.shape(), b.shape());
  MMGEN_CHECK(shape.has_value(), op, ": shapes ", shape_str(a.shape()), " and ",
              shape_str(b.shape()), " do not broadcast");
  const Tensor a_in = pad_rank(a, shape->size());
  const Tensor b_in = pad_rank(b, shape->size());
  MMGEN_DISPATCH(a.device(), binary(kind, a_in, b_in, *shape));
}

}  // namespace

// ---- matrix products ---------------------------------------------------------

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  check_f32("matmul", "a", a);
  check_defined("matmul", "b", b);
  check_devices("matmul", {{"a", &a}, {"b", &b}});
  MMGEN_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "matmul: a ", desc(a), " and b ", desc(b),
              " must both have at least 2 dims");
  MMGEN_CHECK(is_weight_dtype(b.dtype()), "matmul: b must be f32, f16, bf16 or quantised, got ",
              desc(b));
  MMGEN_CHECK(!is_quantized(b.dtype()) || (b.ndim() == 2 && transpose_b), "matmul: quantised b ",
              desc(b), " must be 2-d and used with transpose_b");
  const int64_t m = transpose_a ? a.dim(-1) : a.dim(-2);
  const int64_t k = transpose_a ? a.dim(-2) : a.dim(-1);
  const int64_t kb = transpose_b ? b.dim(-1) : b.dim(-2);
  const int64_t n = transpose_b ? b.dim(-2) : b.dim(-1);
  MMGEN_CHECK(k == kb, "matmul: a ", desc(a), transpose_a ? " (transposed)" : "", " and b ",
              desc(b), transpose_b ? " (transposed)" : "", " have inner dimensions ", k, " and ",
              kb);
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  const auto batch = broadcast_shapes(batch_a, batch_b);
  MMGEN_CHECK(batch.has_value(), "matmul: batch dimensions of a ", desc(a), " and b ", desc(b),
              " do not broadcast");
  const int64_t batches = shape_numel(*batch);
  Shape out_shape = *batch;
  out_shape.push_back(m);
  out_shape.push_back(n);

  Shape a_target = *batch, b_target = *batch;
  a_target.push_back(a.dim(-2));
  a_target.push_back(a.dim(-1));
  b_target.push_back(b.dim(-2));
  b_target.push_back(b.dim(-1));
  // A shared b (no batch of its own) stays [1, ., .]; otherwise both are
  // expanded (copied) to the full batch.
  const bool shared_b = shape_numel(batch_b) == 1;
  const Tensor b3 = shared_b ? dense(b).view({1, b.dim(-2), b.dim(-1)})
                             : expand_copy(pad_rank(b, b_target.size()), b_target)
                                   .view({batches, b.dim(-2), b.dim(-1)});
  const Tensor a3 = shape_numel(batch_a) == batches
                        ? dense(a).view({batches, a.dim(-2), a.dim(-1)})
                        : expand_copy(pad_rank(a, a_target.size()), a_target)
                              .view({batches, a.dim(-2), a.dim(-1)});
  const Tensor out = [&] {
    MMGEN_DISPATCH(a.device(), matmul(a3, b3, transpose_a, transpose_b));
  }();
  return out.view(out_shape);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_f32("linear", "x", x);
  check_defined("linear", "weight", weight);
  check_devices("linear", {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  MMGEN_CHECK(weight.ndim() == 2, "linear: weight must be 2-d [out, in], got ", desc(weight));
  MMGEN_CHECK(is_weight_dtype(weight.dtype()),
              "linear: weight must be f32, f16, bf16 or quantised, got ", desc(weight));
  const int64_t in = weight.dim(1), out_features = weight.dim(0);
  MMGEN_CHECK(x.ndim() >= 1 && x.dim(-1) == in, "linear: x ", desc(x), " does not match weight ",
              shape_str(weight.shape()), " (in_features ", in, ")");
  const Tensor b = param_f32("linear", "bias", bias, out_features);
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  const int64_t rows = shape_numel(out_shape);
  out_shape.push_back(out_features);
  const Tensor x3 = dense(x).view({1, rows, in});
  const Tensor w3 = dense(weight).view({1, out_features, in});
  Tensor y = [&] { MMGEN_DISPATCH(x.device(), matmul(x3, w3, false, true)); }();
  y = y.view({rows, out_features});
  if (b.defined()) {
    const Tensor b2 = b.view({1, out_features});
    y = [&] {
      MMGEN_DISPATCH(x.device(), binary(BinaryOp::kAdd, y, b2, Shape{rows, out_features}));
    }();
  }
  return y.view(out_shape);
}

std::vector<Tensor> linear_many(const Tensor& x, const std::vector<Tensor>& weights,
                                const std::vector<Tensor>& biases) {
  MMGEN_CHECK(biases.empty() || biases.size() == weights.size(), "linear_many: ", biases.size(),
              " biases for ", weights.size(), " weights");
  const auto bias = [&](size_t i) { return biases.empty() ? Tensor() : biases[i]; };
  bool fuse = x.defined() && x.device().is_cpu() && weights.size() > 1 &&
              weights.size() <= cpu::kMaxLinearProducts && x.dtype() == DType::kF32;
  for (const Tensor& w : weights)
    fuse = fuse && w.defined() && w.device().is_cpu() && w.ndim() == 2 &&
           is_weight_dtype(w.dtype()) && w.dtype() == weights[0].dtype() && x.ndim() >= 1 &&
           w.dim(1) == x.dim(-1) && w.dim(0) > 0;
  for (const Tensor& b : biases) fuse = fuse && (!b.defined() || b.device().is_cpu());
  std::vector<Tensor> out;
  if (!fuse) {  // the general path validates and reports as linear does
    for (size_t i = 0; i < weights.size(); ++i) out.push_back(linear(x, weights[i], bias(i)));
    return out;
  }
  const int64_t in = x.dim(-1);
  const Shape lead(x.shape().begin(), x.shape().end() - 1);
  const int64_t rows = shape_numel(lead);
  std::vector<Tensor> dense_weights;
  for (const Tensor& w : weights) dense_weights.push_back(dense(w));
  out = cpu::linear_products(dense(x).view({rows, in}), dense_weights);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t features = weights[i].dim(0);
    const Tensor b = param_f32("linear", "bias", bias(i), features);
    if (b.defined())
      out[i] = cpu::binary(BinaryOp::kAdd, out[i], b.view({1, features}), Shape{rows, features});
    Shape shape = lead;
    shape.push_back(features);
    out[i] = out[i].view(shape);
  }
  return out;
}

// ---- convolutions ------------------------------------------------------------

namespace {

void check_conv_weight(const char* op, const Tensor& weight) {
  check_defined(op, "weight", weight);
  MMGEN_CHECK(weight.dtype() == DType::kF32 || weight.dtype() == DType::kF16 ||
                  weight.dtype() == DType::kBF16,
              op, ": weight must be f32, f16 or bf16, got ", desc(weight));
}

// Output length of one convolution axis, checked to be at least 1.
int64_t conv_out(const char* op, const Tensor& x, int64_t size, int64_t kernel, int stride, int pad,
                 int dilation) {
  const int64_t span = dilation * (kernel - 1) + 1;
  MMGEN_CHECK(size + 2 * pad >= span, op, ": input ", desc(x), " is smaller than the kernel span ",
              span, " (kernel ", kernel, ", dilation ", dilation, ") plus padding ", pad);
  return (size + 2 * pad - span) / stride + 1;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  const char* op = "conv2d";
  check_f32(op, "x", x);
  check_conv_weight(op, weight);
  check_devices(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  check_rank(op, "x", x, 4, "[N, C, H, W]");
  check_rank(op, "weight", weight, 4, "[O, C / groups, kh, kw]");
  MMGEN_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                  p.pad_h >= 0 && p.pad_w >= 0 && p.groups >= 1,
              "conv2d: invalid parameters stride ", p.stride_h, "x", p.stride_w, ", padding ",
              p.pad_h, "x", p.pad_w, ", dilation ", p.dilation_h, "x", p.dilation_w, ", groups ",
              p.groups);
  const int64_t channels = x.dim(1), out_channels = weight.dim(0);
  MMGEN_CHECK(channels % p.groups == 0 && out_channels % p.groups == 0 &&
                  weight.dim(1) == channels / p.groups,
              "conv2d: x ", desc(x), " does not match weight ", desc(weight), " with groups ",
              p.groups, " (weight needs [O, ", channels / p.groups, ", kh, kw], O divisible by ",
              p.groups, ")");
  MMGEN_CHECK(weight.dim(2) >= 1 && weight.dim(3) >= 1, "conv2d: empty kernel ", desc(weight));
  conv_out(op, x, x.dim(2), weight.dim(2), p.stride_h, p.pad_h, p.dilation_h);
  conv_out(op, x, x.dim(3), weight.dim(3), p.stride_w, p.pad_w, p.dilation_w);
  const Tensor b = param_f32(op, "bias", bias, out_channels);
  const Tensor xi = dense(x), wi = dense(weight);
  MMGEN_DISPATCH(x.device(), conv2d(xi, wi, b, p));
}

// Checks conv1d's operands and returns its bias as f32 (or undefined).
static Tensor checked_conv1d_bias(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  const Conv1dParams& p) {
  const char* op = "conv1d";
  check_f32(op, "x", x);
  check_conv_weight(op, weight);
  check_devices(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  check_rank(op, "x", x, 3, "[N, C, L]");
  check_rank(op, "weight", weight, 3, "[O, C / groups, k]");
  MMGEN_CHECK(p.stride >= 1 && p.dilation >= 1 && p.padding >= 0 && p.groups >= 1,
              "conv1d: invalid parameters stride ", p.stride, ", padding ", p.padding,
              ", dilation ", p.dilation, ", groups ", p.groups);
  const int64_t channels = x.dim(1), out_channels = weight.dim(0);
  MMGEN_CHECK(channels % p.groups == 0 && out_channels % p.groups == 0 &&
                  weight.dim(1) == channels / p.groups,
              "conv1d: x ", desc(x), " does not match weight ", desc(weight), " with groups ",
              p.groups, " (weight needs [O, ", channels / p.groups, ", k], O divisible by ",
              p.groups, ")");
  MMGEN_CHECK(weight.dim(2) >= 1, "conv1d: empty kernel ", desc(weight));
  conv_out(op, x, x.dim(2), weight.dim(2), p.stride, p.padding, p.dilation);
  return param_f32(op, "bias", bias, out_channels);
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dParams& p) {
  const Tensor b = checked_conv1d_bias(x, weight, bias, p);
  const Tensor xi = dense(x), wi = dense(weight);
  MMGEN_DISPATCH(x.device(), conv1d(xi, wi, b, p));
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dParams& p,
              const Conv1dFusion& fusion) {
  if (!fusion.leaky_relu_input && !fusion.residual.defined()) return conv1d(x, weight, bias, p);
  const Tensor b = checked_conv1d_bias(x, weight, bias, p);
  Tensor residual;
  if (fusion.residual.defined()) {
    const char* op = "conv1d";
    check_f32(op, "residual", fusion.residual);
    check_devices(op, {{"x", &x}, {"residual", &fusion.residual}});
    const Shape want{x.dim(0), weight.dim(0),
                     conv_out(op, x, x.dim(2), weight.dim(2), p.stride, p.padding, p.dilation)};
    MMGEN_CHECK(fusion.residual.shape() == want, "conv1d: residual ", desc(fusion.residual),
                " must have the output's shape ", shape_str(want));
    residual = dense(fusion.residual);
  }
#if MMGEN_HAS_CUDA
  if (x.device().is_cuda()) {
    // Composed: the CUDA convolution makes no copies to fold these into.
    const Tensor xa = fusion.leaky_relu_input ? leaky_relu(x, fusion.negative_slope) : x;
    const Tensor y = cuda::conv1d(dense(xa), dense(weight), b, p);
    return residual.defined() ? add(y, residual) : y;
  }
#endif
  const float slope = fusion.leaky_relu_input ? fusion.negative_slope : 1.0f;
  return cpu::conv1d_fused(dense(x), dense(weight), b, p, slope, residual);
}

Tensor residual_stacks_mean(const Tensor& x, const std::vector<ResidualStack>& stacks,
                            float negative_slope) {
  const char* op = "residual_stacks_mean";
  check_f32(op, "x", x);
  check_rank(op, "x", x, 3, "[N, C, L]");
  MMGEN_CHECK(!stacks.empty(), op, ": no stacks");
  const int64_t channels = x.dim(1);
  bool all_bf16 = true;
  for (size_t i = 0; i < stacks.size(); ++i) {
    MMGEN_CHECK(!stacks[i].empty(), op, ": stack ", i, " has no units");
    for (size_t u = 0; u < stacks[i].size(); ++u) {
      MMGEN_CHECK(!stacks[i][u].empty(), op, ": stack ", i, " unit ", u, " has no convolutions");
      for (size_t c = 0; c < stacks[i][u].size(); ++c) {
        const StackConv& conv = stacks[i][u][c];
        const Tensor& w = conv.weight;
        check_defined(op, "weight", w);
        check_conv_weight(op, w);
        check_devices(op, {{"x", &x}, {"weight", &w}, {"bias", &conv.bias}});
        MMGEN_CHECK(w.ndim() == 3 && w.dim(0) == channels && w.dim(1) == channels &&
                        w.dim(2) % 2 == 1 && conv.dilation >= 1,
                    op, ": stack ", i, " unit ", u, " convolution ", c, ": weight ", desc(w),
                    " with dilation ", conv.dilation, " must be [", channels, ", ", channels,
                    ", k] with k odd and a dilation of at least 1 (x is ", desc(x), ")");
        param_f32(op, "bias", conv.bias, channels);
        all_bf16 &= w.dtype() == DType::kBF16;
      }
    }
  }
  if (x.device().is_cpu() && all_bf16 && cpu::residual_stacks_amx_applies(x.dim(1)))
    return cpu::residual_stacks_mean_amx(dense(x), stacks, negative_slope);

  // One conv1d per convolution, the activation and each unit's residual folded in.
  Tensor sum;
  for (const ResidualStack& stack : stacks) {
    Tensor h = x;
    for (const ResidualUnit& unit : stack) {
      Tensor a = h;
      for (size_t c = 0; c < unit.size(); ++c) {
        Conv1dParams p;
        p.dilation = unit[c].dilation;
        p.padding = unit[c].dilation * (static_cast<int>(unit[c].weight.dim(2)) - 1) / 2;
        Conv1dFusion fusion;
        fusion.leaky_relu_input = true;
        fusion.negative_slope = negative_slope;
        if (c + 1 == unit.size()) fusion.residual = h;
        a = conv1d(a, unit[c].weight, unit[c].bias, p, fusion);
      }
      h = a;
    }
    sum = sum.defined() ? add(sum, h) : h;
  }
  return stacks.size() == 1 ? sum : scale(sum, 1.0f / static_cast<float>(stacks.size()));
}

bool bf16_products_available(Device device) { return device.is_cpu() && cpu::amx_bf16_available(); }

// Checks conv_transpose1d's operands and returns its bias as f32 (or undefined).
static Tensor checked_conv_transpose1d_bias(const Tensor& x, const Tensor& weight,
                                            const Tensor& bias, const Conv1dParams& p) {
  const char* op = "conv_transpose1d";
  check_f32(op, "x", x);
  check_conv_weight(op, weight);
  check_devices(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  check_rank(op, "x", x, 3, "[N, C, L]");
  check_rank(op, "weight", weight, 3, "[C, O / groups, k]");
  MMGEN_CHECK(p.stride >= 1 && p.dilation >= 1 && p.padding >= 0 && p.groups >= 1 &&
                  p.output_padding >= 0 && p.output_padding < std::max(p.stride, p.dilation),
              "conv_transpose1d: invalid parameters stride ", p.stride, ", padding ", p.padding,
              ", dilation ", p.dilation, ", groups ", p.groups, ", output_padding ",
              p.output_padding, " (output_padding must be below stride or dilation)");
  const int64_t channels = x.dim(1);
  MMGEN_CHECK(weight.dim(0) == channels && channels % p.groups == 0, "conv_transpose1d: x ",
              desc(x), " does not match weight ", desc(weight), " with groups ", p.groups,
              " (weight needs [", channels, ", O / groups, k], C divisible by groups)");
  MMGEN_CHECK(weight.dim(2) >= 1, "conv_transpose1d: empty kernel ", desc(weight));
  const int64_t out_length = (x.dim(2) - 1) * p.stride - 2 * p.padding +
                             p.dilation * (weight.dim(2) - 1) + p.output_padding + 1;
  MMGEN_CHECK(x.dim(2) >= 1 && out_length >= 1, "conv_transpose1d: input ", desc(x),
              " gives no output with padding ", p.padding);
  return param_f32(op, "bias", bias, weight.dim(1) * p.groups);
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv1dParams& p) {
  const Tensor b = checked_conv_transpose1d_bias(x, weight, bias, p);
  const Tensor xi = dense(x), wi = dense(weight);
  MMGEN_DISPATCH(x.device(), conv_transpose1d(xi, wi, b, p));
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv1dParams& p, const Conv1dFusion& fusion) {
  MMGEN_CHECK(!fusion.residual.defined(), "conv_transpose1d: a residual is not folded in; add ",
              "it after the op");
  if (!fusion.leaky_relu_input) return conv_transpose1d(x, weight, bias, p);
  const Tensor b = checked_conv_transpose1d_bias(x, weight, bias, p);
  if (x.device().is_cpu())
    return cpu::conv_transpose1d_fused(dense(x), dense(weight), b, p, fusion.negative_slope);
  return conv_transpose1d(leaky_relu(x, fusion.negative_slope), weight, bias, p);
}

// ---- normalisation -------------------------------------------------------------

Tensor group_norm(const Tensor& x, int groups, const Tensor& weight, const Tensor& bias,
                  float eps) {
  const char* op = "group_norm";
  check_f32(op, "x", x);
  check_devices(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  MMGEN_CHECK(x.ndim() >= 2, "group_norm: x must be [N, C, *], got ", desc(x));
  const int64_t channels = x.dim(1);
  MMGEN_CHECK(groups >= 1 && channels % groups == 0, "group_norm: ", channels, " channels of x ",
              desc(x), " do not split into ", groups, " groups");
  MMGEN_CHECK(eps >= 0, "group_norm: eps must not be negative, got ", eps);
  const Tensor w = param_f32(op, "weight", weight, channels);
  const Tensor b = param_f32(op, "bias", bias, channels);
  const Tensor xi = dense(x).view(
      {x.dim(0), channels, shape_numel(Shape(x.shape().begin() + 2, x.shape().end()))});
  const Tensor y = [&] { MMGEN_DISPATCH(x.device(), group_norm(xi, groups, w, b, eps)); }();
  return y.view(x.shape());
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const char* op = "layer_norm";
  check_f32(op, "x", x);
  check_devices(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}});
  MMGEN_CHECK(x.ndim() >= 1, "layer_norm: x must have at least 1 dim, got ", desc(x));
  MMGEN_CHECK(eps >= 0, "layer_norm: eps must not be negative, got ", eps);
  const int64_t d = x.dim(-1);
  const Tensor w = param_f32(op, "weight", weight, d);
  const Tensor b = param_f32(op, "bias", bias, d);
  const Tensor xi = dense(x).view({leading_rows(x), d});
  const Tensor y = [&] { MMGEN_DISPATCH(x.device(), layer_norm(xi, w, b, eps)); }();
  return y.view(x.shape());
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  const char* op = "rms_norm";
  check_f32(op, "x", x);
  check_devices(op, {{"x", &x}, {"weight", &weight}});
  MMGEN_CHECK(x.ndim() >= 1, "rms_norm: x must have at least 1 dim, got ", desc(x));
  MMGEN_CHECK(eps >= 0, "rms_norm: eps must not be negative, got ", eps);
  const int64_t d = x.dim(-1);
  const Tensor w = param_f32(op, "weight", weight, d);
  const Tensor xi = dense(x).view({leading_rows(x), d});
  const Tensor y = [&] { MMGEN_DISPATCH(x.device(), rms_norm(xi, w, eps)); }();
  return y.view(x.shape());
}

Tensor softmax(const Tensor& x) {
  check_f32("softmax", "x", x);
  MMGEN_CHECK(x.ndim() >= 1, "softmax: x must have at least 1 dim, got ", desc(x));
  const int64_t d = x.dim(-1);
  const Tensor xi = dense(x).view({leading_rows(x), d});
  const Tensor y = [&] { MMGEN_DISPATCH(x.device(), softmax(xi)); }();
  return y.view(x.shape());
}

// ---- attention -------------------------------------------------------------------

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& params) {
  const char* op = "attention";
  check_f32(op, "q", q);
  check_f32(op, "k", k);
  check_f32(op, "v", v);
  check_devices(op, {{"q", &q}, {"k", &k}, {"v", &v}, {"mask", &params.mask}});
  check_rank(op, "q", q, 4, "[B, Hq, Lq, D]");
  check_rank(op, "k", k, 4, "[B, Hkv, Lk, D]");
  check_rank(op, "v", v, 4, "[B, Hkv, Lk, Dv]");
  const int64_t batch = q.dim(0), heads = q.dim(1), len_q = q.dim(2), dim = q.dim(3);
  const int64_t kv_heads = k.dim(1), len_k = k.dim(2);
  MMGEN_CHECK(k.dim(0) == batch && v.dim(0) == batch && v.dim(1) == kv_heads && v.dim(2) == len_k &&
                  k.dim(3) == dim,
              "attention: q ", desc(q), ", k ", desc(k), " and v ", desc(v),
              " do not agree (expected k [", batch, ", Hkv, Lk, ", dim, "] and v [", batch,
              ", Hkv, Lk, Dv])");
  MMGEN_CHECK(kv_heads >= 1 && heads % kv_heads == 0, "attention: ", heads, " query heads of q ",
              desc(q), " are not a multiple of the ", kv_heads, " key/value heads of k ", desc(k));
  const float scale =
      params.scale == 0.0f
          ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(dim, 1))))
          : params.scale;
  MMGEN_CHECK(std::isfinite(scale), "attention: scale must be finite, got ", params.scale);
  Tensor mask;
  if (params.mask.defined()) {
    check_f32(op, "mask", params.mask);
    MMGEN_CHECK(params.mask.ndim() <= 4, "attention: mask ", desc(params.mask),
                " has more than 4 dims");
    mask = pad_rank(params.mask, 4);
    const Shape full = {batch, heads, len_q, len_k};
    for (int d = 0; d < 4; ++d)
      MMGEN_CHECK(mask.dim(d) == 1 || mask.dim(d) == full[static_cast<size_t>(d)],
                  "attention: mask ", desc(params.mask), " does not broadcast to ",
                  shape_str(full));
    mask = expand_copy(mask, {mask.dim(0), mask.dim(1), len_q, len_k});
  }
  const Tensor qi = dense(q);
  if (q.device().is_cuda()) {
    // The CUDA backend reads strided K / V itself where cuBLAS can (see attention.cu).
    MMGEN_DISPATCH(q.device(), attention(qi, k, v, mask, params.causal, scale));
  }
  {
    // The CPU kernel reads K and V through their strides when rows are dense: the
    // KV cache's token-major views then need no copy of every cached position.
    const Tensor ki = k.stride(3) == 1 || k.dim(3) == 1 ? k : contiguous(k);
    const Tensor vi = v.stride(3) == 1 || v.dim(3) == 1 ? v : contiguous(v);
    return cpu::attention(qi, ki, vi, mask, params.causal, scale);
  }
}

// ---- activations -------------------------------------------------------------------

Tensor gelu(const Tensor& x) { return unary_op("gelu", UnaryOp::kGelu, x); }
Tensor gelu_tanh(const Tensor& x) { return unary_op("gelu_tanh", UnaryOp::kGeluTanh, x); }
Tensor quick_gelu(const Tensor& x) { return unary_op("quick_gelu", UnaryOp::kQuickGelu, x); }
Tensor silu(const Tensor& x) { return unary_op("silu", UnaryOp::kSilu, x); }
Tensor relu(const Tensor& x) { return unary_op("relu", UnaryOp::kRelu, x); }
Tensor leaky_relu(const Tensor& x, float negative_slope) {
  return unary_op("leaky_relu", UnaryOp::kLeakyRelu, x, negative_slope);
}
Tensor tanh(const Tensor& x) { return unary_op("tanh", UnaryOp::kTanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op("sigmoid", UnaryOp::kSigmoid, x); }
Tensor exp(const Tensor& x) { return unary_op("exp", UnaryOp::kExp, x); }

// ---- broadcasting arithmetic ---------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) { return binary_op("add", BinaryOp::kAdd, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op("sub", BinaryOp::kSub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op("mul", BinaryOp::kMul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op("div", BinaryOp::kDiv, a, b); }
Tensor scale(const Tensor& x, float factor) {
  return unary_op("scale", UnaryOp::kScale, x, factor);
}
Tensor add_scalar(const Tensor& x, float value) {
  return unary_op("add_scalar", UnaryOp::kAddScalar, x, value);
}
Tensor clamp(const Tensor& x, float lo, float hi) {
  MMGEN_CHECK(!(lo > hi), "clamp: lo ", lo, " is above hi ", hi);
  return unary_op("clamp", UnaryOp::kClamp, x, lo, hi);
}

// ---- positions and embeddings -----------------------------------------------------------

namespace {

// Positions as dense i64 on `device`.
Tensor positions_i64(const Tensor& positions, Device device) {
  if (positions.dtype() == DType::kI64) return dense(positions.to(device));
  return positions.cpu().to(DType::kI64).to(device);
}

}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, const RopeParams& params) {
  const char* op = "rope";
  check_f32(op, "x", x);
  check_defined(op, "positions", positions);
  check_devices(op, {{"x", &x}, {"positions", &positions}});
  check_rank(op, "x", x, 4, "[B, L, H, D]");
  const int64_t length = x.dim(1), dim = x.dim(3);
  MMGEN_CHECK((positions.dtype() == DType::kI32 || positions.dtype() == DType::kI64) &&
                  positions.ndim() == 1 && positions.dim(0) == length,
              "rope: positions ", desc(positions), " must be i32 or i64 [", length, "] for x ",
              desc(x));
  const int64_t rotary = params.rotary_dims == 0 ? dim : params.rotary_dims;
  MMGEN_CHECK(rotary > 0 && rotary <= dim && rotary % 2 == 0, "rope: rotary_dims ", rotary,
              " must be even and within the head dim ", dim, " of x ", desc(x));
  Tensor inv_freq;
  if (params.inv_freq.defined()) {
    MMGEN_CHECK(params.inv_freq.dtype() == DType::kF32 && params.inv_freq.ndim() == 1 &&
                    params.inv_freq.dim(0) == rotary / 2,
                "rope: inv_freq ", desc(params.inv_freq), " must be f32 [", rotary / 2,
                "] (rotary_dims / 2)");
    inv_freq = dense(params.inv_freq.to(x.device()));
  } else {
    MMGEN_CHECK(params.theta > 0 && std::isfinite(params.theta),
                "rope: theta must be positive, got ", params.theta);
    std::vector<float> freq(static_cast<size_t>(rotary / 2));
    for (size_t i = 0; i < freq.size(); ++i)
      freq[i] = static_cast<float>(
          1.0 / std::pow(static_cast<double>(params.theta),
                         static_cast<double>(2 * i) / static_cast<double>(rotary)));
    inv_freq = Tensor::from_vector(freq, {rotary / 2}).to(x.device());
  }
  const Tensor xi = dense(x);
  const Tensor pos = positions_i64(positions, x.device());
  MMGEN_DISPATCH(x.device(), rope(xi, pos, inv_freq, params.style));
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const char* op = "embedding";
  check_defined(op, "weight", weight);
  check_defined(op, "ids", ids);
  check_devices(op, {{"weight", &weight}, {"ids", &ids}});
  MMGEN_CHECK(weight.ndim() == 2 && is_weight_dtype(weight.dtype()),
              "embedding: weight must be 2-d [V, D] of f32, f16, bf16 or a quantised type, got ",
              desc(weight));
  MMGEN_CHECK(ids.dtype() == DType::kI32 || ids.dtype() == DType::kI64,
              "embedding: ids must be i32 or i64, got ", desc(ids));
  const int64_t vocab = weight.dim(0), dim = weight.dim(1);
  // Range check on the host (ids are few).
  const Tensor host = ids.cpu().contiguous().to(DType::kI64);
  const int64_t* id = host.typed_data<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    MMGEN_CHECK(id[i] >= 0 && id[i] < vocab, "embedding: id ", id[i], " at position ", i,
                " is outside [0, ", vocab, ") for weight ", desc(weight));
  const Tensor flat = host.view({host.numel()}).to(weight.device());
  const Tensor w = dense(weight);
  Shape out_shape = ids.shape();
  out_shape.push_back(dim);
  const Tensor y = [&] { MMGEN_DISPATCH(weight.device(), embedding(w, flat)); }();
  return y.view(out_shape);
}

Tensor timestep_embedding(const Tensor& timesteps, int dim, float max_period, bool cos_first,
                          float shift) {
  const char* op = "timestep_embedding";
  check_f32(op, "timesteps", timesteps);
  check_rank(op, "timesteps", timesteps, 1, "[N]");
  MMGEN_CHECK(dim >= 1, "timestep_embedding: dim must be at least 1, got ", dim);
  MMGEN_CHECK(max_period > 0 && std::isfinite(max_period),
              "timestep_embedding: max_period must be positive, got ", max_period);
  MMGEN_CHECK(dim / 2 == 0 || static_cast<float>(dim / 2) - shift != 0.0f,
              "timestep_embedding: shift ", shift, " equals half the dim ", dim / 2);
  const Tensor t = dense(timesteps);
  MMGEN_DISPATCH(t.device(), timestep_embedding(t, dim, max_period, cos_first, shift));
}

// ---- layout ---------------------------------------------------------------------------

Tensor upsample_nearest2d(const Tensor& x, int factor) {
  check_f32("upsample_nearest2d", "x", x);
  check_rank("upsample_nearest2d", "x", x, 4, "[N, C, H, W]");
  MMGEN_CHECK(factor >= 1, "upsample_nearest2d: factor must be at least 1, got ", factor);
  const Tensor xi = dense(x);
  MMGEN_DISPATCH(x.device(), upsample_nearest2d(xi, factor));
}

Tensor concat(const std::vector<Tensor>& tensors, int dim) {
  MMGEN_CHECK(!tensors.empty(), "concat: no tensors given");
  const Tensor& first = tensors.front();
  check_defined("concat", "tensor 0", first);
  MMGEN_CHECK(!is_quantized(first.dtype()), "concat: quantised tensor ", desc(first),
              " is not supported");
  MMGEN_CHECK(first.ndim() >= 1, "concat: 0-d tensor ", desc(first), " has no dim to join");
  const int d = wrap_dim("concat", dim, first.ndim());
  std::vector<Tensor> inputs;
  inputs.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    MMGEN_CHECK(t.defined(), "concat: tensor ", i, " is undefined");
    MMGEN_CHECK(t.dtype() == first.dtype() && t.device() == first.device(), "concat: tensor ", i,
                " ", t.str(), " differs in dtype or device from tensor 0 ", first.str());
    bool same = t.ndim() == first.ndim();
    for (int j = 0; same && j < t.ndim(); ++j) same = j == d || t.dim(j) == first.dim(j);
    MMGEN_CHECK(same, "concat: tensor ", i, " ", desc(t), " does not match tensor 0 ", desc(first),
                " outside dim ", d);
    inputs.push_back(dense(t));
  }
  MMGEN_DISPATCH(first.device(), concat(inputs, d));
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim) {
  check_defined("split", "x", x);
  MMGEN_CHECK(x.ndim() >= 1, "split: 0-d tensor ", desc(x));
  const int d = wrap_dim("split", dim, x.ndim());
  int64_t total = 0;
  for (int64_t s : sizes) {
    MMGEN_CHECK(s >= 0, "split: negative size ", s);
    total += s;
  }
  MMGEN_CHECK(total == x.dim(d), "split: sizes add up to ", total, " but dim ", d, " of ", desc(x),
              " is ", x.dim(d));
  std::vector<Tensor> pieces;
  int64_t start = 0;
  for (int64_t s : sizes) {
    pieces.push_back(x.narrow(d, start, s));
    start += s;
  }
  return pieces;
}

Tensor contiguous(const Tensor& x) {
  check_defined("contiguous", "x", x);
  if (is_quantized(x.dtype())) {
    MMGEN_CHECK(x.is_contiguous(), "contiguous: cannot gather a strided quantised tensor ",
                desc(x));
    return x.clone();
  }
  MMGEN_DISPATCH(x.device(), contiguous(x));
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  check_defined("permute", "x", x);
  return contiguous(x.permute(dims));
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined("cast", "x", x);
  if (x.dtype() == dtype) return dense(x);
  auto half_or_float = [](DType d) {
    return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
  };
  if (x.device().is_cuda()) {
    MMGEN_CHECK(half_or_float(x.dtype()) && half_or_float(dtype), "cast: ", desc(x), " to ",
                dtype_name(dtype), " is not available on ", x.device().str(),
                " (only between f32, f16 and bf16)");
  }
  MMGEN_CHECK(!is_quantized(x.dtype()) || dtype == DType::kF32, "cast: quantised ", desc(x),
              " converts only to f32, not ", dtype_name(dtype));
  MMGEN_CHECK(!is_quantized(dtype) || x.dtype() == DType::kF32, "cast: only f32 quantises to ",
              dtype_name(dtype), ", got ", desc(x));
  MMGEN_CHECK(!is_quantized(dtype) || (x.ndim() >= 1 && x.dim(-1) % block_size(dtype) == 0),
              "cast: ", desc(x), " needs a last dim that is a multiple of ", block_size(dtype),
              " to become ", dtype_name(dtype));
  MMGEN_CHECK(!is_quantized(x.dtype()) || x.is_contiguous(), "cast: strided quantised tensor ",
              desc(x));
  const Tensor xi = dense(x);
  MMGEN_DISPATCH(x.device(), cast(xi, dtype));
}

// ---- reductions -----------------------------------------------------------------------

Tensor argmax(const Tensor& x) {
  check_defined("argmax", "x", x);
  MMGEN_CHECK(x.ndim() >= 1 && x.dim(-1) >= 1, "argmax: x needs a non-empty last dim, got ",
              desc(x));
  MMGEN_CHECK(x.dtype() == DType::kF32 || x.dtype() == DType::kF16 || x.dtype() == DType::kBF16,
              "argmax: x must be f32, f16 or bf16, got ", desc(x));
  const Tensor xf = x.dtype() == DType::kF32 ? dense(x) : cast(x, DType::kF32);
  const int64_t n = x.dim(-1);
  const Tensor xi = xf.view({leading_rows(x), n});
  const Tensor y = [&] { MMGEN_DISPATCH(x.device(), argmax(xi)); }();
  return y.view(Shape(x.shape().begin(), x.shape().end() - 1));
}

}  // namespace mmgen::kernels

#undef MMGEN_DISPATCH
