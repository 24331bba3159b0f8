// write_png_sequence: frames as numbered PNG files and the sound track as a WAV file, the
// lossless alternative to an MP4 (ffmpeg -framerate 25 -i frame_%06d.png -i audio.wav ...).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <system_error>

#include "core/atomic_file.h"
#include "core/error.h"
#include "vision/png.h"
#include "vision/video_writer.h"

namespace mmgen::vision {
namespace {

void put_u16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xff));
  out.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
}
void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  put_u16(out, v & 0xffff);
  put_u16(out, v >> 16);
}
void put_tag(std::vector<uint8_t>& out, const char* tag) { out.insert(out.end(), tag, tag + 4); }

// Mono 16-bit PCM: the WAV flavour every tool reads.
void write_mono_wav16(const std::filesystem::path& path, const float* samples, size_t n,
                      int sample_rate) {
  const uint64_t data_bytes = static_cast<uint64_t>(n) * 2;
  MMGEN_CHECK(data_bytes <= 0xffffffffull - 36, path.string(), ": ", n,
              " samples are too many for a WAV file");
  std::vector<uint8_t> bytes;
  bytes.reserve(44 + data_bytes);
  put_tag(bytes, "RIFF");
  put_u32(bytes, static_cast<uint32_t>(36 + data_bytes));
  put_tag(bytes, "WAVE");
  put_tag(bytes, "fmt ");
  put_u32(bytes, 16);
  put_u16(bytes, 1);  // PCM
  put_u16(bytes, 1);  // mono
  put_u32(bytes, static_cast<uint32_t>(sample_rate));
  put_u32(bytes, static_cast<uint32_t>(sample_rate) * 2);
  put_u16(bytes, 2);
  put_u16(bytes, 16);
  put_tag(bytes, "data");
  put_u32(bytes, static_cast<uint32_t>(data_bytes));
  for (size_t i = 0; i < n; ++i) {
    MMGEN_CHECK(std::isfinite(samples[i]), path.string(), ": audio sample ", i,
                " is not a finite number");
    const float clamped = std::fmin(1.0f, std::fmax(-1.0f, samples[i]));
    put_u16(bytes, static_cast<uint16_t>(static_cast<int16_t>(std::lrint(clamped * 32767.0f))));
  }
  AtomicFileWriter file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace

void write_png_sequence(const std::filesystem::path& out_dir, const std::vector<Image>& frames,
                        const float* audio, size_t audio_samples, int audio_sample_rate) {
  MMGEN_CHECK(!frames.empty(), out_dir.string(), ": no frames to write");
  const int width = frames.front().width, height = frames.front().height;
  for (size_t i = 0; i < frames.size(); ++i) {
    const Image& frame = frames[i];
    MMGEN_CHECK(frame.width > 0 && frame.height > 0 &&
                    frame.pixels.size() == static_cast<size_t>(frame.width) * frame.height * 3,
                out_dir.string(), ": frame ", i, " is not a valid RGB image");
    MMGEN_CHECK(frame.width == width && frame.height == height, out_dir.string(), ": frame ", i,
                " is ", frame.width, "x", frame.height, ", the first frame ", width, "x", height,
                " (a sequence keeps one size)");
  }
  if (audio_samples > 0) {
    MMGEN_CHECK(audio != nullptr, out_dir.string(), ": audio_samples is ", audio_samples,
                " but no audio data was given");
    MMGEN_CHECK(audio_sample_rate > 0, out_dir.string(), ": audio_sample_rate ", audio_sample_rate,
                " must be positive when audio is given");
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  MMGEN_CHECK(!ec && std::filesystem::is_directory(out_dir), out_dir.string(),
              ": cannot create the folder: ", ec ? ec.message() : "not a directory");
  for (size_t i = 0; i < frames.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "frame_%06zu.png", i + 1);
    write_png(out_dir / name, frames[i]);
  }
  if (audio_samples > 0)
    write_mono_wav16(out_dir / "audio.wav", audio, audio_samples, audio_sample_rate);
}

}  // namespace mmgen::vision
