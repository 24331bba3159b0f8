// MP4 output checked from outside: ffprobe reads the streams back, ffmpeg decodes the first
// picture, and failures leave no file behind. Also the PNG sequence + WAV output.
#include "vision/video_writer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/support/test_support.h"
#include "vision/png.h"

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 64, kHeight = 48, kFps = 25, kFrames = 50;
constexpr int kBarWidth = 8;
constexpr uint8_t kBackground[3] = {30, 60, 140};
constexpr uint8_t kBar[3] = {235, 200, 40};

int bar_x(int frame) { return (frame * 2) % (kWidth - kBarWidth); }

Image bar_frame(int index) {
  Image image(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x) {
      const bool on_bar = x >= bar_x(index) && x < bar_x(index) + kBarWidth;
      const uint8_t* colour = on_bar ? kBar : kBackground;
      std::copy(colour, colour + 3, image.pixel(x, y));
    }
  return image;
}

std::vector<float> tone(int sample_rate, double seconds, double hz = 440.0) {
  std::vector<float> samples(static_cast<size_t>(std::lround(sample_rate * seconds)));
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = static_cast<float>(0.5 * std::sin(2 * M_PI * hz * i / sample_rate));
  return samples;
}

fs::path find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string folders = path ? path : "";
  size_t start = 0;
  while (start <= folders.size()) {
    const size_t end = std::min(folders.find(':', start), folders.size());
    const fs::path candidate = fs::path(folders.substr(start, end - start)) / program;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

fs::path require_tool(const std::string& program) {
  const fs::path tool = find_on_path(program);
  if (tool.empty())
    FAIL(program << " is not on PATH: install Debian's ffmpeg package (scripts/setup.sh does)");
  return tool;
}

// Runs a shell command and returns its standard output; fails the test on a non-zero exit.
std::string run_capture(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[65536];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, got);
  const int status = ::pclose(pipe);
  INFO("command: " << command);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return output;
}

// Test paths hold no quotes: single quotes protect them from the shell.
std::string quoted(const fs::path& path) {
  std::string text(1, '\'');
  text.append(path.string());
  text.push_back('\'');
  return text;
}

nlohmann::json probe(const fs::path& file) {
  const fs::path ffprobe = require_tool("ffprobe");
  return nlohmann::json::parse(run_capture(
      quoted(ffprobe) + " -v error -show_streams -show_format -of json " + quoted(file)));
}

// The streams of one codec type.
std::vector<nlohmann::json> streams_of(const nlohmann::json& info, const std::string& type) {
  std::vector<nlohmann::json> found;
  for (const auto& stream : info.at("streams"))
    if (stream.at("codec_type") == type) found.push_back(stream);
  return found;
}

double number(const nlohmann::json& value) { return std::stod(value.get<std::string>()); }

// BT.709 limited-range Y'CbCr of an RGB colour, the conversion the writer tags its streams with.
struct Ycbcr {
  double y, cb, cr;
};
Ycbcr bt709_limited(const uint8_t rgb[3]) {
  const double r = rgb[0] / 255.0, g = rgb[1] / 255.0, b = rgb[2] / 255.0;
  const double luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return {16 + 219 * luma, 128 + 224 * (b - luma) / 1.8556, 128 + 224 * (r - luma) / 1.5748};
}

bool folder_is_empty(const fs::path& folder) { return fs::is_empty(folder); }

void write_test_video(const fs::path& file, int sample_rate, bool audio_first) {
  VideoOptions options;
  options.width = kWidth;
  options.height = kHeight;
  options.fps = kFps;
  options.audio_sample_rate = sample_rate;
  Mp4Writer writer(file, options);
  const std::vector<float> audio = tone(sample_rate, 2.0);
  if (audio_first) {
    writer.add_audio(audio.data(), audio.size());
    for (int i = 0; i < kFrames; ++i) writer.add_frame(bar_frame(i));
  } else {
    // Audio in uneven chunks between the frames.
    size_t offset = 0;
    for (int i = 0; i < kFrames; ++i) {
      writer.add_frame(bar_frame(i));
      const size_t chunk = std::min<size_t>(audio.size() - offset, 333 + (i % 7) * 211);
      writer.add_audio(audio.data() + offset, chunk);
      offset += chunk;
    }
    writer.add_audio(audio.data() + offset, audio.size() - offset);
  }
  CHECK(writer.frames_written() == kFrames);
  CHECK(std::string(writer.video_encoder()) == "libx264");
  writer.finish();
}

void check_streams(const fs::path& file, int expected_audio_rate) {
  const nlohmann::json info = probe(file);
  INFO(info.dump(1));
  const auto video = streams_of(info, "video");
  const auto audio = streams_of(info, "audio");
  REQUIRE(video.size() == 1);
  REQUIRE(audio.size() == 1);
  CHECK(info.at("streams").size() == 2);
  CHECK(video[0].at("codec_name") == "h264");
  CHECK(video[0].at("width") == kWidth);
  CHECK(video[0].at("height") == kHeight);
  CHECK(video[0].at("pix_fmt") == "yuv420p");
  CHECK(video[0].at("color_space") == "bt709");
  CHECK(video[0].at("avg_frame_rate") == "25/1");
  CHECK(std::stoi(video[0].at("nb_frames").get<std::string>()) == kFrames);
  CHECK(audio[0].at("codec_name") == "aac");
  CHECK(audio[0].at("channels") == 1);
  CHECK(std::stoi(audio[0].at("sample_rate").get<std::string>()) == expected_audio_rate);
  CHECK(number(video[0].at("start_time")) == Approx(0.0).margin(1e-6));
  CHECK(number(audio[0].at("start_time")) == Approx(0.0).margin(1e-6));
  CHECK(number(video[0].at("duration")) == Approx(2.0).margin(0.04));
  CHECK(number(audio[0].at("duration")) == Approx(2.0).margin(0.04));
  CHECK(number(info.at("format").at("duration")) == Approx(2.0).margin(0.04));
  CHECK(info.at("format").at("format_name").get<std::string>().find("mp4") != std::string::npos);
}

// The file's first byte run is the "ftyp" box and, with +faststart, "moov" comes before "mdat".
void check_faststart(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t moov = bytes.find("moov"), mdat = bytes.find("mdat");
  REQUIRE(moov != std::string::npos);
  REQUIRE(mdat != std::string::npos);
  CHECK(moov < mdat);
}

}  // namespace

TEST_CASE("Mp4Writer writes H.264 and AAC of matching length", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_streams");
  const fs::path file = dir / "bar.mp4";
  write_test_video(file, 22050, false);
  REQUIRE(fs::exists(file));
  check_streams(file, 22050);
  check_faststart(file);
  // Only the finished file is left: no temporary name beside it.
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}

TEST_CASE("Mp4Writer audio decodes back in step with the start of the video", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_audio_sync");
  const fs::path file = dir / "bar.mp4";
  write_test_video(file, 22050, false);
  const std::string raw = run_capture(quoted(require_tool("ffmpeg")) + " -v error -i " +
                                      quoted(file) + " -map 0:a -f f32le -ac 1 -ar 22050 -");
  std::vector<float> decoded(raw.size() / sizeof(float));
  std::memcpy(decoded.data(), raw.data(), decoded.size() * sizeof(float));
  // The container says 2.0 s (checked above); a decoder may still hand out the rest of the
  // last AAC frame (1024 samples), which must be silence.
  CHECK(decoded.size() >= 44100 - 882);
  CHECK(decoded.size() <= 44100 + 1024);
  float tail = 0;
  for (size_t i = 44100 + 64; i < decoded.size(); ++i) tail = std::max(tail, std::abs(decoded[i]));
  CHECK(tail < 0.05f);
  // The encoder's priming samples are cut by the edit list: sample 0 of the decoded track
  // is sample 0 of the tone. A shift of even 5 samples would drop the correlation below 0.8.
  const std::vector<float> original = tone(22050, 2.0);
  double dot = 0, energy_a = 0, energy_b = 0;
  for (size_t i = 0; i < std::min(original.size(), decoded.size()); ++i) {
    dot += original[i] * decoded[i];
    energy_a += original[i] * original[i];
    energy_b += decoded[i] * decoded[i];
  }
  CHECK(dot / std::sqrt(energy_a * energy_b) > 0.97);
  CHECK(std::sqrt(energy_b / decoded.size()) == Approx(0.5 / std::sqrt(2.0)).epsilon(0.1));
}

TEST_CASE("Mp4Writer resamples an audio rate AAC does not take", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_resample");
  const fs::path file = dir / "bar.mp4";
  write_test_video(file, 22000, true);  // 22000 Hz is not an AAC rate: 48000 Hz in the file
  check_streams(file, 48000);
}

TEST_CASE("Mp4Writer first picture decodes to the colours written", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_colours");
  const fs::path file = dir / "bar.mp4";
  write_test_video(file, 22050, false);
  const std::string ffmpeg = quoted(require_tool("ffmpeg"));
  const int x0 = bar_x(0), x1 = bar_x(0) + kBarWidth;  // the bar of frame 0: [x0, x1)
  // Pixels at least 2 columns from the bar's edges (away from chroma subsampling and ringing).
  auto interior = [&](int x, bool* on_bar) {
    *on_bar = x >= x0 && x < x1;
    return *on_bar ? (x >= x0 + 2 && x < x1 - 2) : (x < x0 - 2 || x >= x1 + 2);
  };

  SECTION("the planes hold BT.709 limited-range values") {
    const std::string yuv = run_capture(ffmpeg + " -v error -i " + quoted(file) +
                                        " -frames:v 1 -f rawvideo -pix_fmt yuv420p -");
    REQUIRE(yuv.size() == static_cast<size_t>(kWidth * kHeight * 3 / 2));
    const auto* luma = reinterpret_cast<const uint8_t*>(yuv.data());
    const uint8_t* cb = luma + kWidth * kHeight;
    const uint8_t* cr = cb + kWidth * kHeight / 4;
    const Ycbcr bar = bt709_limited(kBar), background = bt709_limited(kBackground);
    int checked = 0;
    for (int y = 0; y < kHeight; ++y)
      for (int x = 0; x < kWidth; ++x) {
        bool on_bar;
        if (!interior(x, &on_bar)) continue;
        const Ycbcr& want = on_bar ? bar : background;
        INFO("x " << x << " y " << y);
        CHECK(std::abs(luma[y * kWidth + x] - want.y) <= 4);
        const int c = (y / 2) * (kWidth / 2) + x / 2;
        CHECK(std::abs(cb[c] - want.cb) <= 4);
        CHECK(std::abs(cr[c] - want.cr) <= 4);
        ++checked;
      }
    CHECK(checked > kWidth * kHeight / 2);
  }

  SECTION("converted back to RGB it matches the frame") {
    const std::string rgb = run_capture(ffmpeg + " -v error -i " + quoted(file) +
                                        " -frames:v 1 -f rawvideo -pix_fmt rgb24 -");
    REQUIRE(rgb.size() == static_cast<size_t>(kWidth * kHeight * 3));
    const Image written = bar_frame(0);
    double total = 0;
    for (int y = 0; y < kHeight; ++y)
      for (int x = 0; x < kWidth; ++x) {
        bool on_bar;
        const bool inside = interior(x, &on_bar);
        for (int c = 0; c < 3; ++c) {
          const int got = static_cast<uint8_t>(rgb[(y * kWidth + x) * 3 + c]);
          const int want = written.pixel(x, y)[c];
          total += std::abs(got - want);
          if (inside) {
            INFO("x " << x << " y " << y << " channel " << c);
            CHECK(std::abs(got - want) <= 10);
          }
        }
      }
    CHECK(total / (kWidth * kHeight * 3) < 6.0);
  }
}

TEST_CASE("Mp4Writer rejects an odd size and a missing folder, leaving no file", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_errors");
  VideoOptions odd;
  odd.width = 63;
  odd.height = 48;
  CHECK_THROWS_WITH(Mp4Writer(dir / "odd.mp4", odd), Catch::Contains("odd.mp4") &&
                                                         Catch::Contains("63x48") &&
                                                         Catch::Contains("even"));
  VideoOptions good;
  good.width = kWidth;
  good.height = kHeight;
  CHECK_THROWS_WITH(Mp4Writer(dir / "missing" / "x.mp4", good),
                    Catch::Contains("missing") && Catch::Contains("does not exist"));
  VideoOptions bad_crf = good;
  bad_crf.crf = 60;
  CHECK_THROWS_WITH(Mp4Writer(dir / "crf.mp4", bad_crf), Catch::Contains("crf"));
  CHECK(folder_is_empty(dir));
  CHECK(!fs::exists(dir / "missing"));
}

TEST_CASE("Mp4Writer leaves no file when not finished or after a bad frame", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_abandoned");
  VideoOptions options;
  options.width = kWidth;
  options.height = kHeight;
  options.audio_sample_rate = 16000;
  const std::vector<float> audio = tone(16000, 0.5);
  {
    Mp4Writer writer(dir / "abandoned.mp4", options);
    for (int i = 0; i < 10; ++i) writer.add_frame(bar_frame(i));
    writer.add_audio(audio.data(), audio.size());
    CHECK(!folder_is_empty(dir));  // the temporary file exists while writing
  }
  CHECK(folder_is_empty(dir));

  Mp4Writer writer(dir / "bad_frame.mp4", options);
  writer.add_frame(bar_frame(0));
  CHECK_THROWS_WITH(writer.add_frame(Image(32, 48)),
                    Catch::Contains("bad_frame.mp4") && Catch::Contains("32x48"));
  CHECK(folder_is_empty(dir));  // removed at the error, before the writer is destroyed
  CHECK_THROWS_WITH(writer.finish(), Catch::Contains("earlier error"));
  CHECK(folder_is_empty(dir));

  VideoOptions silent = options;
  silent.audio_sample_rate = 0;
  Mp4Writer no_audio(dir / "silent.mp4", silent);
  CHECK_THROWS_WITH(no_audio.add_audio(audio.data(), audio.size()),
                    Catch::Contains("audio_sample_rate is 0"));
}

TEST_CASE("Mp4Writer without audio writes a video-only file", "[video]") {
  const fs::path dir = test::temp_dir("mp4_writer_silent");
  VideoOptions options;
  options.width = kWidth;
  options.height = kHeight;
  options.fps = 10;
  Mp4Writer first(dir / "silent.mp4", options);
  for (int i = 0; i < 5; ++i) first.add_frame(bar_frame(i));
  Mp4Writer writer = std::move(first);  // a writer can be handed on mid-video
  for (int i = 5; i < 15; ++i) writer.add_frame(bar_frame(i));
  writer.finish();
  CHECK_THROWS_WITH(writer.add_frame(bar_frame(0)), Catch::Contains("already finished"));
  const nlohmann::json info = probe(dir / "silent.mp4");
  INFO(info.dump(1));
  REQUIRE(info.at("streams").size() == 1);
  CHECK(info.at("streams")[0].at("codec_type") == "video");
  CHECK(number(info.at("streams")[0].at("duration")) == Approx(1.5).margin(0.1));
}

TEST_CASE("write_png_sequence writes numbered frames and a WAV file", "[video]") {
  const fs::path dir = test::temp_dir("png_sequence") / "out";
  std::vector<Image> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(bar_frame(i * 5));
  const std::vector<float> audio = {0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 0.25f};
  write_png_sequence(dir, frames, audio.data(), audio.size(), 16000);

  for (int i = 0; i < 3; ++i) {
    const fs::path file = dir / ("frame_00000" + std::to_string(i + 1) + ".png");
    REQUIRE(fs::exists(file));
    CHECK(read_png(file).image.pixels == frames[i].pixels);
  }
  CHECK(!fs::exists(dir / "frame_000004.png"));

  std::ifstream in(dir / "audio.wav", std::ios::binary);
  const std::string wav((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(wav.size() == 44 + audio.size() * 2);
  auto u16 = [&](size_t at) {
    return static_cast<int>(static_cast<uint8_t>(wav[at]) |
                            (static_cast<uint8_t>(wav[at + 1]) << 8));
  };
  auto u32 = [&](size_t at) {
    return static_cast<uint32_t>(u16(at)) | (static_cast<uint32_t>(u16(at + 2)) << 16);
  };
  CHECK(wav.substr(0, 4) == "RIFF");
  CHECK(wav.substr(8, 8) == "WAVEfmt ");
  CHECK(u16(20) == 1);  // PCM
  CHECK(u16(22) == 1);  // mono
  CHECK(u32(24) == 16000);
  CHECK(u16(34) == 16);
  const std::vector<int> expected = {0, 16384, -16384, 32767, -32767, 8192};
  for (size_t i = 0; i < expected.size(); ++i)
    CHECK(static_cast<int16_t>(u16(44 + i * 2)) == Approx(expected[i]).margin(1));

  // Without audio: frames only. Mismatched sizes: an error before anything is written.
  const fs::path silent = test::temp_dir("png_sequence_silent");
  write_png_sequence(silent, frames);
  CHECK(fs::exists(silent / "frame_000003.png"));
  CHECK(!fs::exists(silent / "audio.wav"));
  const fs::path mixed = test::temp_dir("png_sequence_mixed") / "out";
  CHECK_THROWS_WITH(write_png_sequence(mixed, {frames[0], Image(10, 10)}),
                    Catch::Contains("frame 1") && Catch::Contains("10x10"));
  CHECK(!fs::exists(mixed));
}

}  // namespace mmgen::vision
