// A VITS synthesizer (models.SynthesizerTrn.infer; docs/vits.md): phoneme ids ->
// text encoder -> duration predictor -> frame expansion of the prior ->
// reverse flow -> HiFi-GAN decoder -> waveform. Multi-speaker checkpoints
// (emb_g, gin_channels > 0) condition the duration predictor, the flow and the
// decoder on a speaker embedding. One unpadded sequence per call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "audio/hifigan.h"
#include "audio/vits_config.h"
#include "audio/vits_duration.h"
#include "audio/vits_flow.h"
#include "audio/vits_text_encoder.h"

namespace mmgen::audio {

struct VitsSynthesisOptions {
  float noise_scale = 0.667f;
  float length_scale = 1.0f;
  float noise_scale_w = 0.8f;
  // The two standard normal draws of the reference: dp_noise [1, 2, T_text]
  // and z_noise [1, inter, T_frames]. Undefined ones are drawn from `seed`.
  Tensor dp_noise;
  Tensor z_noise;
  uint64_t seed = 0;
  int64_t speaker_id = 0;  // multi-speaker models only
};

// Every intermediate of one synthesis, named as the reference's variables.
struct VitsSynthesis {
  Tensor enc_x, enc_m_p, enc_logs_p;  // text encoder [1, C, T_text]
  Tensor logw, w_ceil;                // [1, 1, T_text]
  Tensor m_p, logs_p;                 // expanded prior [1, inter, T_frames]
  Tensor z_p, z;                      // prior sample and flow output [1, inter, T_frames]
  Tensor wav;                         // [1, 1, T_frames * hop] in (-1, 1)
};

// Durations (w_ceil: [1, 1, T_text] non-negative integers as f32) -> the
// monotonic alignment (commons.generate_path) [1, 1, frames, T_text]: frame y
// belongs to token x when sum(w[:x]) <= y < sum(w[:x+1]).
Tensor generate_path(const Tensor& w_ceil, int64_t frames);

class Vits {
 public:
  // Tensors named enc_p.*, dp.*, flow.*, dec.* (enc_q.* is ignored), plus emb_g,
  // dp.cond, flow.flows.*.enc.cond_layer and dec.cond for multi-speaker models,
  // optionally under "model_g." or "generator."; weight norm is folded on the
  // host, then the weights are copied once to `device`, where infer runs (the
  // duration rounding, the alignment path and the stochastic duration
  // predictor's spline are small host steps on values brought over). `precision` is
  // the decoder's (Hifigan::load).
  static Vits load(const ModelFile& file, const VitsConfig& config, Device device = Device::cpu(),
                   Precision precision = Precision::kF32);
  static Vits load(const std::filesystem::path& path, const VitsConfig& config,
                   Device device = Device::cpu(), Precision precision = Precision::kF32);

  const VitsConfig& config() const { return config_; }
  Device device() const { return device_; }
  VitsSynthesisOptions default_options() const;

  // ids: [1, T] or [T] phoneme ids (T >= 1). Noise tensors may be on any device.
  // The results live on device() except w_ceil, computed on the host.
  VitsSynthesis infer(const Tensor& ids, const VitsSynthesisOptions& options) const;

 private:
  VitsConfig config_;
  Device device_;
  std::shared_ptr<const VitsTextEncoder> encoder_;
  std::shared_ptr<const VitsDurationPredictor> duration_;
  std::shared_ptr<const VitsFlow> flow_;
  std::shared_ptr<const Hifigan> decoder_;
  // Multi-speaker: the speaker table and dec.cond, whose output (a per-channel
  // constant) the decoder adds right after conv_pre.
  Tensor emb_g_;  // [n_speakers, gin]
  VitsConv dec_cond_;
};

}  // namespace mmgen::audio
