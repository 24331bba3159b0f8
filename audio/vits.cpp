#include "audio/vits.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace ops = mmgen::kernels;

namespace {

Tensor normal_noise(const Shape& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(shape_numel(shape));
  for (float& v : values) v = normal(rng);
  return Tensor::from_vector(values, shape);
}

}  // namespace

Tensor generate_path(const Tensor& w_ceil, int64_t frames) {
  MMGEN_CHECK(w_ceil.defined() && w_ceil.ndim() == 3 && w_ceil.dim(0) == 1 && w_ceil.dim(1) == 1,
              "generate_path: durations must be [1, 1, T], got ",
              w_ceil.defined() ? w_ceil.str() : std::string("nothing"));
  MMGEN_CHECK(frames >= 0, "generate_path: frames must not be negative, got ", frames);
  const std::vector<float> w = w_ceil.to_f32_vector();
  const auto tokens = static_cast<int64_t>(w.size());
  std::vector<float> path(static_cast<size_t>(frames * tokens), 0.0f);
  int64_t start = 0;
  for (int64_t x = 0; x < tokens; ++x) {
    MMGEN_CHECK(w[x] >= 0 && std::floor(w[x]) == w[x], "generate_path: duration ", x, " is ", w[x],
                ", expected a non-negative integer");
    const auto end = start + static_cast<int64_t>(w[x]);
    for (int64_t y = start; y < std::min(end, frames); ++y) path[y * tokens + x] = 1.0f;
    start = end;
  }
  return Tensor::from_vector(path, {1, 1, frames, tokens});
}

Vits Vits::load(const std::filesystem::path& path, const VitsConfig& config, Device device,
                Precision precision) {
  const auto file = ModelFile::open(path);
  return load(*file, config, device, precision);
}

Vits Vits::load(const ModelFile& file, const VitsConfig& config, Device device,
                Precision precision) {
  validate(config, file.path().string() + " (config)");
  const std::string prefix = detect_vits_prefix(file);
  const bool speakers = config.n_speakers > 0;
  MMGEN_CHECK(speakers == file.contains(prefix + "emb_g.weight"), file.path().string(),
              speakers ? ": the config has " + std::to_string(config.n_speakers) +
                             " speakers but the checkpoint has no '" + prefix + "emb_g.weight'"
                       : ": the checkpoint has speaker embeddings '" + prefix +
                             "emb_g.weight' but the config has no speakers (n_speakers 0)");
  MMGEN_CHECK(speakers == (config.gin_channels > 0), file.path().string(),
              ": multi-speaker models need gin_channels > 0 and single-speaker ones 0, got ",
              "n_speakers ", config.n_speakers, ", gin_channels ", config.gin_channels);
  const VitsWeights weights(file, prefix, device);
  Vits vits;
  vits.config_ = config;
  vits.device_ = device;
  vits.encoder_ = std::make_shared<VitsTextEncoder>(VitsTextEncoder::load(weights, config));
  vits.duration_ =
      std::make_shared<VitsDurationPredictor>(VitsDurationPredictor::load(weights, config));
  vits.flow_ = std::make_shared<VitsFlow>(VitsFlow::load(weights, config));
  vits.decoder_ = std::make_shared<Hifigan>(
      Hifigan::load(file, config.decoder, prefix + "dec.", device, precision));
  if (speakers) {
    vits.emb_g_ = weights.tensor("emb_g.weight", {config.n_speakers, config.gin_channels});
    vits.dec_cond_ =
        weights.conv("dec.cond", config.decoder.upsample_initial_channel, config.gin_channels, 1);
  }
  return vits;
}

VitsSynthesisOptions Vits::default_options() const {
  VitsSynthesisOptions options;
  options.noise_scale = config_.inference.noise_scale;
  options.length_scale = config_.inference.length_scale;
  options.noise_scale_w = config_.inference.noise_scale_w;
  return options;
}

VitsSynthesis Vits::infer(const Tensor& ids, const VitsSynthesisOptions& options) const {
  MMGEN_CHECK(ids.defined() && ids.numel() >= 1, "VITS: the phoneme id sequence is empty");
  MMGEN_CHECK(options.length_scale > 0, "VITS: length_scale must be positive, got ",
              options.length_scale);
  Tensor g;  // the speaker embedding [1, gin, 1]
  if (emb_g_.defined()) {
    MMGEN_CHECK(options.speaker_id >= 0 && options.speaker_id < config_.n_speakers,
                "VITS: speaker id ", options.speaker_id, " is outside [0, ", config_.n_speakers,
                ")");
    g = emb_g_.narrow(0, options.speaker_id, 1).reshape({1, config_.gin_channels, 1});
  }
  VitsSynthesis out;
  const VitsTextEncoding encoding = encoder_->forward(ids);
  out.enc_x = encoding.x;
  out.enc_m_p = encoding.m_p;
  out.enc_logs_p = encoding.logs_p;
  const int64_t tokens = encoding.x.dim(2);

  Tensor dp_noise = options.dp_noise;
  if (config_.use_sdp && !dp_noise.defined()) dp_noise = normal_noise({1, 2, tokens}, options.seed);
  out.logw = duration_->logw(encoding.x, dp_noise, options.noise_scale_w, g);

  // w = exp(logw) * length_scale, rounded up to whole frames on the host.
  std::vector<float> w = ops::exp(out.logw).to_f32_vector();
  int64_t frames = 0;
  for (float& value : w) {
    value = std::ceil(value * options.length_scale);
    frames += static_cast<int64_t>(value);
  }
  frames = std::max<int64_t>(frames, 1);
  out.w_ceil = Tensor::from_vector(w, {1, 1, tokens});

  // Expand the prior to frames: [C, T_text] x path^T -> [C, frames].
  const Tensor path = generate_path(out.w_ceil, frames).reshape({frames, tokens}).to(device_);
  const int64_t inter = config_.inter_channels;
  out.m_p = ops::matmul(encoding.m_p.reshape({inter, tokens}), path, false, true)
                .reshape({1, inter, frames});
  out.logs_p = ops::matmul(encoding.logs_p.reshape({inter, tokens}), path, false, true)
                   .reshape({1, inter, frames});

  Tensor z_noise = options.z_noise;
  if (!z_noise.defined()) z_noise = normal_noise({1, inter, frames}, options.seed + 1);
  MMGEN_CHECK(z_noise.shape() == Shape({1, inter, frames}), "VITS: z_noise must be [1, ", inter,
              ", ", frames, "] for these durations, got ", z_noise.str());
  if (z_noise.dtype() != DType::kF32) z_noise = z_noise.cpu().to(DType::kF32);
  z_noise = z_noise.to(device_);
  out.z_p =
      ops::add(out.m_p, ops::scale(ops::mul(z_noise, ops::exp(out.logs_p)), options.noise_scale));
  out.z = flow_->reverse(out.z_p, g);
  out.wav = decoder_->vocode(out.z, g.defined() ? dec_cond_(g) : Tensor());
  return out;
}

}  // namespace mmgen::audio
