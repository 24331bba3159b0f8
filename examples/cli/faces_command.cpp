// `mmgen faces`: face boxes and 68-point landmarks of a PNG, JPEG or WebP picture with
// face-api's tiny face detector and landmark nets (docs/vision.md).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "vision/face_analysis.h"
#include "vision/jpeg.h"
#include "vision/png.h"

namespace mmgen::cli {
namespace {

namespace fs = std::filesystem;

struct FacesOptions {
  std::string input;
  std::string output;
  std::string models;
  bool json = false;
  bool tiny_landmarks = false;
  int input_size = 416;
  float score_threshold = 0.5f;
  std::string device = "cpu";
};

nlohmann::json faces_json(const std::string& input, const vision::Image& image,
                          const std::vector<vision::FaceAnalysis>& faces) {
  nlohmann::json out = {{"image", input}, {"width", image.width}, {"height", image.height}};
  out["faces"] = nlohmann::json::array();
  for (const vision::FaceAnalysis& face : faces) {
    nlohmann::json f = {{"score", face.box.score},
                        {"box",
                         {{"left", face.box.left},
                          {"top", face.box.top},
                          {"right", face.box.right},
                          {"bottom", face.box.bottom}}}};
    f["landmarks68"] = nlohmann::json::array();
    if (face.has_landmarks) {
      for (const vision::Point2& p : face.landmarks) f["landmarks68"].push_back({p.x, p.y});
    }
    out["faces"].push_back(f);
  }
  return out;
}

int run_faces(const FacesOptions& o) {
  const fs::path dir = fs::path(o.output).parent_path();
  MMGEN_CHECK(o.output.empty() || dir.empty() || fs::is_directory(dir), o.output, ": the folder ",
              dir.string(), " does not exist");
  vision::FaceAnalyzerOptions options;
  options.detector.input_size = o.input_size;
  options.detector.score_threshold = o.score_threshold;
  options.tiny_landmarks = o.tiny_landmarks;
  const fs::path models = o.models.empty() ? vision::default_face_model_dir() : fs::path(o.models);
  const vision::FaceAnalyzer analyzer =
      vision::FaceAnalyzer::load(models, options, resolve_device(o.device));
  vision::Image image = vision::read_image(o.input);
  const std::vector<vision::FaceAnalysis> faces = analyzer.analyse(image);

  if (o.json) {
    std::printf("%s\n", faces_json(o.input, image, faces).dump(1).c_str());
  } else {
    std::printf("%s: %zu face(s)\n", o.input.c_str(), faces.size());
    for (size_t i = 0; i < faces.size(); ++i) {
      const vision::FaceAnalysis& f = faces[i];
      std::printf("face %zu: score %.3f box %.1f %.1f %.1f %.1f (left top right bottom)\n", i,
                  f.box.score, f.box.left, f.box.top, f.box.right, f.box.bottom);
      if (!f.has_landmarks) continue;
      std::printf("  landmarks:");
      for (size_t k = 0; k < f.landmarks.size(); ++k) {
        std::printf("%s %.1f,%.1f", k % 8 == 0 && k ? "\n            " : "", f.landmarks[k].x,
                    f.landmarks[k].y);
      }
      std::printf("\n");
    }
  }
  std::fflush(stdout);
  if (!o.output.empty()) {
    vision::draw_faces(image, faces);
    vision::write_png(o.output, image);
    std::fprintf(stderr, "wrote %s\n", o.output.c_str());
  }
  return 0;
}

}  // namespace

Command make_faces_command() {
  auto options = std::make_shared<FacesOptions>();
  Command command;
  command.attach_fn = [options](CLI::App& parent, Command& self) {
    CLI::App* app = parent.add_subcommand(
        "faces", "Detect faces and their 68 landmarks in a PNG, JPEG or WebP picture");
    FacesOptions& o = *options;
    app->add_option("-i,--input", o.input, "Input picture (PNG, JPEG or WebP)")->required();
    app->add_option("-o,--output", o.output, "Write the picture with boxes and landmarks (PNG)");
    app->add_flag("--json", o.json, "Print the boxes and landmarks as JSON");
    app->add_option("--models", o.models,
                    "Folder with the face-api model files (default: $MMGEN_FACE_MODELS_DIR or "
                    "the one scripts/fetch_face_models.sh fills)");
    app->add_flag("--tiny-landmarks", o.tiny_landmarks, "Use the tiny 68-point landmark net");
    app->add_option("--input-size", o.input_size,
                    "Detector input size, a multiple of 32 (larger finds smaller faces)")
        ->capture_default_str();
    app->add_option("--score-threshold", o.score_threshold, "Minimum face score in (0, 1)")
        ->capture_default_str();
    add_device_option(*app, o.device);
    self.app = app;
  };
  command.run = [options] { return run_faces(*options); };
  return command;
}

}  // namespace mmgen::cli
