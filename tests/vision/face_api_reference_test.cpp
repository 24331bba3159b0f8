// The tiny face detector and the 68-point landmark nets on face-api's own sample
// pictures, against what face-api's JavaScript (tfjs CPU backend) recorded:
// tests/data/faces/face_api_reference.json, written by tools/face_reference.
// Needs the models and samples fetched by scripts/fetch_face_models.sh.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tests/support/test_support.h"
#include "vision/face_analysis.h"
#include "vision/face_landmarks68.h"
#include "vision/jpeg.h"
#include "vision/tiny_face_detector.h"

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;

fs::path face_api_dir() {
  const fs::path dir = test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  MMGEN_CHECK(fs::exists(dir / "model" / "tiny_face_detector_model-weights_manifest.json"),
              dir.string(), ": face-api models not fetched (run scripts/fetch_face_models.sh)");
  return dir;
}

nlohmann::json reference() {
  std::ifstream in(test::test_data_dir() / "faces" / "face_api_reference.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

double mean_landmark_error(const FaceLandmarks68& ours, const nlohmann::json& theirs) {
  REQUIRE(theirs.size() == 68);
  double sum = 0;
  for (size_t i = 0; i < 68; ++i) {
    sum +=
        std::hypot(ours[i].x - theirs[i][0].get<double>(), ours[i].y - theirs[i][1].get<double>());
  }
  return sum / 68;
}

}  // namespace

TEST_CASE("Face boxes and landmarks match face-api on its sample pictures", "[faces]") {
  const fs::path dir = face_api_dir();
  const nlohmann::json ref = reference();
  REQUIRE(ref["face_api_version"] == "1.7.15");
  TinyFaceDetectorOptions options;
  options.input_size = ref["detector"]["input_size"].get<int>();
  options.score_threshold = ref["detector"]["score_threshold"].get<float>();
  const TinyFaceDetector detector =
      TinyFaceDetector::load(dir / "model" / "tiny_face_detector_model-weights_manifest.json");
  const FaceLandmarkNet full =
      FaceLandmarkNet::load(dir / "model" / "face_landmark_68_model-weights_manifest.json");
  const FaceLandmarkNet tiny =
      FaceLandmarkNet::load(dir / "model" / "face_landmark_68_tiny_model-weights_manifest.json");
  CHECK(full.blocks() == 4);
  CHECK(tiny.blocks() == 3);

  double worst_edge = 0, worst_full = 0, worst_tiny = 0, worst_score = 0;
  int faces_checked = 0;
  for (const auto& entry : ref["images"]) {
    const std::string name = entry["image"];
    if (name.rfind("sample", 0) != 0) continue;
    INFO(name);
    // The reference decoded the JPEGs with libjpeg-turbo's decoder too: the same pixels.
    const Image image = read_jpeg(dir / "samples" / name);
    REQUIRE(image.width == entry["width"].get<int>());
    REQUIRE(image.height == entry["height"].get<int>());
    const std::vector<FaceBox> boxes = detector.detect(image, options);
    REQUIRE(boxes.size() == entry["faces"].size());
    for (size_t i = 0; i < boxes.size(); ++i) {
      const auto& face = entry["faces"][i];
      const auto& box = face["box"];
      const double edge = std::max({std::abs(boxes[i].left - box["left"].get<double>()),
                                    std::abs(boxes[i].top - box["top"].get<double>()),
                                    std::abs(boxes[i].right - box["right"].get<double>()),
                                    std::abs(boxes[i].bottom - box["bottom"].get<double>())});
      FaceLandmarks68 ours_full{}, ours_tiny{};
      REQUIRE(full.detect(image, boxes[i], ours_full));
      REQUIRE(tiny.detect(image, boxes[i], ours_tiny));
      const double err_full = mean_landmark_error(ours_full, face["landmarks68"]);
      const double err_tiny = mean_landmark_error(ours_tiny, face["landmarks68_tiny"]);
      std::printf(
          "%s face %zu: box edge %.4f px, landmarks %.4f px, tiny landmarks %.4f px, "
          "score %.4f vs %.3f\n",
          name.c_str(), i, edge, err_full, err_tiny, boxes[i].score, face["score"].get<double>());
      CHECK(edge <= 2.0);
      CHECK(err_full <= 2.0);
      CHECK(err_tiny <= 2.0);
      worst_edge = std::max(worst_edge, edge);
      worst_full = std::max(worst_full, err_full);
      worst_tiny = std::max(worst_tiny, err_tiny);
      worst_score = std::max(worst_score, std::abs(boxes[i].score - face["score"].get<double>()));
      ++faces_checked;
    }
  }
  std::printf(
      "%d faces: worst box edge %.4f px, worst mean landmark error %.4f px (tiny %.4f), "
      "worst score difference %.4f\n",
      faces_checked, worst_edge, worst_full, worst_tiny, worst_score);
  CHECK(faces_checked == 20);
}

TEST_CASE("A picture without a face gives no detection", "[faces]") {
  const fs::path dir = face_api_dir();
  const FaceAnalyzer analyzer = FaceAnalyzer::load(dir / "model");
  Image grey(320, 240);
  std::fill(grey.pixels.begin(), grey.pixels.end(), uint8_t{128});
  CHECK(analyzer.analyse(grey).empty());
  // A smooth gradient is no face either.
  Image gradient(200, 300);
  for (int y = 0; y < gradient.height; ++y)
    for (int x = 0; x < gradient.width; ++x) {
      uint8_t* p = gradient.pixel(x, y);
      p[0] = static_cast<uint8_t>(x), p[1] = static_cast<uint8_t>(y * 255 / 299), p[2] = 60;
    }
  CHECK(analyzer.analyse(gradient).empty());
}

TEST_CASE("The face analyzer finds the faces of a sample and draws them", "[faces]") {
  const fs::path dir = face_api_dir();
  FaceAnalyzerOptions options;
  options.tiny_landmarks = true;
  const FaceAnalyzer analyzer = FaceAnalyzer::load(dir / "model", options);
  Image image = read_image(dir / "samples" / "sample2.jpg");
  const std::vector<FaceAnalysis> faces = analyzer.analyse(image);
  REQUIRE(faces.size() == 1);
  CHECK(faces[0].has_landmarks);
  // Landmarks lie inside (or just around) their box.
  for (const Point2& p : faces[0].landmarks) {
    CHECK(p.x > faces[0].box.left - 20);
    CHECK(p.x < faces[0].box.right + 20);
  }
  const Image before = image;
  draw_faces(image, faces);
  CHECK(image.pixels != before.pixels);
}

TEST_CASE("A missing face model names the file and the fetch script", "[faces]") {
  const auto dir = test::temp_dir("faces_missing_model");
  CHECK_THROWS_WITH(FaceAnalyzer::load(dir),
                    Catch::Contains("tiny_face_detector_model-weights_manifest.json") &&
                        Catch::Contains("fetch_face_models.sh"));
}

TEST_CASE("Landmark weights are no face detector", "[faces]") {
  const fs::path dir = face_api_dir();
  CHECK_THROWS_WITH(
      TinyFaceDetector::load(dir / "model" / "face_landmark_68_model-weights_manifest.json"),
      Catch::Contains("face_landmark_68_model-weights_manifest.json") &&
          Catch::Contains("conv0/filters"));
  CHECK_THROWS_WITH(
      FaceLandmarkNet::load(dir / "model" / "tiny_face_detector_model-weights_manifest.json"),
      Catch::Contains("tiny_face_detector_model-weights_manifest.json") &&
          Catch::Contains("dense0/conv0/filters"));
}

}  // namespace mmgen::vision
