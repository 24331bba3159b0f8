// Face detection with 68-point landmarks on a picture: face-api's tiny face detector
// followed by one of its landmark nets on each detected face (docs/vision.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "vision/face_landmarks68.h"
#include "vision/image.h"
#include "vision/tiny_face_detector.h"

namespace mmgen::vision {

// $MMGEN_FACE_MODELS_DIR, else the model/ folder scripts/fetch_face_models.sh fills.
std::filesystem::path default_face_model_dir();

struct FaceAnalysis {
  FaceBox box;
  bool has_landmarks = false;  // false when the box lies outside the picture
  FaceLandmarks68 landmarks{};
};

struct FaceAnalyzerOptions {
  TinyFaceDetectorOptions detector;
  bool tiny_landmarks = false;  // face_landmark_68_tiny_model instead of face_landmark_68_model
};

class FaceAnalyzer {
 public:
  // Reads tiny_face_detector_model-weights_manifest.json and the landmark manifest
  // from `model_dir`; a missing file is an error naming it and the fetch script.
  static FaceAnalyzer load(const std::filesystem::path& model_dir,
                           const FaceAnalyzerOptions& options = {}, Device device = Device::cpu());
  std::vector<FaceAnalysis> analyse(const Image& image) const;

 private:
  TinyFaceDetector detector_;
  FaceLandmarkNet landmarks_;
  FaceAnalyzerOptions options_;
};

// Draws each box (green) and its landmarks (red dots) onto the image.
void draw_faces(Image& image, const std::vector<FaceAnalysis>& faces);

}  // namespace mmgen::vision
