// face-api's tiny face detector: a YOLOv2-style network of depthwise-separable
// convolutions over a 13x13 grid with five anchors, loaded from the TF.js weights
// of the npm package @vladmandic/face-api (model/tiny_face_detector_model-*).
#pragma once

#include <filesystem>
#include <vector>

#include "core/tensor.h"
#include "vision/face_net_layers.h"
#include "vision/image.h"
#include "vision/tfjs_weights.h"

namespace mmgen::vision {

// A face box in image pixels (right and bottom exclusive edges as face-api reports them).
struct FaceBox {
  float left = 0, top = 0, right = 0, bottom = 0;
  float score = 0;
  float width() const { return right - left; }
  float height() const { return bottom - top; }
};

struct TinyFaceDetectorOptions {
  int input_size = 416;          // face-api's default; a multiple of 32
  float score_threshold = 0.5f;  // face-api's default
  float iou_threshold = 0.4f;    // non-maximum suppression
};

class TinyFaceDetector {
 public:
  static TinyFaceDetector load(const TfjsWeights& weights, Device device = Device::cpu());
  // A *-weights_manifest.json (or model.json) file.
  static TinyFaceDetector load(const std::filesystem::path& manifest,
                               Device device = Device::cpu());

  // Faces in the order face-api returns them (highest score first after NMS).
  std::vector<FaceBox> detect(const Image& image,
                              const TinyFaceDetectorOptions& options = {}) const;
  // The raw network output for a prepared input [1, 3, S, S]: [1, 25, S/32, S/32].
  Tensor forward(const Tensor& input) const;

 private:
  face_net::Conv conv0_;
  std::vector<face_net::SeparableConv> separable_;  // conv1 .. conv5
  face_net::Conv conv8_;
  Device device_ = Device::cpu();
};

}  // namespace mmgen::vision
