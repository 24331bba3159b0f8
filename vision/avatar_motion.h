// Motion that does not come from speech: eye blinks at natural, random
// intervals and a slow, slight head sway. Both are drawn from a seed, so a
// render can be repeated exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "vision/avatar_signals.h"

namespace mmgen::vision {

struct BlinkOptions {
  double min_interval_seconds = 2.0;  // between blink starts
  double max_interval_seconds = 6.0;
  double close_seconds = 0.07;  // lids falling
  double open_seconds = 0.11;   // lids rising (slower, as in real blinks)
};

// Per frame eye closure in [0, 1]. The first blink comes after 0.5 to 3 s; each
// closure peaks (1) exactly on a frame so every blink is seen fully closed.
std::vector<float> blink_track(int64_t frames, int fps, uint64_t seed,
                               const BlinkOptions& options = {});

struct HeadMotionOptions {
  float roll_radians = 0.03f;  // largest tilt (about 1.7 degrees)
  float shift = 0.012f;        // largest translation, fraction of the face size
  float scale = 0.01f;         // largest relative zoom
};

// Per frame head pose: for each degree of freedom a sum of three slow sinusoids
// (0.05 to 0.4 Hz) with random phases, so the head drifts without repeating.
std::vector<HeadPose> head_motion_track(int64_t frames, int fps, uint64_t seed,
                                        const HeadMotionOptions& options = {});

}  // namespace mmgen::vision
