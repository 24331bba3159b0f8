// Video output through the FFmpeg libraries: an MP4 file (H.264 + AAC) written
// frame by frame, or a PNG sequence with a WAV file beside it (docs/video.md).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vision/image.h"

namespace mmgen::vision {

struct VideoOptions {
  int width = 0, height = 0;  // even sizes (H.264 4:2:0); checked
  int fps = 25;
  int audio_sample_rate = 0;  // 0: no audio stream
  int crf = 20;               // H.264 quality (libx264 CRF)
  // MP4 container tags ("comment", "title", ...), written as given (Mp4Writer only).
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Writes an MP4 (H.264 video in yuv420p + AAC audio) to `path` atomically: a temporary name
// in the same folder, renamed at finish(); nothing is left behind when an error is thrown or
// the writer is destroyed without finish().
class Mp4Writer {
 public:
  Mp4Writer(const std::filesystem::path& path, const VideoOptions& options);
  ~Mp4Writer();
  Mp4Writer(const Mp4Writer&) = delete;
  Mp4Writer& operator=(const Mp4Writer&) = delete;
  Mp4Writer(Mp4Writer&&) noexcept;
  Mp4Writer& operator=(Mp4Writer&&) noexcept;  // discards an unfinished video it replaces

  // RGB, options' size; frame i is at i / fps s.
  void add_frame(const Image& frame);
  // Mono, in (-1, 1), at audio_sample_rate; any chunking.
  void add_audio(const float* samples, size_t n);
  // Flushes both encoders, writes the trailer, renames.
  void finish();

  int frames_written() const;         // frames passed to add_frame so far
  const char* video_encoder() const;  // the H.264 encoder in use ("libx264" unless absent)

 private:
  struct State;
  State& state() const;
  std::unique_ptr<State> state_;
};

// Writes frames as out_dir/frame_000001.png ... (a PNG sequence) and, when audio is given
// (audio_samples > 0), out_dir/audio.wav (mono 16-bit PCM at audio_sample_rate). out_dir is
// created when missing. Every file is written atomically.
void write_png_sequence(const std::filesystem::path& out_dir, const std::vector<Image>& frames,
                        const float* audio = nullptr, size_t audio_samples = 0,
                        int audio_sample_rate = 0);

}  // namespace mmgen::vision
