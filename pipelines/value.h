// A value flowing through a pipeline: a literal (text, number, integer,
// boolean, file path, seed) or a product of a node (image, audio, token stream),
// with metadata such as the seed that made it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audio/wav.h"
#include "pipelines/port_type.h"
#include "vision/avatar_signals.h"
#include "vision/image.h"

namespace mmgen::pipelines {

struct TokenStream {
  std::vector<int32_t> ids;
  std::string text;
};

// When each phoneme of spoken audio sounds (seconds from its start); audio.tts
// attaches them so a talking head can shape its mouth from them.
using PhonemeTimings = std::vector<vision::PhonemeTiming>;

// A video as frames made on demand (rendering a long clip up front would hold
// every frame in memory): io.save_video pulls them in order, once each.
struct VideoClip {
  int width = 0, height = 0;
  int fps = 25;
  int64_t frame_count = 0;
  // Renders frame `index` (0 <= index < frame_count) into `out`.
  std::function<void(int64_t index, vision::Image& out)> render_frame;
  std::shared_ptr<const audio::WavAudio> audio;  // mono soundtrack; may be null

  double seconds() const { return fps > 0 ? static_cast<double>(frame_count) / fps : 0.0; }
};

// Ordered key/value pairs ("seed", "parameters", ...).
using Metadata = std::vector<std::pair<std::string, std::string>>;

struct Value {
  PortType type = PortType::kText;
  std::string text;     // text, file
  double number = 0;    // number
  int64_t integer = 0;  // integer, seed
  bool boolean = false;
  std::shared_ptr<const vision::Image> image;
  std::shared_ptr<const audio::WavAudio> audio;  // mono or interleaved
  std::shared_ptr<const TokenStream> tokens;
  std::shared_ptr<const PhonemeTimings> phonemes;  // audio: optional phoneme timings
  std::shared_ptr<const VideoClip> video;
  Metadata metadata;

  static Value of_text(std::string s, PortType type = PortType::kText);
  static Value of_number(double x);
  static Value of_integer(int64_t x, PortType type = PortType::kInteger);
  static Value of_boolean(bool b);
  static Value of_image(vision::Image image, Metadata metadata = {});
  static Value of_audio(audio::WavAudio audio, Metadata metadata = {});
  static Value of_tokens(TokenStream tokens, Metadata metadata = {});
  static Value of_video(VideoClip video, Metadata metadata = {});

  // The value of a metadata key, or "" when absent.
  std::string meta(std::string_view key) const;
  // Sets (or replaces) a metadata key.
  void set_meta(const std::string& key, std::string value);
  // A short human-readable form: the literal, or "image 64x64", "audio 1.20 s at 22050 Hz".
  std::string describe() const;
};

// A JSON literal as a value of `type`. Throws Error naming `where` when the JSON
// does not hold that type (a whole number for integer and seed, a string for
// text and file, true/false for boolean).
Value value_from_json(const nlohmann::ordered_json& json, PortType type, const std::string& where);
// Text from the command line or the C API (`--set name=value`) as a value of
// `type`: numbers parsed whole, booleans as true/false/1/0/yes/no.
Value value_from_string(std::string_view text, PortType type, const std::string& where);
// `value` seen as `type` (port_accepts(type, value.type) must hold).
Value convert_value(const Value& value, PortType type);

}  // namespace mmgen::pipelines
