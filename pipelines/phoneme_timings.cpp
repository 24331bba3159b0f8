#include "pipelines/phoneme_timings.h"

namespace mmgen::pipelines {

std::map<int64_t, std::string> phoneme_symbols(const audio::TtsVoice& voice) {
  std::map<int64_t, std::string> symbols;
  for (const auto& [symbol, ids] : voice.voice().phoneme_id_map)
    if (ids.size() == 1) symbols.emplace(ids[0], symbol);
  return symbols;
}

void append_phoneme_timings(const audio::TtsSentence& sentence,
                            const std::map<int64_t, std::string>& symbols, double offset_seconds,
                            double sample_rate, std::vector<vision::PhonemeTiming>& out) {
  const double frame_seconds = sentence.frames > 0
                                   ? static_cast<double>(sentence.samples.size()) /
                                         static_cast<double>(sentence.frames) / sample_rate
                                   : 0.0;
  int64_t frame = 0;
  for (size_t i = 0; i < sentence.ids.size() && i < sentence.durations.size(); ++i) {
    const auto it = symbols.find(sentence.ids[i]);
    const double start = offset_seconds + static_cast<double>(frame) * frame_seconds;
    frame += sentence.durations[i];
    out.push_back({it == symbols.end() ? std::string() : it->second, start,
                   offset_seconds + static_cast<double>(frame) * frame_seconds});
  }
}

}  // namespace mmgen::pipelines
