#include "diffusion/png_parameters.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mmgen::diffusion {

std::string PngParameters::field(const std::string& key) const {
  for (const auto& [name, value] : fields)
    if (name == key) return value;
  return "";
}

std::string quote_parameter_value(std::string_view value) {
  if (value.find_first_of(",:\n") == std::string_view::npos) return std::string(value);
  // Non-ASCII stays as UTF-8 (Python's json.dumps with ensure_ascii=False).
  return nlohmann::json(std::string(value))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string format_png_parameters(const PngParameters& p) {
  std::string out = p.prompt + "\n";
  if (!p.negative_prompt.empty()) out += "Negative prompt: " + p.negative_prompt + "\n";
  for (size_t i = 0; i < p.fields.size(); ++i) {
    out += (i ? ", " : "") + p.fields[i].first + ": " + quote_parameter_value(p.fields[i].second);
  }
  return out;
}

namespace {

// "Key: value, Key: "quoted, value", ..." -> pairs.
std::vector<std::pair<std::string, std::string>> parse_fields(std::string_view line) {
  std::vector<std::pair<std::string, std::string>> fields;
  size_t i = 0;
  const auto skip_spaces = [&] {
    while (i < line.size() && line[i] == ' ') ++i;
  };
  while (true) {
    skip_spaces();
    if (i >= line.size()) break;
    const size_t colon = line.find(':', i);
    MMGEN_CHECK(colon != std::string_view::npos, "image parameters: expected 'Key: value' at '",
                line.substr(i), "'");
    std::string key(line.substr(i, colon - i));
    i = colon + 1;
    skip_spaces();
    std::string value;
    if (i < line.size() && line[i] == '"') {
      size_t end = i + 1;
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      MMGEN_CHECK(end < line.size(), "image parameters: unterminated quoted value of '", key, "'");
      try {
        value = nlohmann::json::parse(line.substr(i, end - i + 1)).get<std::string>();
      } catch (const nlohmann::json::exception&) {
        fail("image parameters: malformed quoted value of '", key, "'");
      }
      i = end + 1;
      skip_spaces();
      MMGEN_CHECK(i >= line.size() || line[i] == ',',
                  "image parameters: expected ',' after the value of '", key, "'");
    } else {
      const size_t comma = line.find(',', i);
      const size_t end = comma == std::string_view::npos ? line.size() : comma;
      value = std::string(line.substr(i, end - i));
      while (!value.empty() && value.back() == ' ') value.pop_back();
      i = end;
    }
    fields.emplace_back(std::move(key), std::move(value));
    if (i < line.size()) ++i;  // the comma
  }
  return fields;
}

}  // namespace

PngParameters parse_png_parameters(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const size_t last = text.rfind('\n');
  MMGEN_CHECK(last != std::string_view::npos,
              "image parameters: expected a prompt line and a settings line");
  PngParameters p;
  p.fields = parse_fields(text.substr(last + 1));
  const std::string_view head = text.substr(0, last);
  constexpr std::string_view kNegative = "Negative prompt: ";
  size_t negative = std::string_view::npos;
  if (head.substr(0, kNegative.size()) == kNegative)
    negative = 0;
  else if (const size_t at = head.find(std::string("\n") + std::string(kNegative));
           at != std::string_view::npos)
    negative = at + 1;
  if (negative == std::string_view::npos) {
    p.prompt = std::string(head);
  } else {
    p.prompt = std::string(head.substr(0, negative == 0 ? 0 : negative - 1));
    p.negative_prompt = std::string(head.substr(negative + kNegative.size()));
  }
  return p;
}

std::string model_hash(const std::string& sha256_hex) { return sha256_hex.substr(0, 10); }

std::string model_name(const std::filesystem::path& model) {
  const std::filesystem::path path = model.lexically_normal();
  if (!std::filesystem::is_directory(path)) return path.stem().string();
  return (path.has_filename() ? path : path.parent_path()).filename().string();
}

}  // namespace mmgen::diffusion
