#include "audio/hifigan_config.h"

#include <fstream>

#include "core/error.h"

namespace mmgen::audio {

namespace {

const nlohmann::json& field(const nlohmann::json& json, const std::string& name,
                            const std::string& where) {
  MMGEN_CHECK(json.contains(name), where, ": field '", name, "' is missing");
  return json.at(name);
}

int integer(const nlohmann::json& json, const std::string& name, const std::string& where) {
  const auto& value = field(json, name, where);
  MMGEN_CHECK(value.is_number_integer(), where, ": field '", name, "' must be an integer, got ",
              value.dump());
  return value.get<int>();
}

double number(const nlohmann::json& json, const std::string& name, const std::string& where) {
  const auto& value = field(json, name, where);
  MMGEN_CHECK(value.is_number(), where, ": field '", name, "' must be a number, got ",
              value.dump());
  return value.get<double>();
}

std::vector<int> integer_values(const nlohmann::json& value, const std::string& name,
                                const std::string& where) {
  MMGEN_CHECK(value.is_array(), where, ": field '", name, "' must be a list of integers, got ",
              value.dump());
  std::vector<int> out;
  for (const auto& item : value) {
    MMGEN_CHECK(item.is_number_integer(), where, ": field '", name,
                "' must be a list of integers, got ", value.dump());
    out.push_back(item.get<int>());
  }
  return out;
}

std::vector<int> integer_list(const nlohmann::json& json, const std::string& name,
                              const std::string& where) {
  return integer_values(field(json, name, where), name, where);
}

}  // namespace

int HifiganConfig::hop_length() const {
  int hop = 1;
  for (int rate : upsample_rates) hop *= rate;
  return hop;
}

int HifiganConfig::stage_channels(int stage) const {
  return upsample_initial_channel >> (stage + 1);
}

void validate(const HifiganConfig& c, const std::string& where) {
  MMGEN_CHECK(c.resblock == 1 || c.resblock == 2, where,
              ": 'resblock' must be \"1\" or \"2\", got ", c.resblock);
  MMGEN_CHECK(!c.upsample_rates.empty(), where, ": 'upsample_rates' is empty");
  MMGEN_CHECK(c.upsample_kernel_sizes.size() == c.upsample_rates.size(), where,
              ": 'upsample_kernel_sizes' has ", c.upsample_kernel_sizes.size(),
              " entries, 'upsample_rates' ", c.upsample_rates.size());
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    const int rate = c.upsample_rates[i], kernel = c.upsample_kernel_sizes[i];
    MMGEN_CHECK(rate >= 1 && kernel >= rate && (kernel - rate) % 2 == 0, where, ": upsample stage ",
                i, " needs rate >= 1 and an even kernel - rate >= 0, got rate ", rate, ", kernel ",
                kernel);
  }
  const int stages = static_cast<int>(c.upsample_rates.size());
  MMGEN_CHECK(c.upsample_initial_channel >= 1 && c.upsample_initial_channel % (1 << stages) == 0,
              where, ": 'upsample_initial_channel' ", c.upsample_initial_channel,
              " must be a positive multiple of 2^", stages);
  MMGEN_CHECK(!c.resblock_kernel_sizes.empty(), where, ": 'resblock_kernel_sizes' is empty");
  MMGEN_CHECK(c.resblock_dilation_sizes.size() == c.resblock_kernel_sizes.size(), where,
              ": 'resblock_dilation_sizes' has ", c.resblock_dilation_sizes.size(),
              " entries, 'resblock_kernel_sizes' ", c.resblock_kernel_sizes.size());
  for (size_t j = 0; j < c.resblock_kernel_sizes.size(); ++j) {
    const int kernel = c.resblock_kernel_sizes[j];
    MMGEN_CHECK(kernel >= 1 && kernel % 2 == 1, where, ": resblock kernel size ", kernel,
                " must be odd and positive");
    const auto& dilations = c.resblock_dilation_sizes[j];
    const size_t expected = c.resblock == 1 ? 3 : 2;
    MMGEN_CHECK(dilations.size() == expected, where, ": resblock ", j, " of type ", c.resblock,
                " needs ", expected, " dilations, got ", dilations.size());
    for (int d : dilations) {
      MMGEN_CHECK(d >= 1, where, ": resblock ", j, " has dilation ", d, ", must be positive");
    }
  }
  MMGEN_CHECK(c.num_mels >= 1, where, ": 'num_mels' must be positive, got ", c.num_mels);
}

HifiganConfig hifigan_config_from_json(const nlohmann::json& json, const std::string& where) {
  MMGEN_CHECK(json.is_object(), where, ": a HiFi-GAN config must be a JSON object");
  HifiganConfig c;
  const auto& resblock = field(json, "resblock", where);
  if (resblock.is_string()) {
    const auto text = resblock.get<std::string>();
    MMGEN_CHECK(text == "1" || text == "2", where, ": 'resblock' must be \"1\" or \"2\", got \"",
                text, "\"");
    c.resblock = text == "1" ? 1 : 2;
  } else {
    MMGEN_CHECK(resblock.is_number_integer(), where, ": 'resblock' must be \"1\" or \"2\", got ",
                resblock.dump());
    c.resblock = resblock.get<int>();
  }
  c.upsample_rates = integer_list(json, "upsample_rates", where);
  c.upsample_kernel_sizes = integer_list(json, "upsample_kernel_sizes", where);
  c.upsample_initial_channel = integer(json, "upsample_initial_channel", where);
  c.resblock_kernel_sizes = integer_list(json, "resblock_kernel_sizes", where);
  const auto& dilations = field(json, "resblock_dilation_sizes", where);
  MMGEN_CHECK(dilations.is_array(), where,
              ": field 'resblock_dilation_sizes' must be a list of lists of integers");
  for (const auto& item : dilations) {
    c.resblock_dilation_sizes.push_back(integer_values(item, "resblock_dilation_sizes", where));
  }
  if (json.contains("num_mels")) c.num_mels = integer(json, "num_mels", where);
  if (json.contains("lrelu_slope")) {
    c.lrelu_slope = static_cast<float>(number(json, "lrelu_slope", where));
  }
  if (json.contains("final_lrelu_slope")) {
    c.final_lrelu_slope = static_cast<float>(number(json, "final_lrelu_slope", where));
  }
  validate(c, where);
  if (json.contains("hop_size")) {
    const int hop = integer(json, "hop_size", where);
    MMGEN_CHECK(hop == c.hop_length(), where, ": 'hop_size' ", hop,
                " differs from the product of 'upsample_rates' ", c.hop_length());
  }
  return c;
}

HifiganConfig load_hifigan_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  MMGEN_CHECK(in.good(), path.string(), ": cannot be read");
  nlohmann::json json;
  try {
    in >> json;
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
  return hifigan_config_from_json(json, path.string());
}

MelSettings mel_settings_from_json(const nlohmann::json& json, const std::string& where) {
  MMGEN_CHECK(json.is_object(), where, ": a mel config must be a JSON object");
  MelSettings s;
  s.n_fft = integer(json, "n_fft", where);
  s.num_mels = integer(json, "num_mels", where);
  s.hop_size = integer(json, "hop_size", where);
  s.win_size = integer(json, "win_size", where);
  s.sampling_rate = integer(json, "sampling_rate", where);
  s.fmin = number(json, "fmin", where);
  const auto& fmax = field(json, "fmax", where);
  s.fmax = fmax.is_null() ? s.sampling_rate / 2.0 : number(json, "fmax", where);
  try {
    validate(s);
  } catch (const Error& e) {
    fail(where, ": ", e.what());
  }
  return s;
}

}  // namespace mmgen::audio
