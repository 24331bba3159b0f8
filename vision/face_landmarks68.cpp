#include "vision/face_landmarks68.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::vision {
namespace {

using face_net::Padding;

constexpr int kInputSize = 112;
constexpr float kMeanRgb[3] = {122.782f, 117.001f, 104.298f};

std::string block_name(int b) { return "dense" + std::to_string(b); }
std::string conv_name(int b, int c) { return block_name(b) + "/conv" + std::to_string(c); }

}  // namespace

FaceLandmarkNet FaceLandmarkNet::load(const TfjsWeights& w, Device device) {
  FaceLandmarkNet net;
  net.device_ = device;
  // dense0/conv0 is a plain convolution; every other layer is separable.
  for (int b = 0; w.contains(conv_name(b, 0) + "/filters") ||
                  w.contains(conv_name(b, 0) + "/depthwise_filter");
       ++b) {
    DenseBlock block;
    if (b == 0) {
      block.first = face_net::load_conv(w, conv_name(0, 0), device);
    } else {
      block.first_separable = face_net::load_separable_conv(w, conv_name(b, 0), device);
    }
    for (int c = 1; w.contains(conv_name(b, c) + "/depthwise_filter"); ++c) {
      block.rest.push_back(face_net::load_separable_conv(w, conv_name(b, c), device));
    }
    MMGEN_CHECK(!block.rest.empty(), w.source(), ": dense block ", block_name(b),
                " has no separable layers ", conv_name(b, 1), "...");
    net.blocks_.push_back(std::move(block));
  }
  MMGEN_CHECK(!net.blocks_.empty() && net.blocks_[0].first.weight.defined(), w.source(),
              ": missing weight \"dense0/conv0/filters\" (not a face landmark model)");
  const Tensor& fc = w.get("fc/weights");
  MMGEN_CHECK(fc.ndim() == 2 && fc.dim(1) == 136, w.source(),
              ": weight \"fc/weights\" must be [channels, 136], got ", fc.str());
  net.fc_weight_ = fc.contiguous().to(device);
  net.fc_bias_ = w.get("fc/bias", {136}).contiguous().to(device);
  return net;
}

FaceLandmarkNet FaceLandmarkNet::load(const std::filesystem::path& manifest, Device device) {
  return load(read_tfjs_weights(manifest), device);
}

Tensor FaceLandmarkNet::forward(const Tensor& input) const {
  Tensor x = input.to(device_);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const DenseBlock& block = blocks_[b];
    // Each block halves the map; every later layer sees the sum of the earlier outputs.
    const Tensor first =
        b == 0 ? face_net::conv2d(x, block.first, 2, Padding::kSame)
               : face_net::separable_conv2d(x, block.first_separable, 2, Padding::kSame);
    Tensor sum = kernels::relu(first);
    Tensor layer_input = sum;
    for (const face_net::SeparableConv& conv : block.rest) {
      sum = kernels::add(sum, face_net::separable_conv2d(layer_input, conv, 1, Padding::kSame));
      layer_input = kernels::relu(sum);
    }
    x = layer_input;
  }
  const Tensor features = face_net::global_average_pool(x);
  MMGEN_CHECK(features.dim(1) == fc_weight_.dim(0), "face landmark net: ", features.dim(1),
              " features but fc/weights takes ", fc_weight_.dim(0));
  return kernels::add(kernels::matmul(features, fc_weight_), fc_bias_);
}

bool FaceLandmarkNet::detect(const Image& image, const FaceBox& box,
                             FaceLandmarks68& landmarks) const {
  // face-api's clipAtImageBorders, then floor of x, y, width and height.
  const double x = std::max<double>(box.left, 0), y = std::max<double>(box.top, 0);
  const double w = std::min<double>(box.right - x, image.width - x);
  const double h = std::min<double>(box.bottom - y, image.height - y);
  face_net::Crop crop;
  crop.x = static_cast<int>(std::floor(x));
  crop.y = static_cast<int>(std::floor(y));
  crop.width = static_cast<int>(std::floor(w));
  crop.height = static_cast<int>(std::floor(h));
  crop.width = std::min(crop.width, image.width - crop.x);
  crop.height = std::min(crop.height, image.height - crop.y);
  if (crop.width <= 0 || crop.height <= 0) return false;

  const Tensor input = face_net::square_network_input(image, crop, kInputSize, true, kMeanRgb);
  const std::vector<float> out = forward(input).cpu().to_f32_vector();
  // Undo the centred padding (face-api's postProcess uses the unrounded half), then map
  // from the crop to the image, shifted by the unclipped box corner as face-api does.
  const double scale = static_cast<double>(kInputSize) / std::max(crop.width, crop.height);
  const double sw = crop.width * scale, sh = crop.height * scale;
  const double pad_x = sw < sh ? std::abs(sw - sh) / 2 : 0;
  const double pad_y = sh < sw ? std::abs(sw - sh) / 2 : 0;
  for (int i = 0; i < 68; ++i) {
    const double rx = (out[2 * i] * kInputSize - pad_x) / sw;
    const double ry = (out[2 * i + 1] * kInputSize - pad_y) / sh;
    landmarks[i].x = static_cast<float>(rx * crop.width + box.left);
    landmarks[i].y = static_cast<float>(ry * crop.height + box.top);
  }
  return true;
}

}  // namespace mmgen::vision
