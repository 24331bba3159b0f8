// audio.tts (a piper-style VITS voice speaks text) and audio.vocode (audio
// through its mel spectrogram and a HiFi-GAN vocoder).
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "audio/hifigan.h"
#include "audio/hifigan_config.h"
#include "audio/mel.h"
#include "audio/tts.h"
#include "core/error.h"
#include "core/precision.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "pipelines/phoneme_timings.h"

namespace mmgen::pipelines {
namespace {

namespace fs = std::filesystem;

// The vocoder arithmetic field of audio.tts and audio.vocode.
FieldSpec precision_field() {
  FieldSpec f = text_field("precision",
                           "vocoder arithmetic: \"f32\" (the reference's) or \"bf16\" (bf16 "
                           "products, about five times faster on CPUs with AMX)",
                           "f32");
  f.check = [](const Value& v) {
    MMGEN_CHECK(v.text == "f32" || v.text == "bf16", "must be \"f32\" or \"bf16\", got \"", v.text,
                "\"");
  };
  return f;
}

void run_tts(NodeContext& c) {
  const fs::path model = c.file("model");
  const Precision precision = parse_precision(c.text("precision"), "precision");
  const fs::path voice_json = c.has("config") ? c.file("config") : audio::find_voice_config(model);
  const fs::path vits_json =
      audio::find_vits_config(model, voice_json, c.has("vits_config") ? c.file("vits_config") : "");
  const auto voice = c.models().get<audio::TtsVoice>(
      ModelCache::key(
          "tts", model, c.device(),
          voice_json.string() + "|" + vits_json.string() + "|" + precision_name(precision)),
      [&] {
        return std::make_shared<const audio::TtsVoice>(
            audio::TtsVoice::load(model, voice_json, vits_json, c.device(), precision));
      });
  audio::TtsOptions options = voice->default_options();
  options.speaker = c.integer("speaker");
  if (c.has("length_scale")) options.length_scale = static_cast<float>(c.number("length_scale"));
  if (c.has("noise_scale")) options.noise_scale = static_cast<float>(c.number("noise_scale"));
  if (c.has("noise_w")) options.noise_w = static_cast<float>(c.number("noise_w"));
  options.seed = c.seed("seed");
  voice->check(options);

  const std::map<int64_t, std::string> symbols = phoneme_symbols(*voice);
  PhonemeTimings phonemes;
  int64_t samples_before = 0;
  const double rate = voice->sample_rate();

  // One progress step per sentence; the sentence count is not known up front.
  ProgressCallback progress = c.step_progress();
  const auto started = std::chrono::steady_clock::now();
  const auto on_sentence = [&](const audio::TtsSentence& sentence) {
    append_phoneme_timings(sentence, symbols, static_cast<double>(samples_before) / rate, rate,
                           phonemes);
    samples_before += static_cast<int64_t>(sentence.samples.size());

    ProgressEvent e;
    e.stage = "speaking";
    e.step = sentence.index + 1;
    e.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!progress(e)) c.check_cancelled();
  };
  audio::WavAudio wav;
  wav.sample_rate = voice->sample_rate();
  wav.channels = 1;
  wav.samples = voice->synthesize(c.text("text"), options, on_sentence);
  Value out = Value::of_audio(std::move(wav), {{"seed", std::to_string(options.seed)}});
  out.phonemes = std::make_shared<const PhonemeTimings>(std::move(phonemes));
  c.set_output("audio", std::move(out));
}

FieldSpec scale_field(std::string name, std::string help) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = PortType::kNumber;
  f.help = std::move(help);
  f.optional = true;
  f.min = 0.0;
  f.exclusive_min = true;
  return f;
}

NodeSpec tts_node() {
  NodeSpec s;
  s.type = "audio.tts";
  s.help = "Text to speech with a VITS (piper) voice";
  FieldSpec text = text_field("text", "the text to speak");
  text.non_empty = true;
  s.fields = {
      file_field("model", "VITS generator checkpoint (.safetensors, .pth, .ckpt)"),
      file_field("config", "voice config (default: MODEL.json or MODEL.onnx.json)", true),
      file_field("vits_config", "VITS training config.json (default: as `mmgen tts`)", true),
      text,
      int_field("speaker", "speaker id of a multi-speaker voice", 0, 0),
      scale_field("length_scale", "speaking pace (> 1 is slower; default: the voice's)"),
      scale_field("noise_scale", "prior noise scale (default: the voice's)"),
      scale_field("noise_w", "duration noise scale (default: the voice's)"),
      precision_field(),
      seed_field()};
  s.outputs = {{"audio", PortType::kAudio, "mono speech at the voice's sample rate"}};
  s.run = run_tts;
  return s;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the HiFi-GAN config");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
}

struct Vocoder {
  audio::HifiganConfig config;
  audio::MelSettings mel;
  std::shared_ptr<const audio::Hifigan> model;
};

void run_vocode(NodeContext& c) {
  const fs::path model = c.file("model");
  const Precision precision = parse_precision(c.text("precision"), "precision");
  const fs::path config_path =
      c.has("config") ? c.file("config") : model.parent_path() / "config.json";
  MMGEN_CHECK(fs::exists(config_path), config_path.string(),
              ": HiFi-GAN config not found; give it in the field \"config\"");
  const auto vocoder = c.models().get<Vocoder>(
      ModelCache::key("hifigan", model, c.device(),
                      config_path.string() + "|" + precision_name(precision)),
      [&] {
        const nlohmann::json json = read_json(config_path);
        auto v = std::make_shared<Vocoder>();
        v->config = audio::hifigan_config_from_json(json, config_path.string());
        v->mel = audio::mel_settings_from_json(json, config_path.string());
        v->model = std::make_shared<const audio::Hifigan>(
            audio::Hifigan::load(model, v->config, "", c.device(), precision));
        return std::shared_ptr<const Vocoder>(std::move(v));
      });
  const audio::WavAudio& input = *c.value("audio").audio;
  MMGEN_CHECK(input.sample_rate == vocoder->mel.sampling_rate, "the audio is at ",
              input.sample_rate, " Hz but the vocoder expects ", vocoder->mel.sampling_rate,
              " Hz (", config_path.string(), " sampling_rate)");
  std::vector<float> mono(static_cast<size_t>(input.frames()));
  for (int64_t i = 0; i < input.frames(); ++i) {
    float sum = 0;
    for (int ch = 0; ch < input.channels; ++ch) sum += input.samples[i * input.channels + ch];
    mono[i] = sum / static_cast<float>(input.channels);
  }
  MMGEN_CHECK(!mono.empty(), "the audio has no samples");
  const Tensor spectrogram = audio::mel_spectrogram(
      Tensor::from_vector(mono, {static_cast<int64_t>(mono.size())}), vocoder->mel);
  audio::WavAudio out;
  out.sample_rate = vocoder->mel.sampling_rate;
  out.channels = 1;
  out.samples = vocoder->model->vocode(spectrogram).cpu().to_f32_vector();
  c.set_output("audio", Value::of_audio(std::move(out), c.value("audio").metadata));
}

NodeSpec vocode_node() {
  NodeSpec s;
  s.type = "audio.vocode";
  s.help = "Audio resynthesised through its mel spectrogram and a HiFi-GAN vocoder";
  s.fields = {
      file_field("model", "HiFi-GAN generator checkpoint"),
      file_field("config", "HiFi-GAN config.json (default: config.json beside the model)", true),
      port_field("audio", PortType::kAudio, "audio at the config's sampling_rate"),
      precision_field()};
  s.outputs = {{"audio", PortType::kAudio, "the resynthesised audio"}};
  s.run = run_vocode;
  return s;
}

}  // namespace

void add_audio_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(tts_node());
  specs.push_back(vocode_node());
}

}  // namespace mmgen::pipelines
