// The mouth stage of the talking-head renderer: given one frame's mouth signals
// it moves the lip and jaw landmarks (the mesh warp then moves the pixels) and
// paints what the warp cannot know, the inside of the open mouth.
//
// This is the seam for a neural lip-sync generator (a Wav2Lip-style network):
// such a stage would leave the landmarks (or only the jaw) to the warp and in
// paint() replace the lower half of the face with the generator's output for
// the audio window around frame.time_seconds, blended inside the jaw line.
#pragma once

#include <cstdint>

#include "vision/avatar_signals.h"
#include "vision/face_landmarks68.h"
#include "vision/image.h"

namespace mmgen::vision {

struct MouthFrame {
  int64_t index = 0;        // video frame number
  double time_seconds = 0;  // its start in the audio
  MouthShape shape;
};

class MouthStage {
 public:
  virtual ~MouthStage() = default;
  // Moves lip and jaw points of `landmarks` (on entry the neutral face, in the
  // frame's coordinates before head motion).
  virtual void shape_landmarks(const MouthFrame& frame, FaceLandmarks68& landmarks) const = 0;
  // Paints onto the warped frame. `portrait` and `neutral` are what the warp
  // started from (the cropped portrait and its face), `landmarks` the frame's
  // final face (after blink and head motion).
  virtual void paint(const MouthFrame& frame, const Image& portrait, const FaceLandmarks68& neutral,
                     const FaceLandmarks68& landmarks, Image& image) const = 0;
};

// The geometric stage: the jaw drops and the lower lip follows with the
// opening, the corners move out (spread) or in (round), and the mouth interior
// is filled with a shaded cavity and a hint of upper teeth. A portrait whose
// mouth is already open shows its own interior instead, split between the
// lips (avatar_mouth_fill.h).
class LandmarkMouthStage : public MouthStage {
 public:
  // The largest opening at the lip centre, as a fraction of the mouth width.
  explicit LandmarkMouthStage(float max_open = 0.45f) : max_open_(max_open) {}
  void shape_landmarks(const MouthFrame& frame, FaceLandmarks68& landmarks) const override;
  void paint(const MouthFrame& frame, const Image& portrait, const FaceLandmarks68& neutral,
             const FaceLandmarks68& landmarks, Image& image) const override;

 private:
  float max_open_;
};

}  // namespace mmgen::vision
