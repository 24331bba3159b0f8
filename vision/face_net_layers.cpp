#include "vision/face_net_layers.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::vision::face_net {
namespace {

// TF "same" padding of one axis: (before, after).
std::pair<int, int> same_padding(int64_t in, int kernel, int stride) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
  return {static_cast<int>(total / 2), static_cast<int>(total - total / 2)};
}

// Appends `rows` rows and `cols` columns after the map: zeros, or copies of the last
// row / column (which a max pool over the edge then ignores, as TF ignores padding).
Tensor pad_end(const Tensor& x, int rows, int cols, bool replicate) {
  Tensor out = x;
  if (rows > 0) {
    Shape shape = out.shape();
    shape[2] = rows;
    Tensor extra =
        replicate ? kernels::concat(std::vector<Tensor>(rows, out.narrow(2, out.dim(2) - 1, 1)), 2)
                  : Tensor::zeros(shape, DType::kF32, out.device());
    out = kernels::concat({out, extra}, 2);
  }
  if (cols > 0) {
    Shape shape = out.shape();
    shape[3] = cols;
    Tensor extra =
        replicate ? kernels::concat(std::vector<Tensor>(cols, out.narrow(3, out.dim(3) - 1, 1)), 3)
                  : Tensor::zeros(shape, DType::kF32, out.device());
    out = kernels::concat({out, extra}, 3);
  }
  return out;
}

// max(a, b) from the existing ops: relu(a - b) + b.
Tensor maximum(const Tensor& a, const Tensor& b) {
  return kernels::add(kernels::relu(kernels::sub(a, b)), b);
}

// Every `stride`-th row and column of x starting at (dy, dx), `rows` x `cols` of them.
Tensor strided_window(const Tensor& x, int dy, int dx, int64_t rows, int64_t cols, int stride) {
  const Tensor c = x.contiguous();
  const int64_t h = c.dim(2), w = c.dim(3);
  const size_t offset = c.byte_offset() + static_cast<size_t>(dy * w + dx) * sizeof(float);
  return Tensor::strided_view_of(c.storage(), offset, {c.dim(0), c.dim(1), rows, cols},
                                 {c.dim(1) * h * w, h * w, stride * w, stride}, DType::kF32);
}

Tensor to_device(const Tensor& t, Device device) { return t.contiguous().to(device); }

}  // namespace

Conv load_conv(const TfjsWeights& w, const std::string& prefix, Device device) {
  const Tensor& filters = w.get(prefix + "/filters");
  MMGEN_CHECK(filters.ndim() == 4, w.source(), ": weight \"", prefix,
              "/filters\" must be 4-D [kh, kw, in, out], got ", filters.str());
  Conv conv;
  conv.weight = to_device(filters.permute({3, 2, 0, 1}), device);
  conv.bias = to_device(w.get(prefix + "/bias", {filters.dim(3)}), device);
  return conv;
}

SeparableConv load_separable_conv(const TfjsWeights& w, const std::string& prefix, Device device) {
  const Tensor& depthwise = w.get(prefix + "/depthwise_filter");
  MMGEN_CHECK(depthwise.ndim() == 4 && depthwise.dim(3) == 1, w.source(), ": weight \"", prefix,
              "/depthwise_filter\" must be [kh, kw, C, 1], got ", depthwise.str());
  const int64_t channels = depthwise.dim(2);
  const Tensor& pointwise = w.get(prefix + "/pointwise_filter");
  MMGEN_CHECK(pointwise.ndim() == 4 && pointwise.dim(0) == 1 && pointwise.dim(1) == 1 &&
                  pointwise.dim(2) == channels,
              w.source(), ": weight \"", prefix, "/pointwise_filter\" must be [1, 1, ", channels,
              ", out], got ", pointwise.str());
  SeparableConv conv;
  conv.depthwise.weight = to_device(depthwise.permute({2, 3, 0, 1}), device);
  conv.depthwise.groups = static_cast<int>(channels);
  conv.pointwise.weight = to_device(pointwise.permute({3, 2, 0, 1}), device);
  conv.pointwise.bias = to_device(w.get(prefix + "/bias", {pointwise.dim(3)}), device);
  return conv;
}

Tensor conv2d(const Tensor& x, const Conv& conv, int stride, Padding padding) {
  const int kh = static_cast<int>(conv.weight.dim(2)), kw = static_cast<int>(conv.weight.dim(3));
  kernels::Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.groups = conv.groups;
  Tensor input = x;
  if (padding == Padding::kSame) {
    const auto [top, bottom] = same_padding(x.dim(2), kh, stride);
    const auto [left, right] = same_padding(x.dim(3), kw, stride);
    // The symmetric part goes to the convolution, the odd extra row/column after.
    p.pad_h = top;
    p.pad_w = left;
    input = pad_end(x, bottom - top, right - left, false);
  }
  return kernels::conv2d(input, conv.weight, conv.bias, p);
}

Tensor separable_conv2d(const Tensor& x, const SeparableConv& conv, int stride, Padding padding) {
  return conv2d(conv2d(x, conv.depthwise, stride, padding), conv.pointwise, 1, Padding::kValid);
}

Tensor max_pool_2x2_same(const Tensor& x, int stride) {
  MMGEN_CHECK(x.ndim() == 4 && stride >= 1, "max_pool_2x2_same: expected [N, C, H, W], got ",
              x.str());
  const int64_t out_h = (x.dim(2) + stride - 1) / stride;
  const int64_t out_w = (x.dim(3) + stride - 1) / stride;
  const Tensor padded = pad_end(x, static_cast<int>(same_padding(x.dim(2), 2, stride).second),
                                static_cast<int>(same_padding(x.dim(3), 2, stride).second), true)
                            .contiguous();
  Tensor out;
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      const Tensor window =
          kernels::contiguous(strided_window(padded, dy, dx, out_h, out_w, stride));
      out = out.defined() ? maximum(out, window) : window;
    }
  }
  return out;
}

Tensor global_average_pool(const Tensor& x) {
  MMGEN_CHECK(x.ndim() == 4, "global_average_pool: expected [N, C, H, W], got ", x.str());
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
  const Tensor ones = Tensor::full({hw, 1}, 1.0f / static_cast<float>(hw), x.device());
  return kernels::matmul(x.contiguous().view({n, c, hw}), ones).view({n, c});
}

Tensor square_network_input(const Image& image, const Crop& crop, int size, bool centered,
                            const float mean_rgb[3]) {
  MMGEN_CHECK(crop.width > 0 && crop.height > 0 && crop.x >= 0 && crop.y >= 0 &&
                  crop.x + crop.width <= image.width && crop.y + crop.height <= image.height,
              "face network input: crop ", crop.width, "x", crop.height, "+", crop.x, "+", crop.y,
              " does not lie inside the ", image.width, "x", image.height, " image");
  const int side = std::max(crop.width, crop.height);
  const int diff = side - std::min(crop.width, crop.height);
  // face-api's padToSquare: round(diff / 2) after the image, the rest before (centred).
  const int before = centered ? diff - static_cast<int>(std::floor(diff * 0.5 + 0.5)) : 0;
  const int offset_x = crop.width < crop.height ? before : 0;
  const int offset_y = crop.height < crop.width ? before : 0;
  auto sample = [&](int64_t sy, int64_t sx, int ch) -> double {
    const int64_t x = sx - offset_x, y = sy - offset_y;
    if (x < 0 || y < 0 || x >= crop.width || y >= crop.height) return 0.0;
    return image.pixel(crop.x + static_cast<int>(x), crop.y + static_cast<int>(y))[ch];
  };
  std::vector<float> values(static_cast<size_t>(3) * size * size);
  const double ratio = static_cast<double>(side) / size;
  for (int r = 0; r < size; ++r) {
    // TF's legacy bilinear sampling: source = destination * ratio.
    const double fy = side == size ? r : ratio * r;
    const int64_t y0 = static_cast<int64_t>(std::floor(fy));
    const int64_t y1 = std::min<int64_t>(side - 1, static_cast<int64_t>(std::ceil(fy)));
    const double wy = fy - y0;
    for (int c = 0; c < size; ++c) {
      const double fx = side == size ? c : ratio * c;
      const int64_t x0 = static_cast<int64_t>(std::floor(fx));
      const int64_t x1 = std::min<int64_t>(side - 1, static_cast<int64_t>(std::ceil(fx)));
      const double wx = fx - x0;
      for (int ch = 0; ch < 3; ++ch) {
        const double top = sample(y0, x0, ch) + (sample(y0, x1, ch) - sample(y0, x0, ch)) * wx;
        const double bottom = sample(y1, x0, ch) + (sample(y1, x1, ch) - sample(y1, x0, ch)) * wx;
        const float resized = static_cast<float>(top + (bottom - top) * wy);
        values[(static_cast<size_t>(ch) * size + r) * size + c] = (resized - mean_rgb[ch]) / 255.0f;
      }
    }
  }
  return Tensor::from_vector(values, {1, 3, size, size});
}

}  // namespace mmgen::vision::face_net
