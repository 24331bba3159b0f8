// The talking-head renderer (docs/avatar.md): a portrait cropped to a square
// around its face, and per video frame a piecewise-affine warp of that crop
// driven by the frame's signals. The mouth stage (avatar_mouth_stage.h) shapes
// the lips and paints the mouth interior; blinks and head motion move the
// eyelid and all face points.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "vision/avatar_crop.h"
#include "vision/avatar_mouth_stage.h"
#include "vision/avatar_rig.h"
#include "vision/avatar_signals.h"
#include "vision/face_analysis.h"
#include "vision/image.h"

namespace mmgen::vision {

class AvatarRenderer {
 public:
  // `frame` is the square crop already scaled to the video size and
  // `landmarks` its face in those pixels. The default mouth stage is a
  // LandmarkMouthStage.
  AvatarRenderer(Image frame, const FaceLandmarks68& landmarks,
                 std::shared_ptr<const MouthStage> mouth = nullptr);

  // Finds the largest face of `portrait` (read from `source`, named in errors),
  // crops the square around it, scales it to size x size and re-detects the
  // landmarks there. Throws Error naming `source` when no face is found.
  static AvatarRenderer from_portrait(const Image& portrait, const std::string& source,
                                      const FaceAnalyzer& analyzer, int size,
                                      std::shared_ptr<const MouthStage> mouth = nullptr);

  int size() const { return base_.width; }
  const Image& base() const { return base_; }
  const FaceRig& rig() const { return rig_; }

  // Renders frame `index` into `out` (resized when needed).
  void render(const AvatarFrameSignals& signals, int64_t index, int fps, Image& out) const;

 private:
  Image base_;
  FaceRig rig_;
  std::shared_ptr<const MouthStage> mouth_;
};

}  // namespace mmgen::vision
