#include "vision/face_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

#ifndef MMGEN_FACE_MODELS_DIR
#define MMGEN_FACE_MODELS_DIR "third_party/face-api/model"
#endif

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;

fs::path model_file(const fs::path& dir, const std::string& name) {
  const fs::path path = dir / (name + "-weights_manifest.json");
  MMGEN_CHECK(fs::exists(path), path.string(),
              ": face model not found (scripts/fetch_face_models.sh fetches it, or set "
              "MMGEN_FACE_MODELS_DIR)");
  return path;
}

void put(Image& image, int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  uint8_t* p = image.pixel(x, y);
  p[0] = r, p[1] = g, p[2] = b;
}

}  // namespace

fs::path default_face_model_dir() {
  const char* env = std::getenv("MMGEN_FACE_MODELS_DIR");
  return env && *env ? fs::path(env) : fs::path(MMGEN_FACE_MODELS_DIR);
}

FaceAnalyzer FaceAnalyzer::load(const fs::path& model_dir, const FaceAnalyzerOptions& options,
                                Device device) {
  FaceAnalyzer analyzer;
  analyzer.options_ = options;
  analyzer.detector_ =
      TinyFaceDetector::load(model_file(model_dir, "tiny_face_detector_model"), device);
  analyzer.landmarks_ = FaceLandmarkNet::load(
      model_file(model_dir,
                 options.tiny_landmarks ? "face_landmark_68_tiny_model" : "face_landmark_68_model"),
      device);
  return analyzer;
}

std::vector<FaceAnalysis> FaceAnalyzer::analyse(const Image& image) const {
  std::vector<FaceAnalysis> faces;
  for (const FaceBox& box : detector_.detect(image, options_.detector)) {
    FaceAnalysis face;
    face.box = box;
    face.has_landmarks = landmarks_.detect(image, box, face.landmarks);
    faces.push_back(face);
  }
  return faces;
}

void draw_faces(Image& image, const std::vector<FaceAnalysis>& faces) {
  const int thickness = std::max(1, std::min(image.width, image.height) / 400);
  for (const FaceAnalysis& face : faces) {
    const int l = static_cast<int>(std::lround(face.box.left));
    const int t = static_cast<int>(std::lround(face.box.top));
    const int r = static_cast<int>(std::lround(face.box.right));
    const int b = static_cast<int>(std::lround(face.box.bottom));
    for (int k = 0; k < thickness; ++k) {
      for (int x = l; x <= r; ++x) put(image, x, t + k, 0, 255, 0), put(image, x, b - k, 0, 255, 0);
      for (int y = t; y <= b; ++y) put(image, l + k, y, 0, 255, 0), put(image, r - k, y, 0, 255, 0);
    }
    if (!face.has_landmarks) continue;
    const int radius = thickness + 1;
    for (const Point2& p : face.landmarks) {
      const int cx = static_cast<int>(std::lround(p.x)), cy = static_cast<int>(std::lround(p.y));
      for (int dy = -radius; dy <= radius; ++dy)
        for (int dx = -radius; dx <= radius; ++dx)
          if (dx * dx + dy * dy <= radius * radius) put(image, cx + dx, cy + dy, 255, 0, 0);
    }
  }
}

}  // namespace mmgen::vision
