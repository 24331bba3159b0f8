// conv2d / conv1d (im2col + GEMM) and conv_transpose1d (GEMM + col2im) on the CPU.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "kernels/cpu/conv1d_amx.h"
#include "kernels/cpu/conv1d_direct.h"
#include "kernels/cpu/conv1d_winograd.h"
#include "kernels/cpu/conv_transpose1d_amx.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_convert.h"

namespace mmgen::kernels::cpu {
namespace {

// Floats of im2col columns one task builds at most (16 MiB).
constexpr int64_t kColumnBudget = int64_t{4} << 20;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A weight as f32 (converted in parallel when stored as f16 / bf16).
Tensor f32_weight(const Tensor& w) {
  if (w.dtype() == DType::kF32) return w;
  Tensor out = Tensor::empty(w.shape(), DType::kF32);
  const int64_t n = w.numel();
  float* dst = out.typed_data<float>();
  parallel_chunks(n, 1 << 16, [&](int64_t begin, int64_t end) {
    to_f32(w.dtype(), element_address(w.dtype(), w.data(), begin), dst + begin, end - begin);
  });
  return out;
}

struct ConvGeometry {
  int64_t batch, channels, height, width;  // input
  int64_t out_channels, kernel_h, kernel_w;
  int64_t out_h, out_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
};

// Columns [p0, p1) of the im2col matrix of one image's channel group: row
// (c * kh + i) * kw + j holds input (c, oh * sh - ph + i * dh, ow * sw - pw + j * dw).
void im2col(const float* x, const ConvGeometry& g, int64_t group_channels, int64_t p0, int64_t p1,
            float* col) {
  const int64_t width = p1 - p0;
  for (int64_t c = 0; c < group_channels; ++c) {
    const float* plane = x + c * g.height * g.width;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        float* dst = col + ((c * g.kernel_h + i) * g.kernel_w + j) * width;
        int64_t p = p0;
        while (p < p1) {
          const int64_t oh = p / g.out_w;
          const int64_t ow0 = p % g.out_w;
          const int64_t ow1 = std::min(g.out_w, ow0 + (p1 - p));
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          float* out = dst + (p - p0);
          if (ih < 0 || ih >= g.height) {
            std::fill(out, out + (ow1 - ow0), 0.0f);
          } else {
            const float* row = plane + ih * g.width;
            const int64_t offset = j * g.dilation_w - g.pad_w;
            if (g.stride_w == 1) {
              // Valid ow: 0 <= ow + offset < width.
              const int64_t lo = std::clamp<int64_t>(-offset, ow0, ow1);
              const int64_t hi = std::clamp<int64_t>(g.width - offset, lo, ow1);
              std::fill(out, out + (lo - ow0), 0.0f);
              std::memcpy(out + (lo - ow0), row + lo + offset, (hi - lo) * sizeof(float));
              std::fill(out + (hi - ow0), out + (ow1 - ow0), 0.0f);
            } else {
              for (int64_t ow = ow0; ow < ow1; ++ow) {
                const int64_t iw = ow * g.stride_w + offset;
                out[ow - ow0] = iw >= 0 && iw < g.width ? row[iw] : 0.0f;
              }
            }
          }
          p += ow1 - ow0;
        }
      }
    }
  }
}

// y = conv(x, weight) + bias with f32 weight [O, C / groups * kh * kw].
void conv_forward(const float* x, const float* weight, const float* bias, float* y,
                  const ConvGeometry& g) {
  const int64_t positions = g.out_h * g.out_w;
  const int64_t group_channels = g.channels / g.groups;
  const int64_t group_out = g.out_channels / g.groups;
  const int64_t depth = group_channels * g.kernel_h * g.kernel_w;
  const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
                         g.pad_h == 0 && g.pad_w == 0;

  // Column blocks: bounded im2col buffers, and several tasks per thread when possible.
  const int64_t images = g.batch * g.groups;
  const int64_t want = 4 * static_cast<int64_t>(num_threads());
  int64_t blocks = ceil_div(
      positions, std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(depth, 1), 64, 4096));
  if (images * blocks < want)
    blocks = std::min(ceil_div(positions, 64), std::max(blocks, ceil_div(want, images)));
  blocks = std::max<int64_t>(blocks, 1);
  const int64_t block_width = ceil_div(positions, blocks);
  blocks = ceil_div(positions, block_width);

  parallel_tasks(images * blocks, [&](int64_t task) {
    const int64_t image = task / blocks;
    const int64_t n = image / g.groups, grp = image % g.groups;
    const int64_t p0 = (task % blocks) * block_width;
    const int64_t p1 = std::min(positions, p0 + block_width);
    const float* xg = x + (n * g.channels + grp * group_channels) * g.height * g.width;
    float* yg = y + (n * g.out_channels + grp * group_out) * positions;
    const float* wg = weight + grp * group_out * depth;
    MatrixOperand columns;
    thread_local std::vector<float> buffer;
    if (pointwise) {
      columns = MatrixOperand{xg + p0, DType::kF32, positions, false};
    } else {
      buffer.resize(static_cast<size_t>(depth * (p1 - p0)));
      im2col(xg, g, group_channels, p0, p1, buffer.data());
      columns = MatrixOperand{buffer.data(), DType::kF32, p1 - p0, false};
    }
    gemm(group_out, p1 - p0, depth, wg, depth, false, columns, yg + p0, positions);
    if (bias) {
      for (int64_t o = 0; o < group_out; ++o) {
        const float value = bias[grp * group_out + o];
        float* row = yg + o * positions;
        for (int64_t p = p0; p < p1; ++p) row[p] += value;
      }
    }
  });
}

const float* optional_data(const Tensor& t) {
  return t.defined() ? t.typed_data<float>() : nullptr;
}

// MMGEN_CONV1D_WINOGRAD=0 keeps every stride-1 conv1d on the implicit GEMM, whose
// rounding is that of a plain sum (for comparisons and benchmarks).
bool winograd_conv1d_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("MMGEN_CONV1D_WINOGRAD");
    return env == nullptr || std::string_view(env) != "0";
  }();
  return enabled;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  ConvGeometry g{};
  g.batch = x.dim(0);
  g.channels = x.dim(1);
  g.height = x.dim(2);
  g.width = x.dim(3);
  g.out_channels = weight.dim(0);
  g.kernel_h = weight.dim(2);
  g.kernel_w = weight.dim(3);
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  g.groups = p.groups;
  g.out_h = (g.height + 2 * g.pad_h - g.dilation_h * (g.kernel_h - 1) - 1) / g.stride_h + 1;
  g.out_w = (g.width + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1) - 1) / g.stride_w + 1;
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, DType::kF32);
  const Tensor w = f32_weight(weight);
  conv_forward(x.typed_data<float>(), w.typed_data<float>(), optional_data(bias),
               y.typed_data<float>(), g);
  return y;
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dParams& p) {
  return conv1d_fused(x, weight, bias, p, 1.0f, Tensor());
}

Tensor conv1d_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv1dParams& p, float input_slope, const Tensor& residual) {
  ConvGeometry g{};
  g.batch = x.dim(0);
  g.channels = x.dim(1);
  g.height = 1;
  g.width = x.dim(2);
  g.out_channels = weight.dim(0);
  g.kernel_h = 1;
  g.kernel_w = weight.dim(2);
  g.stride_h = 1;
  g.stride_w = p.stride;
  g.pad_h = 0;
  g.pad_w = p.padding;
  g.dilation_h = 1;
  g.dilation_w = p.dilation;
  g.groups = p.groups;
  g.out_h = 1;
  g.out_w = (g.width + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1) - 1) / g.stride_w + 1;
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_w}, DType::kF32);
  if (g.stride_w == 1) {
    const Conv1dShape shape{g.batch, g.channels,   g.width,  g.out_channels, g.kernel_w,
                            g.pad_w, g.dilation_w, g.groups, g.out_w};
    const Conv1dFolds folds{input_slope, optional_data(residual)};
    // bf16 weights ask for bf16 products: AMX tiles where the CPU has them; elsewhere the
    // weights are widened and the f32 kernels below run.
    if (weight.dtype() == DType::kBF16 && conv1d_amx_applies(shape)) {
      conv1d_amx(x.typed_data<float>(), *amx::packed_conv1d(weight), optional_data(bias),
                 y.typed_data<float>(), shape, folds);
      return y;
    }
    // Stride 1 (every vocoder convolution): Winograd's F(4, r) where it applies, else
    // the implicit GEMM, which reads shifted rows of x in place of an im2col matrix.
    const Tensor w = f32_weight(weight);
    if (winograd_conv1d_enabled() && conv1d_winograd_applies(shape)) {
      conv1d_winograd(x.typed_data<float>(), w.typed_data<float>(), optional_data(bias),
                      y.typed_data<float>(), shape, folds);
    } else {
      conv1d_implicit_gemm(x.typed_data<float>(), w.typed_data<float>(), optional_data(bias),
                           y.typed_data<float>(), shape, folds);
    }
    return y;
  }
  // Strided: the activation and the residual as separate passes.
  const Tensor w = f32_weight(weight);
  const Tensor xa = input_slope == 1.0f ? x : unary(UnaryOp::kLeakyRelu, x, input_slope, 0.0f);
  conv_forward(xa.typed_data<float>(), w.typed_data<float>(), optional_data(bias),
               y.typed_data<float>(), g);
  if (residual.defined()) {
    float* out = y.typed_data<float>();
    const float* res = residual.typed_data<float>();
    parallel_chunks(y.numel(), 1 << 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) out[i] += res[i];
    });
  }
  return y;
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv1dParams& p) {
  return conv_transpose1d_fused(x, weight, bias, p, 1.0f);
}

Tensor conv_transpose1d_fused(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                              const Conv1dParams& p, float input_slope) {
  const int64_t batch = x_in.dim(0), channels = x_in.dim(1), length = x_in.dim(2);
  const int64_t group_out = weight.dim(1), kernel = weight.dim(2);
  const int64_t groups = p.groups;
  const int64_t group_channels = channels / groups;
  const int64_t out_channels = group_out * groups;
  const int64_t out_length =
      (length - 1) * p.stride - 2 * p.padding + p.dilation * (kernel - 1) + p.output_padding + 1;
  // bf16 weights ask for bf16 products (as in conv1d).
  const ConvTranspose1dShape amx_shape{batch,  channels, length,    out_channels,
                                       kernel, p.stride, p.padding, out_length};
  if (weight.dtype() == DType::kBF16 && groups == 1 && p.dilation == 1 &&
      conv_transpose1d_amx_applies(amx_shape)) {
    Tensor y = Tensor::empty({batch, out_channels, out_length}, DType::kF32);
    conv_transpose1d_amx(x_in.typed_data<float>(), *amx::packed_transposed_phases(weight, p.stride),
                         optional_data(bias), y.typed_data<float>(), amx_shape, input_slope);
    return y;
  }
  // The GEMM path: the activation as a pass of its own.
  const Tensor x = input_slope == 1.0f ? x_in : unary(UnaryOp::kLeakyRelu, x_in, input_slope, 0.0f);
  Tensor y = Tensor::zeros({batch, out_channels, out_length}, DType::kF32);
  const Tensor w = f32_weight(weight);
  const float* xp = x.typed_data<float>();
  const float* wp = w.typed_data<float>();
  float* yp = y.typed_data<float>();
  const float* b = optional_data(bias);
  const int64_t rows = group_out * kernel;  // one column row per (output channel, tap)

  // Input positions per step, bounding the column buffer.
  const int64_t step = std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(rows, 1), 16, 4096);
  std::vector<float> columns(static_cast<size_t>(rows * std::min(step, length)));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t grp = 0; grp < groups; ++grp) {
      const float* xg = xp + (n * channels + grp * group_channels) * length;
      const float* wg = wp + grp * group_channels * rows;  // [Cg, Og * k] for this group
      float* yg = yp + (n * out_channels + grp * group_out) * out_length;
      for (int64_t l0 = 0; l0 < length; l0 += step) {
        const int64_t width = std::min(step, length - l0);
        // columns[o * k + t, l] = sum_c w[c, o, t] * x[c, l0 + l]
        gemm(rows, width, group_channels, wg, rows, true,
             MatrixOperand{xg + l0, DType::kF32, length, false}, columns.data(), width);
        // col2im: output position l * stride - padding + t * dilation.
        parallel_chunks(group_out, 4, [&](int64_t o0, int64_t o1) {
          for (int64_t o = o0; o < o1; ++o) {
            float* out = yg + o * out_length;
            for (int64_t t = 0; t < kernel; ++t) {
              const float* col = columns.data() + (o * kernel + t) * width;
              const int64_t shift = t * p.dilation - p.padding;
              for (int64_t l = 0; l < width; ++l) {
                const int64_t pos = (l0 + l) * p.stride + shift;
                if (pos >= 0 && pos < out_length) out[pos] += col[l];
              }
            }
          }
        });
      }
    }
  }
  if (b) {
    parallel_chunks(batch * out_channels, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float value = b[r % out_channels];
        float* row = yp + r * out_length;
        for (int64_t i = 0; i < out_length; ++i) row[i] += value;
      }
    });
  }
  return y;
}

}  // namespace mmgen::kernels::cpu
