// The TF-style layers of the face networks against naive references: "same"
// padding of strided convolutions, 2x2 "same" max pools, and the padded bilinear
// network input.
#include "vision/face_net_layers.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "tests/support/test_support.h"

namespace mmgen::vision::face_net {
namespace {

// TF conv2d ("same"), NCHW x, weight [O, C / groups, k, k].
std::vector<float> naive_conv_same(const Tensor& x, const Tensor& w, int stride, int groups) {
  const int64_t c = x.dim(1), h = x.dim(2), wd = x.dim(3), o = w.dim(0), k = w.dim(2);
  const int64_t oh = (h + stride - 1) / stride, ow = (wd + stride - 1) / stride;
  const int64_t pad_h = std::max<int64_t>((oh - 1) * stride + k - h, 0) / 2;
  const int64_t pad_w = std::max<int64_t>((ow - 1) * stride + k - wd, 0) / 2;
  const std::vector<float> xv = x.to_f32_vector(), wv = w.to_f32_vector();
  const int64_t cg = c / groups, og = o / groups;
  std::vector<float> out(static_cast<size_t>(o * oh * ow));
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double sum = 0;
        for (int64_t ic = 0; ic < cg; ++ic)
          for (int64_t ki = 0; ki < k; ++ki)
            for (int64_t kj = 0; kj < k; ++kj) {
              const int64_t y = i * stride + ki - pad_h, xx = j * stride + kj - pad_w;
              if (y < 0 || xx < 0 || y >= h || xx >= wd) continue;
              const int64_t in_c = (oc / og) * cg + ic;
              sum += xv[(in_c * h + y) * wd + xx] * wv[((oc * cg + ic) * k + ki) * k + kj];
            }
        out[(oc * oh + i) * ow + j] = static_cast<float>(sum);
      }
  return out;
}

std::vector<float> naive_max_pool_same(const Tensor& x, int stride) {
  const int64_t c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  const std::vector<float> xv = x.to_f32_vector();
  std::vector<float> out;
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t di = 0; di < 2; ++di)
          for (int64_t dj = 0; dj < 2; ++dj) {
            const int64_t y = i * stride + di, xx = j * stride + dj;
            if (y < h && xx < w) m = std::max(m, xv[(ch * h + y) * w + xx]);
          }
        out.push_back(m);
      }
  return out;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
  return m;
}

}  // namespace

TEST_CASE("Face net convolutions pad as TF same padding", "[faces]") {
  for (int size : {7, 8, 14, 15}) {
    for (int stride : {1, 2}) {
      INFO("size " << size << " stride " << stride);
      const Tensor x = test::random_tensor({1, 4, size, size + 1}, 11 + size);
      Conv dense{test::random_tensor({6, 4, 3, 3}, 5), Tensor(), 1};
      CHECK(max_diff(conv2d(x, dense, stride, Padding::kSame).to_f32_vector(),
                     naive_conv_same(x, dense.weight, stride, 1)) < 1e-4);
      Conv depthwise{test::random_tensor({4, 1, 3, 3}, 6), Tensor(), 4};
      CHECK(max_diff(conv2d(x, depthwise, stride, Padding::kSame).to_f32_vector(),
                     naive_conv_same(x, depthwise.weight, stride, 4)) < 1e-4);
    }
  }
}

TEST_CASE("Face net 2x2 max pools ignore the same padding", "[faces]") {
  for (int size : {5, 6, 13}) {
    for (int stride : {1, 2}) {
      INFO("size " << size << " stride " << stride);
      const Tensor x = test::random_tensor({1, 3, size, size + 3}, 40 + size, -5.0f, -1.0f);
      const Tensor y = max_pool_2x2_same(x, stride);
      CHECK(y.dim(2) == (size + stride - 1) / stride);
      CHECK(max_diff(y.to_f32_vector(), naive_max_pool_same(x, stride)) < 1e-6);
    }
  }
}

TEST_CASE("Global average pool is the mean of each map", "[faces]") {
  const Tensor x = test::random_tensor({2, 3, 7, 7}, 3);
  const std::vector<float> xv = x.to_f32_vector(), y = global_average_pool(x).to_f32_vector();
  REQUIRE(y.size() == 6);
  for (size_t m = 0; m < 6; ++m) {
    double sum = 0;
    for (size_t i = 0; i < 49; ++i) sum += xv[m * 49 + i];
    CHECK(y[m] == Approx(sum / 49).margin(1e-5));
  }
}

TEST_CASE("Network input pads to a square and resizes like TF", "[faces]") {
  Image image(6, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) image.pixel(x, y)[c] = static_cast<uint8_t>(10 * x + 40 * y + c);
  const float zero_mean[3] = {0, 0, 0};
  // Same size: the image with zero rows below (top-left placement) or split (centred:
  // round(2 / 2) = 1 row after, 1 before).
  const std::vector<float> top_left =
      square_network_input(image, {0, 0, 6, 4}, 6, false, zero_mean).to_f32_vector();
  const std::vector<float> centred =
      square_network_input(image, {0, 0, 6, 4}, 6, true, zero_mean).to_f32_vector();
  CHECK(top_left[0] == Approx(0.0f));
  CHECK(top_left[1 * 6 + 2] * 255 == Approx(20 + 40));
  CHECK(top_left[5 * 6 + 2] == 0.0f);
  CHECK(centred[0] == 0.0f);
  CHECK(centred[1 * 6 + 2] * 255 == Approx(20));
  // Downscaling 6 -> 4 samples at 1.5 px steps: row 1 reads rows 1 and 2 half each.
  const std::vector<float> small =
      square_network_input(image, {0, 0, 6, 4}, 4, false, zero_mean).to_f32_vector();
  const double expected = 0.5 * ((10 * 1.5 + 40 * 1) + (10 * 1.5 + 40 * 2));
  CHECK(small[1 * 4 + 1] * 255 == Approx(expected).epsilon(1e-5));
}

}  // namespace mmgen::vision::face_net
