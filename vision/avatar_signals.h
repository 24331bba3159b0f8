// The driving signals of the talking-head renderer (docs/avatar.md), one value
// set per video frame: how the mouth is shaped, how far the eyes are closed and
// how the head is posed. They come from speech (avatar_visemes.h,
// avatar_audio_drive.h) and from seeded random motion (avatar_motion.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmgen::vision {

// The mouth of one frame, each value in face-relative units.
struct MouthShape {
  float open = 0;   // 0 closed .. 1 wide open (jaw dropped)
  float width = 0;  // -1 puckered .. 0 neutral .. 1 spread (smile-like "ee")
  float round = 0;  // 0 .. 1 lips rounded ("oo", "w")
};

// A small rigid motion of the head in the picture plane.
struct HeadPose {
  float roll = 0;  // radians, clockwise on screen
  float dx = 0;    // translation, fraction of the face size
  float dy = 0;
  float scale = 1;  // > 1 leans towards the camera
};

struct AvatarFrameSignals {
  MouthShape mouth;
  float blink = 0;  // 0 eyes open .. 1 closed
  HeadPose head;
};

// One phoneme of spoken text and when it sounds, in seconds from the start.
struct PhonemeTiming {
  std::string phoneme;  // UTF-8 IPA, usually one code point
  double start = 0;
  double end = 0;
};

// Video frames covering `seconds` of audio: ceil(seconds * fps), at least 1.
int64_t frames_for_duration(double seconds, int fps);

// Exponential smoothing with a faster rise than fall (or the reverse), the
// usual envelope follower: each step moves towards the input by
// 1 - exp(-dt / tau), tau = attack when rising, release when falling.
std::vector<float> smooth_attack_release(const std::vector<float>& values, double frame_seconds,
                                         double attack_seconds, double release_seconds);

// Combines the tracks into per-frame signals; every track must have `frames` entries.
std::vector<AvatarFrameSignals> combine_signals(const std::vector<MouthShape>& mouth,
                                                const std::vector<float>& blink,
                                                const std::vector<HeadPose>& head);

}  // namespace mmgen::vision
