// Text to speech with a piper-style voice (docs/tts.md): a VITS generator
// checkpoint, the voice config (.onnx.json: espeak voice, phoneme_id_map,
// sample rate, inference defaults) and the espeak-ng phonemizer. Text is split
// into sentences, each becomes phoneme ids and then audio; the stochastic parts
// (duration noise, prior noise) draw from the Philox streams of core/random.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audio/hifigan.h"
#include "audio/piper_voice.h"
#include "audio/vits.h"
#include "audio/vits_config.h"
#include "audio/vits_duration.h"
#include "audio/vits_flow.h"
#include "audio/vits_text_encoder.h"

namespace mmgen::audio {

// The voice config of a checkpoint: `model` + ".json" when it exists, else
// `model` with its extension replaced by ".onnx.json" (piper's model.onnx +
// model.onnx.json). Throws Error naming both candidates when neither exists.
std::filesystem::path find_voice_config(const std::filesystem::path& model);

// The VITS hyperparameters: `explicit_path` when given; else the voice config
// itself when it has a "model" block; else "config.json" beside the model (a
// piper training folder) when it exists; else empty (the reference's sizes,
// which are those of a piper "medium" voice).
std::filesystem::path find_vits_config(const std::filesystem::path& model,
                                       const std::filesystem::path& voice_config,
                                       const std::filesystem::path& explicit_path = {});

struct TtsOptions {
  int64_t speaker = 0;
  float length_scale = 1.0f;
  float noise_scale = 0.667f;
  float noise_w = 0.8f;
  uint64_t seed = 0;
};

// Seconds spent in each stage (summed over sentences).
struct TtsStageTimes {
  double phonemize = 0, encoder = 0, duration = 0, flow = 0, decoder = 0;
  double total() const { return phonemize + encoder + duration + flow + decoder; }
};

// One synthesised sentence.
struct TtsSentence {
  int index = 0;               // 0-based position in the text
  std::string phonemes;        // UTF-8 IPA
  std::vector<int64_t> ids;    // phoneme ids given to the model
  int64_t frames = 0;          // sum of the durations
  // Frames each phoneme id lasts (same length as ids); a frame is
  // samples.size() / frames audio samples (the decoder's hop).
  std::vector<int64_t> durations;
  std::vector<float> samples;  // mono, frames * hop samples in (-1, 1)
};

// Called after each sentence, in order (for streaming output).
using TtsSentenceCallback = std::function<void(const TtsSentence&)>;

class TtsVoice {
 public:
  // `voice_config` and `vits_config` as found by the functions above (an empty
  // vits_config uses the reference sizes). Throws Error for a voice config
  // without phoneme_id_map, an espeak voice espeak-ng lacks, or a checkpoint
  // that does not match the config. The model's weights go once to `device`,
  // where synthesis runs (phonemization and the small scalar steps stay on the host).
  // `precision` is the decoder's (Hifigan::load): bf16 runs about five times faster on
  // CPUs with AMX (docs/tts.md).
  static TtsVoice load(const std::filesystem::path& model,
                       const std::filesystem::path& voice_config,
                       const std::filesystem::path& vits_config = {}, Device device = Device::cpu(),
                       Precision precision = Precision::kF32);

  const PiperVoiceConfig& voice() const { return voice_; }
  Device device() const { return device_; }
  const VitsConfig& config() const { return config_; }
  int sample_rate() const { return voice_.sample_rate; }
  // Speakers the voice offers (1 for single-speaker voices).
  int64_t num_speakers() const;
  // The voice config's inference defaults, speaker 0, seed 0.
  TtsOptions default_options() const;
  // Throws Error for a speaker outside [0, num_speakers()) or non-positive scales.
  void check(const TtsOptions& options) const;

  // Text -> audio of all sentences concatenated. Throws Error for empty text.
  std::vector<float> synthesize(std::string_view text, const TtsOptions& options,
                                const TtsSentenceCallback& on_sentence = {},
                                TtsStageTimes* times = nullptr) const;

  // One sentence's phoneme ids -> audio; `index` selects its noise streams
  // (2 index for the duration noise, 2 index + 1 for the prior noise). With
  // `times`, each stage waits for the device to finish before it is timed.
  TtsSentence synthesize_ids(const std::vector<int64_t>& ids, int index, const TtsOptions& options,
                             TtsStageTimes* times = nullptr) const;

 private:
  PiperVoiceConfig voice_;
  VitsConfig config_;
  Device device_;
  std::shared_ptr<const VitsTextEncoder> encoder_;
  std::shared_ptr<const VitsDurationPredictor> duration_;
  std::shared_ptr<const VitsFlow> flow_;
  std::shared_ptr<const Hifigan> decoder_;  // single-speaker voices
  std::shared_ptr<const Vits> vits_;        // multi-speaker voices (speaker-conditioned decoder)
  Tensor emb_g_;                            // [n_speakers, gin] for multi-speaker voices
};

}  // namespace mmgen::audio
