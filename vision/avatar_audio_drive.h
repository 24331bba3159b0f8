// The mouth track from audio alone: the RMS energy envelope opens the jaw and a
// spectral brightness measure shapes the lips (bright, hissing sounds spread
// them; dark, low sounds round them). Used when no phoneme timings exist.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vision/avatar_signals.h"

namespace mmgen::vision {

// RMS of mono `samples` over each video frame's interval [f / fps, (f + 1) / fps),
// widened by `window_scale` around the frame centre (1 = exactly the frame).
std::vector<float> audio_energy_envelope(const float* samples, size_t count, int sample_rate,
                                         int64_t frames, int fps, double window_scale = 1.0);

// The mouth track of `frames` video frames: energy normalised between the
// clip's noise floor and its loud level, smoothed with attack/release.
std::vector<MouthShape> mouth_track_from_audio(const float* samples, size_t count, int sample_rate,
                                               int64_t frames, int fps);

}  // namespace mmgen::vision
