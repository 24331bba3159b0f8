// Golden kinds of the audio front end and vocoder (mel_filterbank,
// mel_spectrogram, hifigan_vocode); see docs/audio.md.
#pragma once

namespace mmgen::audio {

// Registers the kinds with the golden runner (core/golden.h).
void register_audio_golden_kinds();

}  // namespace mmgen::audio
