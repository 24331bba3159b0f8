// Convolutions on CUDA: im2col into a bounded scratch + cuBLAS GEMM batched over
// groups (1x1 stride-1 convolutions multiply the input directly), and the
// transposed 1-d convolution as GEMM + a col2im gather (no atomics, so results
// are deterministic).
#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/cuda_utils.cuh"

namespace mmgen::kernels::cuda {
namespace {

struct ConvGeometry {
  int64_t channels = 0, height = 0, width = 0;  // input, one image
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t out_h = 0, out_w = 0;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
};

// col[(c * kh + ki) * kw + kj][p - first] = x[c, oy * sh - ph + ki * dh, ox * sw - pw + kj * dw]
// for output positions p = oy * out_w + ox in [first, first + count); zero outside the image.
__global__ void im2col_kernel(const float* x, ConvGeometry g, int64_t first, int64_t count,
                              float* col) {
  const int64_t n = g.channels * g.kernel_h * g.kernel_w * count;
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t p = first + i % count;
    const int64_t row = i / count;
    const int64_t kj = row % g.kernel_w;
    const int64_t ki = (row / g.kernel_w) % g.kernel_h;
    const int64_t c = row / (g.kernel_w * g.kernel_h);
    const int64_t oy = p / g.out_w, ox = p % g.out_w;
    const int64_t iy = oy * g.stride_h - g.pad_h + ki * g.dilation_h;
    const int64_t ix = ox * g.stride_w - g.pad_w + kj * g.dilation_w;
    col[i] = (iy >= 0 && iy < g.height && ix >= 0 && ix < g.width)
                 ? x[(c * g.height + iy) * g.width + ix]
                 : 0.0f;
  }
}

// y[n, o, p] += bias[o] over y [images, channels, plane].
__global__ void add_bias_kernel(float* y, const float* bias, int64_t channels, int64_t plane,
                                int64_t n) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) y[i] += bias[(i / plane) % channels];
}

// Transposed conv, one image: y[o, t] = bias[o] + sum over taps j and input
// positions l with l * stride - padding + j * dilation == t of cols[g][oo * k + j][l].
__global__ void col2im_1d_kernel(const float* cols, const float* bias, int64_t out_channels,
                                 int64_t channels_per_group, int64_t kernel, int64_t in_len,
                                 int64_t out_len, int stride, int padding, int dilation, float* y) {
  const int64_t n = out_channels * out_len;
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const int64_t t = i % out_len;
    const int64_t o = i / out_len;
    const int64_t group = o / channels_per_group;
    const int64_t oo = o % channels_per_group;
    const float* base = cols + (group * channels_per_group + oo) * kernel * in_len;
    float sum = bias ? bias[o] : 0.0f;
    for (int64_t j = 0; j < kernel; ++j) {
      const int64_t u = t + padding - j * dilation;
      if (u < 0 || u % stride != 0) continue;
      const int64_t l = u / stride;
      if (l < in_len) sum += base[j * in_len + l];
    }
    y[i] = sum;
  }
}

void add_bias(Tensor& out, const Tensor& bias, int64_t channels, int64_t plane) {
  const int64_t n = out.numel();
  if (!bias.defined() || n == 0) return;
  add_bias_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      out.typed_data<float>(), bias.typed_data<float>(), channels, plane, n);
  check_launch("add_bias");
}

Tensor conv_bias(const Tensor& bias, int64_t channels, const char* op) {
  if (!bias.defined()) return {};
  Tensor b = to_f32(bias, "convolution bias");
  MMGEN_CHECK(b.numel() == channels, op, ": bias ", bias.str(), " should have ", channels,
              " elements");
  return b;
}

// The 2-d convolution behind conv2d and conv1d (a 1-d input is a height-1 image).
Tensor convolve(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                const Conv2dParams& p, const char* op) {
  MMGEN_CHECK(x_in.ndim() == 4 && weight_in.ndim() == 4, op, ": unexpected shapes ", x_in.str(),
              " and weight ", weight_in.str());
  const Device device = x_in.device();
  MMGEN_CHECK(weight_in.device() == device && (!bias_in.defined() || bias_in.device() == device),
              op, ": inputs on different devices");
  DeviceGuard guard(device);
  const Tensor x = to_f32(x_in, "convolution input");
  const Tensor weight = to_f32(weight_in, "convolution weight");
  const int64_t images = x.dim(0);
  ConvGeometry g;
  g.channels = x.dim(1);
  g.height = x.dim(2);
  g.width = x.dim(3);
  const int64_t out_channels = weight.dim(0);
  g.kernel_h = weight.dim(2);
  g.kernel_w = weight.dim(3);
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  const int64_t groups = p.groups;
  MMGEN_CHECK(groups > 0 && g.channels % groups == 0 && out_channels % groups == 0 &&
                  weight.dim(1) * groups == g.channels && p.stride_h > 0 && p.stride_w > 0 &&
                  p.dilation_h > 0 && p.dilation_w > 0 && p.pad_h >= 0 && p.pad_w >= 0,
              op, ": input ", x.str(), " does not fit weight ", weight.str(), " with ", groups,
              " groups and the given stride/padding/dilation");
  g.out_h = (g.height + 2 * p.pad_h - p.dilation_h * (g.kernel_h - 1) - 1) / p.stride_h + 1;
  g.out_w = (g.width + 2 * p.pad_w - p.dilation_w * (g.kernel_w - 1) - 1) / p.stride_w + 1;
  MMGEN_CHECK(g.out_h > 0 && g.out_w > 0, op, ": input ", x.str(), " is smaller than the kernel ",
              weight.str());
  const Tensor bias = conv_bias(bias_in, out_channels, op);
  Tensor out = Tensor::empty({images, out_channels, g.out_h, g.out_w}, DType::kF32, device);
  if (out.numel() == 0) return out;

  const int64_t plane = g.out_h * g.out_w;
  const int64_t in_plane = g.height * g.width;
  const int64_t group_in = g.channels / groups;
  const int64_t group_out = out_channels / groups;
  const int64_t taps = group_in * g.kernel_h * g.kernel_w;  // GEMM depth per group
  const float* xp = x.typed_data<float>();
  const float* wp = weight.typed_data<float>();
  float* yp = out.typed_data<float>();
  const GemmOperand w_op{wp, taps, group_out * taps, false};

  const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
                         p.pad_h == 0 && p.pad_w == 0;
  if (pointwise) {
    // The input planes are already the GEMM's right-hand side.
    if (groups == 1) {
      gemm_f32(device, out_channels, plane, g.channels, 1.0f, {wp, taps, 0, false},
               {xp, plane, g.channels * plane, false}, 0.0f, yp, plane, out_channels * plane,
               images);
    } else {
      for (int64_t n = 0; n < images; ++n) {
        gemm_f32(device, group_out, plane, group_in, 1.0f, w_op,
                 {xp + n * g.channels * plane, plane, group_in * plane, false}, 0.0f,
                 yp + n * out_channels * plane, plane, group_out * plane, groups);
      }
    }
    add_bias(out, bias, out_channels, plane);
    return out;
  }

  // Columns for `count` output positions at a time keep the scratch bounded.
  const int64_t col_rows = g.channels * g.kernel_h * g.kernel_w;
  const int64_t count_max = std::clamp<int64_t>(kScratchElements / col_rows, 1, plane);
  Tensor col = Tensor::empty({col_rows * count_max}, DType::kF32, device);
  float* cp = col.typed_data<float>();
  for (int64_t n = 0; n < images; ++n) {
    for (int64_t first = 0; first < plane; first += count_max) {
      const int64_t count = std::min(count_max, plane - first);
      im2col_kernel<<<grid_for(col_rows * count), kThreads, 0, stream()>>>(
          xp + n * g.channels * in_plane, g, first, count, cp);
      check_launch("im2col");
      gemm_f32(device, group_out, count, taps, 1.0f, w_op, {cp, count, taps * count, false}, 0.0f,
               yp + n * out_channels * plane + first, plane, group_out * plane, groups);
    }
  }
  add_bias(out, bias, out_channels, plane);
  return out;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  return convolve(x, weight, bias, p, "cuda conv2d");
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dParams& p) {
  MMGEN_CHECK(x.ndim() == 3 && weight.ndim() == 3, "cuda conv1d: expected x [N, C, L] and weight ",
              "[O, C / groups, k], got ", x.str(), " and ", weight.str());
  Conv2dParams p2;
  p2.stride_w = p.stride;
  p2.pad_w = p.padding;
  p2.dilation_w = p.dilation;
  p2.groups = p.groups;
  const Tensor x4 = dense(x).view({x.dim(0), x.dim(1), 1, x.dim(2)});
  const Tensor w4 = dense(weight).view({weight.dim(0), weight.dim(1), 1, weight.dim(2)});
  Tensor out = convolve(x4, w4, bias, p2, "cuda conv1d");
  return out.view({out.dim(0), out.dim(1), out.dim(3)});
}

Tensor conv_transpose1d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in,
                        const Conv1dParams& p) {
  MMGEN_CHECK(x_in.ndim() == 3 && weight_in.ndim() == 3,
              "cuda conv_transpose1d: expected x [N, C, L] and weight [C, O / groups, k], got ",
              x_in.str(), " and ", weight_in.str());
  const Device device = x_in.device();
  MMGEN_CHECK(weight_in.device() == device && (!bias_in.defined() || bias_in.device() == device),
              "cuda conv_transpose1d: inputs on different devices");
  DeviceGuard guard(device);
  const Tensor x = to_f32(x_in, "conv_transpose1d input");
  const Tensor weight = to_f32(weight_in, "conv_transpose1d weight");
  const int64_t images = x.dim(0), channels = x.dim(1), in_len = x.dim(2);
  const int64_t groups = p.groups;
  const int64_t group_out = weight.dim(1), kernel = weight.dim(2);
  MMGEN_CHECK(groups > 0 && channels % groups == 0 && weight.dim(0) == channels && p.stride > 0 &&
                  p.dilation > 0 && p.padding >= 0 && p.output_padding >= 0,
              "cuda conv_transpose1d: input ", x.str(), " does not fit weight ", weight.str(),
              " with ", groups, " groups and the given stride/padding/dilation");
  const int64_t out_channels = group_out * groups;
  const int64_t group_in = channels / groups;
  const int64_t out_len = (in_len - 1) * p.stride - 2 * static_cast<int64_t>(p.padding) +
                          static_cast<int64_t>(p.dilation) * (kernel - 1) + p.output_padding + 1;
  MMGEN_CHECK(out_len > 0, "cuda conv_transpose1d: output length ", out_len, " for input ",
              x.str());
  const Tensor bias = conv_bias(bias_in, out_channels, "cuda conv_transpose1d");
  Tensor out = Tensor::empty({images, out_channels, out_len}, DType::kF32, device);
  if (out.numel() == 0) return out;
  if (in_len == 0 || channels == 0 || kernel == 0) {
    zero_device(out.data(), out.nbytes());
    add_bias(out, bias, out_channels, out_len);
    return out;
  }

  // cols[g] [group_out * k, L] = W_g^T [group_out * k, group_in] * x_g [group_in, L]
  const int64_t col_rows = group_out * kernel;
  Tensor cols = Tensor::empty({groups * col_rows * in_len}, DType::kF32, device);
  const float* xp = x.typed_data<float>();
  const float* wp = weight.typed_data<float>();
  float* cp = cols.typed_data<float>();
  for (int64_t n = 0; n < images; ++n) {
    gemm_f32(device, col_rows, in_len, group_in, 1.0f, {wp, col_rows, group_in * col_rows, true},
             {xp + n * channels * in_len, in_len, group_in * in_len, false}, 0.0f, cp, in_len,
             col_rows * in_len, groups);
    const int64_t n_out = out_channels * out_len;
    col2im_1d_kernel<<<grid_for(n_out), kThreads, 0, stream()>>>(
        cp, bias.defined() ? bias.typed_data<float>() : nullptr, out_channels, group_out, kernel,
        in_len, out_len, p.stride, p.padding, p.dilation,
        out.typed_data<float>() + n * out_channels * out_len);
    check_launch("col2im_1d");
  }
  return out;
}

}  // namespace mmgen::kernels::cuda
