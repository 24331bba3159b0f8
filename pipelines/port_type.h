// The types a pipeline's inputs, node fields and node outputs carry.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mmgen::pipelines {

enum class PortType {
  kText,
  kNumber,
  kInteger,
  kBoolean,
  kFile,  // a file path
  kSeed,  // an integer seed; -1 asks for a random one, recorded in the outputs
  kImage,
  kAudio,
  kVideo,
  kTokens,  // a token stream: the ids and their text
};

// "text", "number", "integer", "boolean", "file", "seed", "image", "audio", "video", "tokens".
std::string_view port_type_name(PortType type);
std::optional<PortType> parse_port_type(std::string_view name);
// Every type name, comma separated (for error messages).
std::string port_type_choices();

// Types a definition can write as a JSON literal (the others come from nodes).
bool is_literal_type(PortType type);

// Whether a field of type `field` accepts a value of type `source`: the same type,
// or a widening that loses nothing (integer -> number, integer <-> seed,
// text <-> file, tokens -> text).
bool port_accepts(PortType field, PortType source);

}  // namespace mmgen::pipelines
