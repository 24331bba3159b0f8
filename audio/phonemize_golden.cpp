#include "audio/phonemize_golden.h"

#include <string>
#include <vector>

#include "audio/phoneme_ids.h"
#include "audio/phonemizer.h"
#include "audio/piper_voice.h"
#include "audio/unicode.h"
#include "core/error.h"
#include "core/golden.h"

namespace mmgen::audio {

namespace {

// The voice config named by the manifest's config.vits.voice_config_file.
PiperVoiceConfig golden_voice_config(const GoldenContext& context) {
  const std::string where = context.manifest().path.string() + ": config.vits";
  MMGEN_CHECK(context.config().contains("vits") && context.config()["vits"].is_object(), where,
              " is missing");
  const auto& section = context.config()["vits"];
  MMGEN_CHECK(section.contains("voice_config_file") && section["voice_config_file"].is_string(),
              where, ": field 'voice_config_file' is missing");
  return load_piper_voice_config(context.resolve(section["voice_config_file"].get<std::string>()));
}

// Every sentence's phonemes as codepoints [1, n] and their ids [1, m], sentences
// concatenated (each with its own ^ ... $).
GoldenOutputs golden_phonemize(const GoldenContext& context) {
  const PiperVoiceConfig voice = golden_voice_config(context);
  const auto sentences = phonemize(context.string("text"), context.string("voice"));
  std::vector<int64_t> codepoints;
  std::vector<int64_t> ids;
  for (const auto& sentence : sentences) {
    for (char32_t codepoint : utf8_to_codepoints(join_phonemes(sentence)))
      codepoints.push_back(static_cast<int64_t>(codepoint));
    const auto sentence_ids = phonemes_to_ids(sentence, voice.phoneme_id_map);
    ids.insert(ids.end(), sentence_ids.begin(), sentence_ids.end());
  }
  GoldenOutputs out;
  const auto n_codepoints = static_cast<int64_t>(codepoints.size());
  const auto n_ids = static_cast<int64_t>(ids.size());
  out.values["phonemes"] = Tensor::from_vector(codepoints, {1, n_codepoints});
  out.values["phoneme_ids"] = Tensor::from_vector(ids, {1, n_ids});
  return out;
}

}  // namespace

void register_phonemize_golden_kinds() { register_golden_kind("phonemize", golden_phonemize); }

}  // namespace mmgen::audio
