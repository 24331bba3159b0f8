// The "parameters" text that image generators store in a PNG tEXt chunk, in the
// AUTOMATIC1111 web UI's format, so other tools read the prompt and settings:
//
//   a red circle
//   Negative prompt: blurry            (left out when there is none)
//   Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model hash: 6ce0161689,
//   Model: v1-5
//
// A value is JSON-quoted only when it holds a comma, a colon or a newline.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmgen::diffusion {

struct PngParameters {
  std::string prompt;
  std::string negative_prompt;
  std::vector<std::pair<std::string, std::string>> fields;  // in order, values unquoted

  // The value of a field, or "" when absent.
  std::string field(const std::string& key) const;
};

// The value as written: itself, or JSON-quoted when it holds ',', ':' or '\n'.
std::string quote_parameter_value(std::string_view value);
std::string format_png_parameters(const PngParameters& parameters);
// Reads text in that format back (the last line is the settings line; quoted
// values are unquoted). Throws Error when the settings line is malformed.
PngParameters parse_png_parameters(std::string_view text);

// A1111's model hash: the first 10 hex digits of the file's SHA-256.
std::string model_hash(const std::string& sha256_hex);
// The "Model" field: a checkpoint's file stem, or a diffusers folder's name (a folder has
// no single file to hash, so its name is recorded alone).
std::string model_name(const std::filesystem::path& model);

}  // namespace mmgen::diffusion
