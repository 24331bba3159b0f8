// The hyperparameters of a HiFi-GAN generator, as its training config.json
// (jik876/hifi-gan's config_v1.json and relatives) states them, plus the mel
// front end settings the same file holds.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audio/mel.h"

namespace mmgen::audio {

struct HifiganConfig {
  int resblock = 1;  // "1" (ResBlock1: dilated + plain conv pairs) or "2" (single dilated convs)
  std::vector<int> upsample_rates;
  std::vector<int> upsample_kernel_sizes;
  int upsample_initial_channel = 0;
  std::vector<int> resblock_kernel_sizes;
  std::vector<std::vector<int>> resblock_dilation_sizes;
  int num_mels = 80;  // channels of the input (conv_pre's in_channels)
  // The reference's LRELU_SLOPE inside the network, and F.leaky_relu's default
  // slope before conv_post. config.json does not hold them; "lrelu_slope" and
  // "final_lrelu_slope" keys override them.
  float lrelu_slope = 0.1f;
  float final_lrelu_slope = 0.01f;

  // Output samples per input frame: the product of the upsample rates.
  int hop_length() const;
  // Channels after upsampling stage `stage` (0-based): initial / 2^(stage + 1).
  int stage_channels(int stage) const;
};

// Reads the generator fields of a config.json object; `where` names the source
// in errors. A "hop_size" field must equal the product of the upsample rates.
HifiganConfig hifigan_config_from_json(const nlohmann::json& json, const std::string& where);
HifiganConfig load_hifigan_config(const std::filesystem::path& path);

// The mel front end fields of the same config.json (n_fft, num_mels, hop_size,
// win_size, sampling_rate, fmin, fmax; fmax null means sampling_rate / 2).
MelSettings mel_settings_from_json(const nlohmann::json& json, const std::string& where);

// Throws Error naming `where` and the field when a value is out of range or the
// lists disagree in length.
void validate(const HifiganConfig& config, const std::string& where);

}  // namespace mmgen::audio
