#include "pipelines/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace mmgen::pipelines {

Value Value::of_text(std::string s, PortType type) {
  Value v;
  v.type = type;
  v.text = std::move(s);
  return v;
}

Value Value::of_number(double x) {
  Value v;
  v.type = PortType::kNumber;
  v.number = x;
  return v;
}

Value Value::of_integer(int64_t x, PortType type) {
  Value v;
  v.type = type;
  v.integer = x;
  v.number = static_cast<double>(x);
  return v;
}

Value Value::of_boolean(bool b) {
  Value v;
  v.type = PortType::kBoolean;
  v.boolean = b;
  return v;
}

Value Value::of_image(vision::Image image, Metadata metadata) {
  Value v;
  v.type = PortType::kImage;
  v.image = std::make_shared<const vision::Image>(std::move(image));
  v.metadata = std::move(metadata);
  return v;
}

Value Value::of_audio(audio::WavAudio audio, Metadata metadata) {
  Value v;
  v.type = PortType::kAudio;
  v.audio = std::make_shared<const audio::WavAudio>(std::move(audio));
  v.metadata = std::move(metadata);
  return v;
}

Value Value::of_tokens(TokenStream tokens, Metadata metadata) {
  Value v;
  v.type = PortType::kTokens;
  v.text = tokens.text;
  v.tokens = std::make_shared<const TokenStream>(std::move(tokens));
  v.metadata = std::move(metadata);
  return v;
}

Value Value::of_video(VideoClip video, Metadata metadata) {
  Value v;
  v.type = PortType::kVideo;
  v.video = std::make_shared<const VideoClip>(std::move(video));
  v.metadata = std::move(metadata);
  return v;
}

std::string Value::meta(std::string_view key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return v;
  return "";
}

void Value::set_meta(const std::string& key, std::string value) {
  for (auto& [k, v] : metadata)
    if (k == key) {
      v = std::move(value);
      return;
    }
  metadata.emplace_back(key, std::move(value));
}

std::string Value::describe() const {
  switch (type) {
    case PortType::kText:
    case PortType::kFile:
      return nlohmann::json(text).dump();
    case PortType::kNumber:
      return nlohmann::json(number).dump();
    case PortType::kInteger:
    case PortType::kSeed:
      return std::to_string(integer);
    case PortType::kBoolean:
      return boolean ? "true" : "false";
    case PortType::kImage:
      return image ? "image " + std::to_string(image->width) + "x" + std::to_string(image->height)
                   : "image (none)";
    case PortType::kAudio: {
      if (!audio || audio->sample_rate <= 0) return "audio (none)";
      char buffer[96];
      std::snprintf(buffer, sizeof(buffer), "audio %.2f s at %d Hz",
                    static_cast<double>(audio->frames()) / audio->sample_rate, audio->sample_rate);
      return buffer;
    }
    case PortType::kTokens:
      return tokens ? std::to_string(tokens->ids.size()) + " tokens" : "tokens (none)";
    case PortType::kVideo: {
      if (!video) return "video (none)";
      char buffer[96];
      std::snprintf(buffer, sizeof(buffer), "video %dx%d, %lld frames at %d fps", video->width,
                    video->height, static_cast<long long>(video->frame_count), video->fps);
      return buffer;
    }
  }
  return "?";
}

namespace {

bool is_whole(double x) { return std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 9.0e18; }

}  // namespace

Value value_from_json(const nlohmann::ordered_json& json, PortType type, const std::string& where) {
  switch (type) {
    case PortType::kText:
    case PortType::kFile:
      MMGEN_CHECK(json.is_string(), where, ": expected a string (", port_type_name(type), "), got ",
                  json.dump());
      return Value::of_text(json.get<std::string>(), type);
    case PortType::kNumber:
      MMGEN_CHECK(json.is_number(), where, ": expected a number, got ", json.dump());
      MMGEN_CHECK(std::isfinite(json.get<double>()), where, ": expected a finite number");
      return Value::of_number(json.get<double>());
    case PortType::kInteger:
    case PortType::kSeed:
      MMGEN_CHECK(json.is_number() && is_whole(json.get<double>()), where,
                  ": expected a whole number (", port_type_name(type), "), got ", json.dump());
      return Value::of_integer(
          json.is_number_float() ? static_cast<int64_t>(json.get<double>()) : json.get<int64_t>(),
          type);
    case PortType::kBoolean:
      MMGEN_CHECK(json.is_boolean(), where, ": expected true or false, got ", json.dump());
      return Value::of_boolean(json.get<bool>());
    default:
      fail(where, ": a value of type ", port_type_name(type),
           " cannot be written in the definition; connect a node output");
  }
}

Value value_from_string(std::string_view text, PortType type, const std::string& where) {
  const std::string s(text);
  switch (type) {
    case PortType::kText:
    case PortType::kFile:
      return Value::of_text(s, type);
    case PortType::kNumber: {
      double x = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      MMGEN_CHECK(ec == std::errc() && end == s.data() + s.size() && std::isfinite(x), where,
                  ": expected a number, got \"", s, "\"");
      return Value::of_number(x);
    }
    case PortType::kInteger:
    case PortType::kSeed: {
      int64_t x = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      MMGEN_CHECK(ec == std::errc() && end == s.data() + s.size(), where,
                  ": expected a whole number (", port_type_name(type), "), got \"", s, "\"");
      return Value::of_integer(x, type);
    }
    case PortType::kBoolean:
      if (s == "true" || s == "1" || s == "yes") return Value::of_boolean(true);
      if (s == "false" || s == "0" || s == "no") return Value::of_boolean(false);
      fail(where, ": expected true or false, got \"", s, "\"");
    default:
      fail(where, ": a value of type ", port_type_name(type),
           " cannot be given as text; connect a node output");
  }
}

Value convert_value(const Value& value, PortType type) {
  if (value.type == type) return value;
  Value v = value;
  v.type = type;
  if (type == PortType::kNumber) v.number = static_cast<double>(value.integer);
  if (type == PortType::kText && value.tokens) v.text = value.tokens->text;
  return v;
}

}  // namespace mmgen::pipelines
