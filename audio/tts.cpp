#include "audio/tts.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "audio/phoneme_ids.h"
#include "audio/phonemizer.h"
#include "audio/vits_modules.h"
#include "core/error.h"
#include "core/random.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace fs = std::filesystem;
namespace ops = mmgen::kernels;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Standard normal noise from Philox stream (seed, stream), drawn on the host
// (the same numbers on every device) and copied to `device`.
Tensor philox_normal(const Shape& shape, uint64_t seed, uint64_t stream, Device device) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  fill_normal(t.typed_data<float>(), t.numel(), seed, stream);
  return t.to(device);
}

// Device work is queued asynchronously: a stage's time counts only once its
// output is ready, which a one-value copy to the host waits for.
void wait_for(const Tensor& t) {
  if (t.defined() && t.device().is_cuda() && t.numel() > 0)
    (void)t.reshape({-1}).narrow(0, 0, 1).cpu();
}

bool has_model_block(const fs::path& json_path) {
  std::ifstream in(json_path);
  if (!in) return false;
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("model") && json["model"].is_object();
}

}  // namespace

fs::path find_voice_config(const fs::path& model) {
  const fs::path beside = model.string() + ".json";
  if (fs::exists(beside)) return beside;
  fs::path onnx = model;
  onnx.replace_extension(".onnx.json");
  if (fs::exists(onnx)) return onnx;
  fail("no voice config for ", model.string(), ": looked for ", beside.string(), " and ",
       onnx.string(), "; give it with -c");
}

fs::path find_vits_config(const fs::path& model, const fs::path& voice_config,
                          const fs::path& explicit_path) {
  if (!explicit_path.empty()) {
    MMGEN_CHECK(fs::exists(explicit_path), explicit_path.string(), ": VITS config not found");
    return explicit_path;
  }
  if (has_model_block(voice_config)) return voice_config;
  const fs::path training = model.parent_path() / "config.json";
  if (fs::exists(training) && has_model_block(training)) return training;
  return {};
}

TtsVoice TtsVoice::load(const fs::path& model, const fs::path& voice_config,
                        const fs::path& vits_config, Device device, Precision precision) {
  MMGEN_CHECK(fs::exists(model), model.string(), ": model file not found");
  TtsVoice voice;
  voice.device_ = device;
  voice.voice_ = load_piper_voice_config(voice_config);
  voice.config_ = load_vits_config(vits_config, voice_config);
  const auto file = ModelFile::open(model);
  const std::string prefix = detect_vits_prefix(*file);
  const VitsWeights weights(*file, prefix, device);
  voice.encoder_ = std::make_shared<VitsTextEncoder>(VitsTextEncoder::load(weights, voice.config_));
  voice.duration_ =
      std::make_shared<VitsDurationPredictor>(VitsDurationPredictor::load(weights, voice.config_));
  if (voice.config_.n_speakers > 0) {
    // The speaker-conditioned decoder is built per call inside Vits.
    voice.vits_ = std::make_shared<Vits>(Vits::load(*file, voice.config_, device, precision));
    voice.emb_g_ =
        weights.tensor("emb_g.weight", {voice.config_.n_speakers, voice.config_.gin_channels});
  } else {
    voice.flow_ = std::make_shared<VitsFlow>(VitsFlow::load(weights, voice.config_));
    voice.decoder_ = std::make_shared<Hifigan>(
        Hifigan::load(*file, voice.config_.decoder, prefix + "dec.", device, precision));
  }
  return voice;
}

int64_t TtsVoice::num_speakers() const { return config_.n_speakers > 0 ? config_.n_speakers : 1; }

TtsOptions TtsVoice::default_options() const {
  TtsOptions options;
  options.length_scale = voice_.length_scale;
  options.noise_scale = voice_.noise_scale;
  options.noise_w = voice_.noise_w;
  return options;
}

void TtsVoice::check(const TtsOptions& options) const {
  MMGEN_CHECK(options.speaker >= 0 && options.speaker < num_speakers(), "speaker ", options.speaker,
              " is out of range: the voice ", voice_.path.string(), " has ", num_speakers(),
              num_speakers() == 1 ? " speaker (id 0)" : " speakers (ids 0 to ",
              num_speakers() == 1 ? std::string() : std::to_string(num_speakers() - 1) + ")");
  MMGEN_CHECK(options.length_scale > 0 && std::isfinite(options.length_scale),
              "length scale must be positive, got ", options.length_scale);
  MMGEN_CHECK(options.noise_scale >= 0 && std::isfinite(options.noise_scale),
              "noise scale must not be negative, got ", options.noise_scale);
  MMGEN_CHECK(options.noise_w >= 0 && std::isfinite(options.noise_w),
              "noise_w must not be negative, got ", options.noise_w);
}

TtsSentence TtsVoice::synthesize_ids(const std::vector<int64_t>& ids, int index,
                                     const TtsOptions& options, TtsStageTimes* times) const {
  check(options);
  MMGEN_CHECK(!ids.empty(), "the phoneme id sequence is empty");
  TtsStageTimes local;
  TtsSentence sentence;
  sentence.index = index;
  sentence.ids = ids;
  const auto tokens = static_cast<int64_t>(ids.size());
  const Tensor id_tensor = Tensor::from_vector(ids, {1, tokens});
  Tensor g;
  if (emb_g_.defined())
    g = emb_g_.narrow(0, options.speaker, 1).reshape({1, config_.gin_channels, 1});

  const bool timed = times != nullptr;
  auto start = Clock::now();
  const VitsTextEncoding encoding = encoder_->forward(id_tensor);
  if (timed) wait_for(encoding.logs_p);
  local.encoder = seconds_since(start);

  start = Clock::now();
  const uint64_t stream = 2 * static_cast<uint64_t>(index);
  const Tensor dp_noise = philox_normal({1, 2, tokens}, options.seed, stream, device_);
  const Tensor logw = duration_->logw(encoding.x, dp_noise, options.noise_w, g);
  // Durations are rounded on the host (the copy waits for the device).
  std::vector<float> w = ops::exp(logw).to_f32_vector();
  int64_t frames = 0;
  for (float& value : w) {
    value = std::ceil(value * options.length_scale);
    frames += static_cast<int64_t>(value);
  }
  frames = std::max<int64_t>(frames, 1);
  local.duration = seconds_since(start);
  sentence.frames = frames;
  sentence.durations.reserve(w.size());
  for (const float value : w) sentence.durations.push_back(static_cast<int64_t>(value));
  const int64_t inter = config_.inter_channels;
  const Tensor z_noise = philox_normal({1, inter, frames}, options.seed, stream + 1, device_);

  Tensor wav;
  if (vits_) {
    // Multi-speaker: the same draws through Vits::infer, whose decoder carries
    // the speaker conditioning; its time is counted as the decoder's.
    start = Clock::now();
    VitsSynthesisOptions vits_options;
    vits_options.noise_scale = options.noise_scale;
    vits_options.length_scale = options.length_scale;
    vits_options.noise_scale_w = options.noise_w;
    vits_options.dp_noise = dp_noise;
    vits_options.z_noise = z_noise;
    vits_options.speaker_id = options.speaker;
    wav = vits_->infer(id_tensor, vits_options).wav;
    if (timed) wait_for(wav);
    local.decoder = seconds_since(start);
  } else {
    start = Clock::now();
    const Tensor path = generate_path(Tensor::from_vector(w, {1, 1, tokens}), frames)
                            .reshape({frames, tokens})
                            .to(device_);
    const Tensor m_p = ops::matmul(encoding.m_p.reshape({inter, tokens}), path, false, true)
                           .reshape({1, inter, frames});
    const Tensor logs_p = ops::matmul(encoding.logs_p.reshape({inter, tokens}), path, false, true)
                              .reshape({1, inter, frames});
    const Tensor z_p =
        ops::add(m_p, ops::scale(ops::mul(z_noise, ops::exp(logs_p)), options.noise_scale));
    const Tensor z = flow_->reverse(z_p, g);
    if (timed) wait_for(z);
    local.flow = seconds_since(start);
    start = Clock::now();
    wav = decoder_->vocode(z);
    if (timed) wait_for(wav);
    local.decoder = seconds_since(start);
  }
  sentence.samples = wav.to_f32_vector();
  if (times) {
    times->encoder += local.encoder;
    times->duration += local.duration;
    times->flow += local.flow;
    times->decoder += local.decoder;
  }
  return sentence;
}

std::vector<float> TtsVoice::synthesize(std::string_view text, const TtsOptions& options,
                                        const TtsSentenceCallback& on_sentence,
                                        TtsStageTimes* times) const {
  check(options);
  auto start = Clock::now();
  const std::vector<Phonemes> sentences = phonemize(text, voice_.espeak_voice);
  MMGEN_CHECK(!sentences.empty(), "the text has nothing to speak (no phonemes)");
  std::vector<std::vector<int64_t>> ids;
  for (const Phonemes& phonemes : sentences)
    ids.push_back(phonemes_to_ids(phonemes, voice_.phoneme_id_map));
  if (times) times->phonemize += seconds_since(start);

  std::vector<float> audio;
  for (size_t i = 0; i < sentences.size(); ++i) {
    TtsSentence sentence = synthesize_ids(ids[i], static_cast<int>(i), options, times);
    sentence.phonemes = join_phonemes(sentences[i]);
    audio.insert(audio.end(), sentence.samples.begin(), sentence.samples.end());
    if (on_sentence) on_sentence(sentence);
  }
  return audio;
}

}  // namespace mmgen::audio
