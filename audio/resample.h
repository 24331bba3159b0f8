// Sample-rate conversion of float audio through libsamplerate's band-limited
// sinc interpolators (docs/audio.md): TTS output at another rate, and WAVs
// brought to a vocoder's rate.
#pragma once

#include <cstdint>
#include <vector>

#include "audio/wav.h"

namespace mmgen::audio {

// The default is kMedium: its error (~121 dB under the signal) is already far
// below 16-bit output's quantisation noise (~96 dB), and it is about 5x faster
// than kBest (10 s of 22050 Hz audio to 16 kHz: ~0.14 s against ~0.7 s on one
// core), which matters next to a TTS budget of 0.1 s per second of audio. kBest
// keeps 97% of the band instead of 90%, for audio that needs it.
enum class ResampleQuality {
  kBest,    // SRC_SINC_BEST_QUALITY: 97% of the band, ~145 dB SNR
  kMedium,  // SRC_SINC_MEDIUM_QUALITY: 90% of the band, ~121 dB SNR
};

// "best" / "medium".
const char* resample_quality_name(ResampleQuality quality);

// Frames after converting `frames` from `from_rate` to `to_rate`:
// round(frames * to_rate / from_rate).
int64_t resampled_frames(int64_t frames, int from_rate, int to_rate);

// Interleaved samples with `channels` channels from `from_rate` Hz to `to_rate`
// Hz; returns resampled_frames(...) frames. Equal rates return a copy; no
// samples give none. Throws Error for a non-positive rate or channel count, a
// sample count that is not a multiple of the channels, or rates further apart
// than libsamplerate's factor of 256 (both rates named).
std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate,
                            int channels = 1, ResampleQuality quality = ResampleQuality::kMedium);

// The same audio at `to_rate` (channels and encoding kept).
WavAudio resample(const WavAudio& audio, int to_rate,
                  ResampleQuality quality = ResampleQuality::kMedium);

}  // namespace mmgen::audio
