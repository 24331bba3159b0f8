#include "audio/wav.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "core/atomic_file.h"
#include "core/error.h"

namespace mmgen::audio {

namespace {

constexpr uint16_t kFormatPcm = 0x0001;
constexpr uint16_t kFormatFloat = 0x0003;
constexpr uint16_t kFormatAlaw = 0x0006;
constexpr uint16_t kFormatMulaw = 0x0007;
constexpr uint16_t kFormatExtensible = 0xFFFE;

uint16_t u16_at(const std::vector<uint8_t>& bytes, size_t offset) {
  return static_cast<uint16_t>(bytes[offset] | (bytes[offset + 1] << 8));
}
uint32_t u32_at(const std::vector<uint8_t>& bytes, size_t offset) {
  return static_cast<uint32_t>(bytes[offset]) | (static_cast<uint32_t>(bytes[offset + 1]) << 8) |
         (static_cast<uint32_t>(bytes[offset + 2]) << 16) |
         (static_cast<uint32_t>(bytes[offset + 3]) << 24);
}
bool tag_at(const std::vector<uint8_t>& bytes, size_t offset, std::string_view tag) {
  return std::memcmp(bytes.data() + offset, tag.data(), 4) == 0;
}

std::string format_description(uint16_t tag, int bits) {
  switch (tag) {
    case kFormatPcm:
      return std::to_string(bits) + "-bit PCM";
    case kFormatFloat:
      return std::to_string(bits) + "-bit float";
    case kFormatAlaw:
      return "A-law";
    case kFormatMulaw:
      return "mu-law";
    default: {
      char buffer[64];
      std::snprintf(buffer, sizeof(buffer), "compressed (format tag 0x%04X)", tag);
      return buffer;
    }
  }
}

void put_u16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value & 0xFF));
  out.push_back(static_cast<uint8_t>(value >> 8));
}
void put_u32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}
void put_tag(std::vector<uint8_t>& out, std::string_view tag) {
  out.insert(out.end(), tag.begin(), tag.end());
}

}  // namespace

const char* wav_encoding_name(WavEncoding encoding) {
  return encoding == WavEncoding::kPcm16 ? "16-bit PCM" : "32-bit float";
}

WavAudio parse_wav(const std::vector<uint8_t>& bytes, const std::string& name) {
  MMGEN_CHECK(bytes.size() >= 12 && tag_at(bytes, 0, "RIFF") && tag_at(bytes, 8, "WAVE"), name,
              ": not a WAV file (no RIFF/WAVE header)");
  // Walk the chunks; a chunk that claims more bytes than the file has is truncation.
  size_t offset = 12;
  bool have_format = false;
  uint16_t format_tag = 0;
  int channels = 0, bits = 0;
  uint32_t sample_rate = 0;
  uint16_t block_align = 0;
  const uint8_t* data = nullptr;
  size_t data_size = 0;
  while (offset + 8 <= bytes.size()) {
    const std::string chunk(reinterpret_cast<const char*>(bytes.data() + offset), 4);
    const uint64_t size = u32_at(bytes, offset + 4);
    const size_t body = offset + 8;
    if (chunk == "data") {
      MMGEN_CHECK(body + size <= bytes.size(), name, ": truncated: the data chunk declares ", size,
                  " bytes but only ", bytes.size() - body, " follow");
      data = bytes.data() + body;
      data_size = static_cast<size_t>(size);
    } else {
      MMGEN_CHECK(body + size <= bytes.size(), name, ": truncated: the '", chunk,
                  "' chunk declares ", size, " bytes but only ", bytes.size() - body, " follow");
    }
    if (chunk == "fmt ") {
      MMGEN_CHECK(size >= 16, name, ": the 'fmt ' chunk has ", size,
                  " bytes, expected at least 16");
      format_tag = u16_at(bytes, body);
      channels = u16_at(bytes, body + 2);
      sample_rate = u32_at(bytes, body + 4);
      block_align = u16_at(bytes, body + 12);
      bits = u16_at(bytes, body + 14);
      if (format_tag == kFormatExtensible) {
        MMGEN_CHECK(size >= 40, name, ": the extensible 'fmt ' chunk has ", size,
                    " bytes, expected 40");
        format_tag = u16_at(bytes, body + 24);  // the sub-format GUID's first two bytes
      }
      have_format = true;
    }
    offset = body + static_cast<size_t>(size) + (size & 1);  // chunks are padded to even sizes
  }
  MMGEN_CHECK(have_format, name, ": no 'fmt ' chunk");
  MMGEN_CHECK(data != nullptr, name, ": no 'data' chunk");

  WavAudio audio;
  if (format_tag == kFormatPcm && bits == 16) {
    audio.encoding = WavEncoding::kPcm16;
  } else if (format_tag == kFormatFloat && bits == 32) {
    audio.encoding = WavEncoding::kFloat32;
  } else {
    fail(name, ": unsupported WAV encoding ", format_description(format_tag, bits),
         " (supported: 16-bit PCM, 32-bit float)");
  }
  MMGEN_CHECK(channels == 1 || channels == 2, name, ": ", channels,
              " channels (supported: mono and stereo)");
  MMGEN_CHECK(sample_rate > 0 && sample_rate <= 1000000, name, ": invalid sample rate ",
              sample_rate);
  const int bytes_per_sample = bits / 8;
  MMGEN_CHECK(block_align == channels * bytes_per_sample, name, ": block align ", block_align,
              " does not match ", channels, " channels of ", bits, " bits");
  MMGEN_CHECK(data_size % block_align == 0, name, ": truncated: the data chunk holds ", data_size,
              " bytes, not a whole number of ", block_align, "-byte frames");

  audio.sample_rate = static_cast<int>(sample_rate);
  audio.channels = channels;
  const size_t count = data_size / static_cast<size_t>(bytes_per_sample);
  audio.samples.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (audio.encoding == WavEncoding::kPcm16) {
      int16_t value;
      std::memcpy(&value, data + 2 * i, 2);
      audio.samples[i] = static_cast<float>(value) / 32768.0f;
    } else {
      std::memcpy(&audio.samples[i], data + 4 * i, 4);
    }
  }
  return audio;
}

WavAudio read_wav(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the WAV file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return parse_wav(bytes, path.string());
}

std::vector<uint8_t> encode_wav(const WavAudio& audio, WavEncoding encoding) {
  MMGEN_CHECK(audio.channels == 1 || audio.channels == 2, "encode_wav: ", audio.channels,
              " channels (supported: mono and stereo)");
  MMGEN_CHECK(audio.sample_rate > 0, "encode_wav: invalid sample rate ", audio.sample_rate);
  MMGEN_CHECK(audio.samples.size() % static_cast<size_t>(audio.channels) == 0,
              "encode_wav: ", audio.samples.size(), " samples are not a whole number of ",
              audio.channels, "-channel frames");
  const bool pcm = encoding == WavEncoding::kPcm16;
  const uint32_t bytes_per_sample = pcm ? 2 : 4;
  const uint64_t data_size = audio.samples.size() * bytes_per_sample;
  const uint32_t format_size = pcm ? 16 : 18;  // non-PCM carries cbSize
  const uint64_t riff_size = 4 + (8 + format_size) + (pcm ? 0 : 12) + 8 + data_size;
  MMGEN_CHECK(riff_size <= 0xFFFFFFFFull, "encode_wav: ", audio.samples.size(),
              " samples exceed the 4 GiB limit of a WAV file");
  const auto channels = static_cast<uint16_t>(audio.channels);
  const auto block_align = static_cast<uint16_t>(channels * bytes_per_sample);

  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(riff_size) + 8);
  put_tag(out, "RIFF");
  put_u32(out, static_cast<uint32_t>(riff_size));
  put_tag(out, "WAVE");
  put_tag(out, "fmt ");
  put_u32(out, format_size);
  put_u16(out, pcm ? kFormatPcm : kFormatFloat);
  put_u16(out, channels);
  put_u32(out, static_cast<uint32_t>(audio.sample_rate));
  put_u32(out, static_cast<uint32_t>(audio.sample_rate) * block_align);
  put_u16(out, block_align);
  put_u16(out, static_cast<uint16_t>(bytes_per_sample * 8));
  if (!pcm) {
    put_u16(out, 0);  // cbSize
    put_tag(out, "fact");
    put_u32(out, 4);
    put_u32(out, static_cast<uint32_t>(audio.frames()));
  }
  put_tag(out, "data");
  put_u32(out, static_cast<uint32_t>(data_size));
  for (float sample : audio.samples) {
    if (pcm) {
      const float clamped = std::isnan(sample) ? 0.0f : std::clamp(sample, -1.0f, 1.0f);
      const long rounded = std::lround(static_cast<double>(clamped) * 32768.0);
      const auto value = static_cast<int16_t>(std::clamp(rounded, -32768L, 32767L));
      put_u16(out, static_cast<uint16_t>(value));
    } else {
      uint32_t bits;
      std::memcpy(&bits, &sample, 4);
      put_u32(out, bits);
    }
  }
  return out;
}

void write_wav(const std::filesystem::path& path, const WavAudio& audio, WavEncoding encoding) {
  const auto bytes = encode_wav(audio, encoding);
  AtomicFileWriter writer(path);
  writer.write(bytes.data(), bytes.size());
  writer.commit();
}

}  // namespace mmgen::audio
