// WAV reading and writing (audio/wav.h): round trips of both encodings with
// their header fields, and the files that must be refused.
#include "audio/wav.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/support/test_support.h"

using namespace mmgen;
using namespace mmgen::audio;

namespace {

uint16_t u16(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint16_t>(b[at] | (b[at + 1] << 8));
}
uint32_t u32(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint32_t>(u16(b, at)) | (static_cast<uint32_t>(u16(b, at + 2)) << 16);
}
std::string tag(const std::vector<uint8_t>& b, size_t at) {
  return std::string(reinterpret_cast<const char*>(b.data() + at), 4);
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}
void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A hand-built header for encodings the writer does not produce.
std::vector<uint8_t> header(uint16_t format, uint16_t channels, uint32_t rate, uint16_t bits,
                            uint32_t data_bytes) {
  std::vector<uint8_t> b;
  auto put16 = [&](uint32_t v) {
    b.push_back(static_cast<uint8_t>(v & 0xFF));
    b.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
  };
  auto put32 = [&](uint32_t v) {
    put16(v & 0xFFFF);
    put16(v >> 16);
  };
  auto put = [&](const char* t) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(t[i]));
  };
  const uint16_t align = static_cast<uint16_t>(channels * bits / 8);
  put("RIFF");
  put32(36 + data_bytes);
  put("WAVE");
  put("fmt ");
  put32(16);
  put16(format);
  put16(channels);
  put32(rate);
  put32(rate * align);
  put16(align);
  put16(bits);
  put("data");
  put32(data_bytes);
  b.resize(b.size() + data_bytes, 0);
  return b;
}

}  // namespace

TEST_CASE("16-bit PCM WAV round trips values and header fields", "[audio][wav]") {
  const auto dir = test::temp_dir("wav_pcm16");
  WavAudio audio;
  audio.sample_rate = 22050;
  audio.channels = 1;
  for (int v : {0, 1, -1, 1000, -1000, 32767, -32768, 12345}) audio.samples.push_back(v / 32768.0f);
  const auto path = dir / "mono.wav";
  write_wav(path, audio, WavEncoding::kPcm16);

  const auto bytes = read_bytes(path);
  REQUIRE(bytes.size() == 44 + 16);
  CHECK(tag(bytes, 0) == "RIFF");
  CHECK(u32(bytes, 4) == bytes.size() - 8);
  CHECK(tag(bytes, 8) == "WAVE");
  CHECK(tag(bytes, 12) == "fmt ");
  CHECK(u32(bytes, 16) == 16);
  CHECK(u16(bytes, 20) == 1);          // PCM
  CHECK(u16(bytes, 22) == 1);          // channels
  CHECK(u32(bytes, 24) == 22050);      // sample rate
  CHECK(u32(bytes, 28) == 22050 * 2);  // byte rate
  CHECK(u16(bytes, 32) == 2);          // block align
  CHECK(u16(bytes, 34) == 16);         // bits
  CHECK(tag(bytes, 36) == "data");
  CHECK(u32(bytes, 40) == 16);
  CHECK(static_cast<int16_t>(u16(bytes, 44 + 2 * 3)) == 1000);
  CHECK(static_cast<int16_t>(u16(bytes, 44 + 2 * 6)) == -32768);

  const auto back = read_wav(path);
  CHECK(back.encoding == WavEncoding::kPcm16);
  CHECK(back.sample_rate == 22050);
  CHECK(back.channels == 1);
  CHECK(back.frames() == 8);
  CHECK(back.samples == audio.samples);  // exact: k / 32768 is representable
  // No temporary file is left beside the result.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);

  // Out-of-range values clamp; rounding is to nearest.
  WavAudio loud{16000, 1, {1.5f, -2.0f, 0.49f / 32768.0f, 0.51f / 32768.0f}};
  const auto loud_back = parse_wav(encode_wav(loud, WavEncoding::kPcm16), "loud");
  CHECK(loud_back.samples == std::vector<float>{32767 / 32768.0f, -1.0f, 0.0f, 1 / 32768.0f});
}

TEST_CASE("32-bit float and stereo WAV round trip", "[audio][wav]") {
  const auto dir = test::temp_dir("wav_float");
  WavAudio audio;
  audio.sample_rate = 44100;
  audio.channels = 2;
  audio.samples = {0.25f, -0.5f, 1.75f, -3.0f, 1e-7f, 0.123456789f};
  const auto path = dir / "stereo.wav";
  write_wav(path, audio, WavEncoding::kFloat32);

  const auto bytes = read_bytes(path);
  CHECK(tag(bytes, 0) == "RIFF");
  CHECK(u32(bytes, 4) == bytes.size() - 8);
  CHECK(u32(bytes, 16) == 18);
  CHECK(u16(bytes, 20) == 3);  // IEEE float
  CHECK(u16(bytes, 22) == 2);
  CHECK(u32(bytes, 24) == 44100);
  CHECK(u32(bytes, 28) == 44100 * 8);
  CHECK(u16(bytes, 32) == 8);
  CHECK(u16(bytes, 34) == 32);
  CHECK(tag(bytes, 38) == "fact");
  CHECK(u32(bytes, 46) == 3);  // frames
  CHECK(tag(bytes, 50) == "data");
  CHECK(u32(bytes, 54) == 24);
  REQUIRE(bytes.size() == 58 + 24);

  const auto back = read_wav(path);
  CHECK(back.encoding == WavEncoding::kFloat32);
  CHECK(back.sample_rate == 44100);
  CHECK(back.channels == 2);
  CHECK(back.frames() == 3);
  CHECK(back.samples == audio.samples);

  // Stereo 16-bit too.
  write_wav(path, audio, WavEncoding::kPcm16);
  const auto pcm = read_wav(path);
  CHECK(pcm.channels == 2);
  CHECK(pcm.samples[0] == 0.25f);
  CHECK(pcm.samples[1] == -0.5f);
  CHECK(pcm.samples[2] == 32767 / 32768.0f);
}

TEST_CASE("unsupported WAV encodings are refused naming the file and format", "[audio][wav]") {
  const auto dir = test::temp_dir("wav_refused");
  const auto path24 = dir / "deep.wav";
  write_bytes(path24, header(1, 1, 48000, 24, 30));
  const auto message = message_of([&] { read_wav(path24); });
  CHECK(message.find(path24.string()) != std::string::npos);
  CHECK(message.find("24-bit PCM") != std::string::npos);

  const auto alaw = dir / "alaw.wav";
  write_bytes(alaw, header(6, 1, 8000, 8, 10));
  CHECK(message_of([&] { read_wav(alaw); }).find("A-law") != std::string::npos);

  const auto adpcm = dir / "adpcm.wav";
  write_bytes(adpcm, header(2, 1, 8000, 4, 10));
  CHECK(message_of([&] { read_wav(adpcm); }).find("compressed") != std::string::npos);

  const auto surround = dir / "six.wav";
  write_bytes(surround, header(1, 6, 48000, 16, 24));
  CHECK(message_of([&] { read_wav(surround); }).find("6 channels") != std::string::npos);
}

TEST_CASE("truncated or foreign files are refused", "[audio][wav]") {
  const auto dir = test::temp_dir("wav_truncated");
  WavAudio audio{22050, 1, std::vector<float>(100, 0.5f)};
  auto bytes = encode_wav(audio, WavEncoding::kPcm16);
  bytes.resize(bytes.size() - 51);
  const auto cut = dir / "cut.wav";
  write_bytes(cut, bytes);
  const auto message = message_of([&] { read_wav(cut); });
  CHECK(message.find(cut.string()) != std::string::npos);
  CHECK(message.find("truncated") != std::string::npos);

  bytes.resize(30);  // inside the fmt chunk
  CHECK(message_of([&] { parse_wav(bytes, "short"); }).find("truncated") != std::string::npos);

  const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'};
  CHECK(message_of([&] { parse_wav(text, "hello.txt"); }).find("not a WAV") != std::string::npos);
  CHECK(message_of([&] { read_wav(dir / "absent.wav"); }).find("absent.wav") != std::string::npos);
}
