// face-api's 68-point face landmark networks (face_landmark_68 and its tiny variant):
// densely connected blocks of separable convolutions over a 112x112 face crop, then
// a fully connected layer giving 68 (x, y) points. Both load from the TF.js weights
// of the npm package @vladmandic/face-api; the block layout is read from the names.
#pragma once

#include <array>
#include <filesystem>
#include <vector>

#include "core/tensor.h"
#include "vision/face_net_layers.h"
#include "vision/image.h"
#include "vision/tfjs_weights.h"
#include "vision/tiny_face_detector.h"

namespace mmgen::vision {

struct Point2 {
  float x = 0, y = 0;
};
// The iBUG 300-W order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
using FaceLandmarks68 = std::array<Point2, 68>;

class FaceLandmarkNet {
 public:
  static FaceLandmarkNet load(const TfjsWeights& weights, Device device = Device::cpu());
  static FaceLandmarkNet load(const std::filesystem::path& manifest, Device device = Device::cpu());

  // The landmarks of the face in `box`, in image pixels, computed on the crop
  // face-api extracts (the box clipped to the image and floored). Returns false
  // when the clipped box is empty.
  bool detect(const Image& image, const FaceBox& box, FaceLandmarks68& landmarks) const;
  // The raw network output for a prepared input [N, 3, 112, 112]: [N, 136] relative
  // (x, y) pairs in the padded square.
  Tensor forward(const Tensor& input) const;

  int blocks() const { return static_cast<int>(blocks_.size()); }

 private:
  struct DenseBlock {
    face_net::Conv first;                       // dense0's plain convolution
    face_net::SeparableConv first_separable;    // the other blocks' first layer
    std::vector<face_net::SeparableConv> rest;  // conv1 .. convN
  };
  std::vector<DenseBlock> blocks_;
  Tensor fc_weight_;  // [in, 136]
  Tensor fc_bias_;    // [136]
  Device device_ = Device::cpu();
};

}  // namespace mmgen::vision
