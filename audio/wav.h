// WAV files: reading 16-bit PCM and 32-bit float, mono or stereo, and writing
// either encoding atomically (a temporary file renamed into place). Other
// encodings (8/24/32-bit PCM, A-law, mu-law, compressed) are refused with the
// file and the format named. See docs/tts-frontend.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mmgen::audio {

enum class WavEncoding { kPcm16, kFloat32 };

// "16-bit PCM" / "32-bit float".
const char* wav_encoding_name(WavEncoding encoding);

struct WavAudio {
  int sample_rate = 0;
  int channels = 1;
  // Interleaved samples; 16-bit PCM maps to value / 32768 (so [-1, 1)).
  std::vector<float> samples;
  WavEncoding encoding = WavEncoding::kPcm16;  // as read from a file

  int64_t frames() const {
    return channels > 0 ? static_cast<int64_t>(samples.size()) / channels : 0;
  }
};

// Parses a whole WAV file held in memory; `name` is used in error messages.
// Chunks other than "fmt " and "data" are skipped; WAVE_FORMAT_EXTENSIBLE is
// read through its sub-format. Throws Error naming `name` for anything that is
// not a complete RIFF/WAVE file in a supported encoding with 1 or 2 channels.
WavAudio parse_wav(const std::vector<uint8_t>& bytes, const std::string& name);
WavAudio read_wav(const std::filesystem::path& path);

// The complete file (44-byte header for PCM; float adds the "fact" chunk
// readers expect for non-PCM data). 16-bit PCM clamps to [-1, 1] and rounds
// value * 32768 to the nearest integer (clamped to 32767), so 16-bit audio
// read by parse_wav writes back bit for bit.
std::vector<uint8_t> encode_wav(const WavAudio& audio, WavEncoding encoding);
void write_wav(const std::filesystem::path& path, const WavAudio& audio, WavEncoding encoding);

}  // namespace mmgen::audio
