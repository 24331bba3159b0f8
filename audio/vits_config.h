// The hyperparameters of a VITS synthesizer (SynthesizerTrn; docs/vits.md): the
// "model" and "data" blocks of its training config.json, plus the defaults of a
// piper voice's .onnx.json ("inference": noise_scale, length_scale, noise_w).
// Sizes the config does not state are the reference's fixed values.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "audio/hifigan_config.h"

namespace mmgen::audio {

// Sampling settings of SynthesizerTrn.infer.
struct VitsInferenceDefaults {
  float noise_scale = 0.667f;  // scales the prior noise (z_p)
  float length_scale = 1.0f;   // > 1 speaks slower
  float noise_scale_w = 0.8f;  // scales the duration predictor's noise (piper's noise_w)
};

struct VitsConfig {
  int n_vocab = 256;
  int inter_channels = 192;
  int hidden_channels = 192;
  int filter_channels = 768;  // text encoder FFN
  int n_heads = 2;
  int n_layers = 6;
  int kernel_size = 3;  // text encoder FFN kernel (odd)
  int window_size = 4;  // relative attention window of the text encoder
  bool use_sdp = true;  // stochastic (flow) duration predictor, else the deterministic one
  int n_speakers = 0;
  int gin_channels = 0;
  // Residual coupling flow (fixed in the reference).
  int flow_n_flows = 4;
  int flow_kernel_size = 5;
  int flow_dilation_rate = 1;
  int flow_n_layers = 4;
  // Stochastic duration predictor (fixed in the reference); its filter channels
  // are read from the checkpoint.
  int sdp_kernel_size = 3;
  int sdp_n_flows = 4;
  int sdp_ddsconv_layers = 3;
  int num_bins = 10;
  float tail_bound = 5.0f;
  int sample_rate = 22050;
  HifiganConfig decoder;  // "dec.*": num_mels is inter_channels
  VitsInferenceDefaults inference;
};

// Reads a training config.json object ({"data": {...}, "model": {...}}, or the
// model block alone); `where` names the source in errors. Missing optional
// fields keep the reference defaults.
VitsConfig vits_config_from_json(const nlohmann::json& json, const std::string& where);
// Applies a piper voice .onnx.json: "inference" defaults, "audio.sample_rate",
// "num_symbols", "num_speakers".
void apply_piper_voice(VitsConfig& config, const nlohmann::json& voice, const std::string& where);
// Either path may be empty (the other's values and the defaults are used).
VitsConfig load_vits_config(const std::filesystem::path& config_json,
                            const std::filesystem::path& voice_json = {});

// Throws Error naming `where` and the field for values out of range.
void validate(const VitsConfig& config, const std::string& where);

}  // namespace mmgen::audio
