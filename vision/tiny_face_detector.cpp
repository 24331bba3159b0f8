#include "vision/tiny_face_detector.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::vision {
namespace {

using face_net::Padding;

// The detector's constants (face-api src/tinyFaceDetector/const.ts).
constexpr int kAnchors = 5;
constexpr float kAnchorWidth[kAnchors] = {1.603231f, 6.041143f, 2.882459f, 4.266906f, 9.041765f};
constexpr float kAnchorHeight[kAnchors] = {2.094468f, 7.080126f, 3.518061f, 5.178857f, 10.66308f};
constexpr float kMeanRgb[3] = {117.001f, 114.697f, 97.404f};
constexpr int kBoxEncoding = 5;  // x, y, w, h, score (one class: no class scores)

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// face-api's leaky: relu(x - 0.1 x) + 0.1 x, i.e. slope 0.1 below zero.
Tensor leaky(const Tensor& x) { return kernels::leaky_relu(x, 0.1f); }

double iou(const FaceBox& a, const FaceBox& b) {
  const double w = std::max(0.0, double(std::min(a.right, b.right)) - std::max(a.left, b.left));
  const double h = std::max(0.0, double(std::min(a.bottom, b.bottom)) - std::max(a.top, b.top));
  const double inter = w * h;
  return inter / (double(a.width()) * a.height() + double(b.width()) * b.height() - inter);
}

// face-api's nonMaxSuppression: repeatedly keep the best remaining box (the later
// one among equal scores) and drop those overlapping it by more than the threshold.
std::vector<size_t> non_max_suppression(const std::vector<FaceBox>& boxes, double threshold) {
  std::vector<size_t> order(boxes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return boxes[a].score < boxes[b].score; });
  std::vector<size_t> picked;
  while (!order.empty()) {
    const size_t current = order.back();
    order.pop_back();
    picked.push_back(current);
    std::vector<size_t> rest;
    for (size_t idx : order) {
      if (iou(boxes[current], boxes[idx]) <= threshold) rest.push_back(idx);
    }
    order = std::move(rest);
  }
  return picked;
}

}  // namespace

TinyFaceDetector TinyFaceDetector::load(const TfjsWeights& w, Device device) {
  TinyFaceDetector net;
  net.device_ = device;
  net.conv0_ = face_net::load_conv(w, "conv0", device);
  MMGEN_CHECK(net.conv0_.weight.dim(1) == 3, w.source(), ": conv0/filters must take 3 channels");
  for (int i = 1; i <= 5; ++i) {
    net.separable_.push_back(face_net::load_separable_conv(w, "conv" + std::to_string(i), device));
  }
  // The tiny face detector has no conv6 / conv7 (its filterSizes end at 512).
  MMGEN_CHECK(!w.contains("conv6/depthwise_filter") && !w.contains("conv7/depthwise_filter"),
              w.source(), ": has conv6/conv7: a tiny YOLOv2 model, not the tiny face detector");
  net.conv8_ = face_net::load_conv(w, "conv8", device);
  MMGEN_CHECK(net.conv8_.weight.dim(0) == kAnchors * kBoxEncoding, w.source(),
              ": conv8/filters must have ", kAnchors * kBoxEncoding, " outputs (5 anchors x ",
              kBoxEncoding, "), got ", net.conv8_.weight.dim(0));
  return net;
}

TinyFaceDetector TinyFaceDetector::load(const std::filesystem::path& manifest, Device device) {
  return load(read_tfjs_weights(manifest), device);
}

Tensor TinyFaceDetector::forward(const Tensor& input) const {
  Tensor x = leaky(face_net::conv2d(input.to(device_), conv0_, 1, Padding::kValid));
  // 2x2 max pools of stride 2 before each separable block, one of stride 1 after the last.
  for (const face_net::SeparableConv& block : separable_) {
    x = face_net::max_pool_2x2_same(x, 2);
    // tinyYolov2's separable blocks pad by one on every side, then convolve "valid".
    x = leaky(face_net::separable_conv2d(x, block, 1, Padding::kSame));
  }
  x = face_net::max_pool_2x2_same(x, 1);
  return face_net::conv2d(x, conv8_, 1, Padding::kValid);
}

std::vector<FaceBox> TinyFaceDetector::detect(const Image& image,
                                              const TinyFaceDetectorOptions& options) const {
  MMGEN_CHECK(options.input_size > 0 && options.input_size % 32 == 0,
              "tiny face detector: input size must be a positive multiple of 32, got ",
              options.input_size);
  MMGEN_CHECK(options.score_threshold > 0 && options.score_threshold < 1,
              "tiny face detector: score threshold must lie in (0, 1), got ",
              options.score_threshold);
  MMGEN_CHECK(image.width > 0 && image.height > 0, "tiny face detector: the image is empty");
  const int size = options.input_size;
  // The image goes to the top-left of a zero square, which is resized to size x size.
  const Tensor input = face_net::square_network_input(image, {0, 0, image.width, image.height},
                                                      size, false, kMeanRgb);
  const Tensor out = forward(input).cpu().contiguous();
  const int cells = static_cast<int>(out.dim(2));
  const std::vector<float> v = out.to_f32_vector();
  auto at = [&](int anchor, int k, int row, int col) {
    return static_cast<double>(v[((anchor * kBoxEncoding + k) * cells + row) * cells + col]);
  };

  // The boxes are relative to the unpadded image: face-api scales by the ratio of the
  // square to the image's resized extent (rounded, as its computeReshapedDimensions).
  const double scale = static_cast<double>(size) / std::max(image.width, image.height);
  const double reshaped_w = std::round(image.width * scale);
  const double reshaped_h = std::round(image.height * scale);
  const double square = std::max(reshaped_w, reshaped_h);
  const double correction_x = square / reshaped_w, correction_y = square / reshaped_h;

  std::vector<FaceBox> candidates;
  for (int row = 0; row < cells; ++row) {
    for (int col = 0; col < cells; ++col) {
      for (int a = 0; a < kAnchors; ++a) {
        const double score = sigmoid(at(a, 4, row, col));
        if (!(score > options.score_threshold)) continue;
        const double cx = (col + sigmoid(at(a, 0, row, col))) / cells * correction_x;
        const double cy = (row + sigmoid(at(a, 1, row, col))) / cells * correction_y;
        const double w = std::exp(at(a, 2, row, col)) * kAnchorWidth[a] / cells * correction_x;
        const double h = std::exp(at(a, 3, row, col)) * kAnchorHeight[a] / cells * correction_y;
        const double x = cx - w / 2, y = cy - h / 2;
        FaceBox box;
        box.left = static_cast<float>(x * image.width);
        box.top = static_cast<float>(y * image.height);
        box.right = static_cast<float>((x + w) * image.width);
        box.bottom = static_cast<float>((y + h) * image.height);
        box.score = static_cast<float>(score);
        candidates.push_back(box);
      }
    }
  }
  std::vector<FaceBox> faces;
  for (size_t i : non_max_suppression(candidates, options.iou_threshold)) {
    faces.push_back(candidates[i]);
  }
  return faces;
}

}  // namespace mmgen::vision
