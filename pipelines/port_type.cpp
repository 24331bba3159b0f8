#include "pipelines/port_type.h"

#include <array>
#include <utility>

namespace mmgen::pipelines {
namespace {

constexpr std::array<std::pair<PortType, std::string_view>, 10> kNames = {{
    {PortType::kText, "text"},
    {PortType::kNumber, "number"},
    {PortType::kInteger, "integer"},
    {PortType::kBoolean, "boolean"},
    {PortType::kFile, "file"},
    {PortType::kSeed, "seed"},
    {PortType::kImage, "image"},
    {PortType::kAudio, "audio"},
    {PortType::kVideo, "video"},
    {PortType::kTokens, "tokens"},
}};

}  // namespace

std::string_view port_type_name(PortType type) {
  for (const auto& [t, name] : kNames)
    if (t == type) return name;
  return "?";
}

std::optional<PortType> parse_port_type(std::string_view name) {
  for (const auto& [t, n] : kNames)
    if (n == name) return t;
  return std::nullopt;
}

std::string port_type_choices() {
  std::string out;
  for (const auto& [t, name] : kNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool is_literal_type(PortType type) {
  switch (type) {
    case PortType::kText:
    case PortType::kNumber:
    case PortType::kInteger:
    case PortType::kBoolean:
    case PortType::kFile:
    case PortType::kSeed:
      return true;
    default:
      return false;
  }
}

bool port_accepts(PortType field, PortType source) {
  if (field == source) return true;
  switch (field) {
    case PortType::kNumber:
      return source == PortType::kInteger;
    case PortType::kInteger:
      return source == PortType::kSeed;
    case PortType::kSeed:
      return source == PortType::kInteger;
    case PortType::kText:
      return source == PortType::kFile || source == PortType::kTokens;
    case PortType::kFile:
      return source == PortType::kText;
    default:
      return false;
  }
}

}  // namespace mmgen::pipelines
