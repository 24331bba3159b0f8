// `mmgen inspect FILE`: what a weight file holds (format, metadata, tensors), as text
// for people or as JSON for programs.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/gguf.h"
#include "core/model_file.h"
#include "examples/cli/commands.h"

namespace mmgen::cli {
namespace {

using nlohmann::json;

constexpr size_t kMaxStringChars = 64;  // longer strings are cut in text output
constexpr size_t kMaxArrayItems = 5;    // longer arrays show their first items and count
constexpr size_t kMaxNameWidth = 48;

struct InspectOptions {
  std::string file;
  bool json_output = false;
  bool no_metadata = false;
};

// Cuts a UTF-8 string to at most `limit` bytes without splitting a character.
std::string cut_utf8(const std::string& s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) --end;
  return s.substr(0, end);
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// One metadata value on one line: strings quoted and cut, arrays abbreviated.
std::string format_value(const json& value, size_t string_limit) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.size() <= string_limit) return dump(value);
    return dump(json(cut_utf8(s, string_limit))) + "... (" + std::to_string(s.size()) + " bytes)";
  }
  if (value.is_array()) {
    std::string out = "[";
    const size_t shown = std::min(value.size(), kMaxArrayItems);
    for (size_t i = 0; i < shown; ++i)
      out += (i ? ", " : "") + format_value(value[i], string_limit / 2);
    if (value.size() > shown) out += ", ...";
    out += "]";
    if (value.size() > shown) out += " (" + std::to_string(value.size()) + " items)";
    return out;
  }
  if (value.is_number_float()) {
    // GGUF float32 values arrive as doubles; show them as the float they were (1e-05).
    const double d = value.get<double>();
    const auto f = static_cast<float>(d);
    if (static_cast<double>(f) == d) {
      char buffer[32];
      const auto end = std::to_chars(buffer, buffer + sizeof(buffer), f).ptr;
      std::string text(buffer, end);
      if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // still a float
      return text;
    }
  }
  const std::string text = dump(value);
  return text.size() <= 4 * string_limit ? text : cut_utf8(text, 4 * string_limit) + "...";
}

std::string human_bytes(uintmax_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
  return buffer;
}

std::string human_count(int64_t n) {
  char buffer[32];
  if (n >= 1'000'000'000)
    std::snprintf(buffer, sizeof(buffer), "%.2fB", static_cast<double>(n) / 1e9);
  else if (n >= 1'000'000)
    std::snprintf(buffer, sizeof(buffer), "%.2fM", static_cast<double>(n) / 1e6);
  else if (n >= 1'000)
    std::snprintf(buffer, sizeof(buffer), "%.2fK", static_cast<double>(n) / 1e3);
  else
    std::snprintf(buffer, sizeof(buffer), "%lld", static_cast<long long>(n));
  return buffer;
}

std::string format_label(const ModelFile& file) {
  std::string label(model_format_name(file.format()));
  if (const auto* gguf = dynamic_cast<const GgufFile*>(&file))
    label += " v" + std::to_string(gguf->version());
  return label;
}

int64_t total_parameters(const ModelFile& file) {
  int64_t total = 0;
  for (const auto& info : file.tensors()) total += shape_numel(info.shape);
  return total;
}

void print_json(const ModelFile& file, uintmax_t size, const InspectOptions& options) {
  json out = json::object();
  out["file"] = file.path().string();
  out["format"] = std::string(model_format_name(file.format()));
  if (const auto* gguf = dynamic_cast<const GgufFile*>(&file)) {
    out["version"] = gguf->version();
    out["alignment"] = gguf->alignment();
  }
  out["size"] = size;
  if (!options.no_metadata) out["metadata"] = file.metadata();
  json tensors = json::array();
  for (const auto& info : file.tensors())
    tensors.push_back({{"name", info.name},
                       {"dtype", std::string(dtype_name(info.dtype))},
                       {"shape", info.shape},
                       {"parameters", shape_numel(info.shape)}});
  out["tensors"] = std::move(tensors);
  out["parameters"] = total_parameters(file);
  std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

void print_text(const ModelFile& file, uintmax_t size, const InspectOptions& options) {
  std::printf("file:       %s\n", file.path().string().c_str());
  std::printf("format:     %s\n", format_label(file).c_str());
  std::printf("size:       %s (%ju bytes)\n", human_bytes(size).c_str(), size);
  const json& metadata = file.metadata();
  if (!options.no_metadata) {
    std::printf("metadata:   %zu %s\n", metadata.size(),
                metadata.size() == 1 ? "entry" : "entries");
    size_t width = 0;
    for (const auto& [key, value] : metadata.items()) width = std::max(width, key.size());
    width = std::min(width, kMaxNameWidth);
    for (const auto& [key, value] : metadata.items())
      std::printf("  %-*s = %s\n", static_cast<int>(width), key.c_str(),
                  format_value(value, kMaxStringChars).c_str());
  }
  const auto& tensors = file.tensors();
  std::printf("tensors:    %zu\n", tensors.size());
  size_t name_width = 0, dtype_width = 0;
  for (const auto& info : tensors) {
    name_width = std::max(name_width, info.name.size());
    dtype_width = std::max(dtype_width, dtype_name(info.dtype).size());
  }
  name_width = std::min(name_width, kMaxNameWidth);
  for (const auto& info : tensors)
    std::printf("  %-*s  %-*s  %s\n", static_cast<int>(name_width), info.name.c_str(),
                static_cast<int>(dtype_width), std::string(dtype_name(info.dtype)).c_str(),
                shape_str(info.shape).c_str());
  const int64_t total = total_parameters(file);
  std::printf("parameters: %lld (%s)\n", static_cast<long long>(total), human_count(total).c_str());
}

int run_inspect(const InspectOptions& options) {
  const auto file = ModelFile::open(options.file);
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(options.file, ec);
  MMGEN_CHECK(!ec, options.file, ": cannot read the file size: ", ec.message());
  if (options.json_output)
    print_json(*file, size, options);
  else
    print_text(*file, size, options);
  return 0;
}

}  // namespace

Command make_inspect_command() {
  auto options = std::make_shared<InspectOptions>();
  Command command;
  command.attach_fn = [options](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand(
        "inspect",
        "Show what a weight file holds: format, size, metadata and tensors "
        "(safetensors, GGUF or PyTorch checkpoint; detected from the content)");
    self.app->add_option("file", options->file, "Weight file to inspect")->required();
    self.app->add_flag("--json", options->json_output,
                       "Print machine-readable JSON (metadata in full, arrays not abbreviated)");
    self.app->add_flag("--no-metadata", options->no_metadata, "Leave out the metadata");
  };
  command.run = [options] { return run_inspect(*options); };
  return command;
}

}  // namespace mmgen::cli
