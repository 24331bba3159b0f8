#include "vision/avatar_renderer.h"

#include <algorithm>

#include "core/error.h"

namespace mmgen::vision {
namespace {

MouthFrame mouth_frame(const AvatarFrameSignals& signals, int64_t index, int fps) {
  MMGEN_CHECK(fps > 0, "fps must be positive, got ", fps);
  return {index, static_cast<double>(index) / fps, signals.mouth};
}

}  // namespace

AvatarRenderer::AvatarRenderer(Image frame, const FaceLandmarks68& landmarks,
                               std::shared_ptr<const MouthStage> mouth)
    : base_(std::move(frame)),
      rig_(build_face_rig(landmarks, base_.width, base_.height)),
      mouth_(mouth ? std::move(mouth) : std::make_shared<LandmarkMouthStage>()) {}

AvatarRenderer AvatarRenderer::from_portrait(const Image& portrait, const std::string& source,
                                             const FaceAnalyzer& analyzer, int size,
                                             std::shared_ptr<const MouthStage> mouth) {
  MMGEN_CHECK(size >= 64 && size <= 4096, "the video size must be in [64, 4096], got ", size);
  const std::vector<FaceAnalysis> faces = analyzer.analyse(portrait);
  const FaceAnalysis* best = nullptr;
  for (const FaceAnalysis& face : faces) {
    if (!face.has_landmarks) continue;
    if (!best || face.box.width() * face.box.height() > best->box.width() * best->box.height())
      best = &face;
  }
  MMGEN_CHECK(best != nullptr, source, ": no face found in the portrait (", portrait.width, "x",
              portrait.height,
              "); the talking head needs a picture with a clearly visible, "
              "roughly frontal face");
  const SquareCrop crop = face_square_crop(best->box, portrait.width, portrait.height);
  Image frame = crop_and_resize(portrait, crop, size);
  // The landmarks again on the scaled crop: the net sees the face at the scale
  // it will be warped at (and a crop that cut the face is caught here).
  const std::vector<FaceAnalysis> again = analyzer.analyse(frame);
  FaceLandmarks68 landmarks{};
  const FaceAnalysis* found = nullptr;
  for (const FaceAnalysis& face : again)
    if (face.has_landmarks && (!found || face.box.width() > found->box.width())) found = &face;
  if (found) {
    landmarks = found->landmarks;
  } else {
    const float scale = static_cast<float>(size) / crop.side;
    for (size_t i = 0; i < landmarks.size(); ++i)
      landmarks[i] = {(best->landmarks[i].x - crop.left) * scale,
                      (best->landmarks[i].y - crop.top) * scale};
  }
  return AvatarRenderer(std::move(frame), landmarks, std::move(mouth));
}

void AvatarRenderer::render(const AvatarFrameSignals& signals, int64_t index, int fps,
                            Image& out) const {
  const MouthFrame mouth = mouth_frame(signals, index, fps);
  FaceLandmarks68 face = rig_.landmarks;
  mouth_->shape_landmarks(mouth, face);
  close_eyes(face, signals.blink);
  const std::vector<Point2> targets = pose_rig(rig_, face, signals.head);
  if (out.width != base_.width || out.height != base_.height)
    out = Image(base_.width, base_.height);
  // The mouth's inner triangles are warped too (a thin gap shows stretched lip
  // colour); the stage paints over them once the lips part.
  warp_triangles(base_, rig_.points, targets, rig_.triangles, out);
  FaceLandmarks68 final_face{};
  std::copy(targets.begin(), targets.begin() + 68, final_face.begin());
  mouth_->paint(mouth, base_, rig_.landmarks, final_face, out);
}

}  // namespace mmgen::vision
