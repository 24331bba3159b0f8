#include "audio/espeak_speech.h"

#include <espeak-ng/speak_lib.h>

#include <mutex>

#include "audio/espeak_engine.h"
#include "core/error.h"

namespace mmgen::audio {

namespace {

// Where the synthesis callback appends; only touched with espeak_engine::mutex() held.
std::vector<float>* g_collecting = nullptr;

int collect_samples(short* wav, int count, espeak_EVENT* /*events*/) {
  if (wav != nullptr && g_collecting != nullptr)
    for (int i = 0; i < count; ++i) g_collecting->push_back(static_cast<float>(wav[i]) / 32768.0f);
  return 0;  // go on
}

}  // namespace

EspeakSpeech speak_with_espeak(std::string_view text, const std::string& voice) {
  MMGEN_CHECK(text.find_first_not_of(" \t\r\n") != std::string_view::npos,
              "espeak-ng speech: the text is empty");
  MMGEN_CHECK(text.find('\0') == std::string_view::npos,
              "espeak-ng speech: the text contains a NUL character");
  std::lock_guard lock(espeak_engine::mutex());
  EspeakSpeech speech;
  speech.sample_rate = espeak_engine::initialise_locked();
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK)
    fail("espeak-ng speech: espeak-ng has no voice '", voice, "' (voices are read from ",
         espeak_engine::default_data_dir(), "/voices and /lang)");
  const std::string copy(text);
  g_collecting = &speech.samples;
  espeak_SetSynthCallback(collect_samples);
  const espeak_ERROR result = espeak_Synth(copy.c_str(), copy.size() + 1, 0, POS_CHARACTER, 0,
                                           espeakCHARS_UTF8, nullptr, nullptr);
  espeak_SetSynthCallback(nullptr);
  g_collecting = nullptr;
  MMGEN_CHECK(result == EE_OK, "espeak-ng speech: synthesis failed (espeak-ng error ",
              static_cast<int>(result), ")");
  return speech;
}

}  // namespace mmgen::audio
