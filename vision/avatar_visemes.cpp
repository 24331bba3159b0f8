#include "vision/avatar_visemes.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace mmgen::vision {
namespace {

bool one_of(std::string_view phoneme, std::initializer_list<std::string_view> symbols) {
  return std::find(symbols.begin(), symbols.end(), phoneme) != symbols.end();
}

}  // namespace

Viseme viseme_for_phoneme(std::string_view p) {
  if (one_of(p, {"p", "b", "m"})) return Viseme::kBilabial;
  if (one_of(p, {"f", "v", "ɱ"})) return Viseme::kLabiodental;
  if (one_of(p, {"t", "d", "n", "l", "s", "z", "θ", "ð", "ɾ", "ɹ", "r", "ɫ", "ʔ", "ɬ", "c", "ɟ"}))
    return Viseme::kDental;
  if (one_of(p, {"ʃ", "ʒ", "ʧ", "ʤ", "ɕ", "ʑ"})) return Viseme::kPostalveolar;
  if (one_of(p, {"k", "g", "ɡ", "ŋ", "h", "x", "ɣ", "χ", "ɲ", "ç"})) return Viseme::kVelar;
  if (one_of(p, {"a", "ɑ", "æ", "ʌ", "ɐ", "ɒ", "ä", "ᵻ"})) return Viseme::kOpenVowel;
  if (one_of(p, {"e", "ɛ", "ə", "ɜ", "ɚ", "ɝ", "ø", "œ", "ɘ", "ɵ"})) return Viseme::kMidVowel;
  if (one_of(p, {"i", "ɪ", "j", "ɨ", "y", "ʏ", "ɯ"})) return Viseme::kSpreadVowel;
  if (one_of(p, {"o", "ɔ", "u", "ʊ", "w", "ʉ", "ɥ", "ʍ"})) return Viseme::kRoundVowel;
  return Viseme::kRest;
}

MouthShape viseme_shape(Viseme viseme) {
  switch (viseme) {
    case Viseme::kRest:
      return {0.0f, 0.0f, 0.0f};
    case Viseme::kBilabial:
      return {0.0f, -0.05f, 0.0f};
    case Viseme::kLabiodental:
      return {0.12f, 0.1f, 0.0f};
    case Viseme::kDental:
      return {0.28f, 0.2f, 0.0f};
    case Viseme::kPostalveolar:
      return {0.3f, -0.1f, 0.6f};
    case Viseme::kVelar:
      return {0.4f, 0.05f, 0.0f};
    case Viseme::kOpenVowel:
      return {1.0f, 0.15f, 0.0f};
    case Viseme::kMidVowel:
      return {0.65f, 0.25f, 0.0f};
    case Viseme::kSpreadVowel:
      return {0.35f, 0.7f, 0.0f};
    case Viseme::kRoundVowel:
      return {0.5f, -0.3f, 0.9f};
  }
  return {};
}

const char* viseme_name(Viseme viseme) {
  switch (viseme) {
    case Viseme::kRest:
      return "rest";
    case Viseme::kBilabial:
      return "bilabial";
    case Viseme::kLabiodental:
      return "labiodental";
    case Viseme::kDental:
      return "dental";
    case Viseme::kPostalveolar:
      return "postalveolar";
    case Viseme::kVelar:
      return "velar";
    case Viseme::kOpenVowel:
      return "open-vowel";
    case Viseme::kMidVowel:
      return "mid-vowel";
    case Viseme::kSpreadVowel:
      return "spread-vowel";
    case Viseme::kRoundVowel:
      return "round-vowel";
  }
  return "?";
}

std::vector<MouthShape> mouth_track_from_phonemes(const std::vector<PhonemeTiming>& phonemes,
                                                  int64_t frames, int fps) {
  MMGEN_CHECK(fps > 0, "fps must be positive, got ", fps);
  MMGEN_CHECK(frames >= 0, "the frame count must not be negative, got ", frames);
  // Intervals with their viseme; a length mark lengthens the interval before it.
  struct Span {
    double start, end;
    MouthShape shape;
    bool bilabial;
  };
  std::vector<Span> spans;
  for (const PhonemeTiming& p : phonemes) {
    MMGEN_CHECK(p.end >= p.start, "phoneme '", p.phoneme, "' ends (", p.end,
                " s) before it starts (", p.start, " s)");
    if ((p.phoneme == "ː" || p.phoneme == "ˑ") && !spans.empty()) {
      spans.back().end = std::max(spans.back().end, p.end);
      continue;
    }
    const Viseme viseme = viseme_for_phoneme(p.phoneme);
    spans.push_back({p.start, p.end, viseme_shape(viseme), viseme == Viseme::kBilabial});
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.start < b.start; });

  const double frame_seconds = 1.0 / fps;
  const double lead_seconds = 0.03;  // the mouth forms a sound slightly before it is heard
  std::vector<float> open(frames), width(frames), round(frames);
  size_t cursor = 0;
  for (int64_t f = 0; f < frames; ++f) {
    // Average the targets over the frame's interval (shifted by the lead), so a
    // short /p/ inside a frame still pulls the lips together.
    const double t0 = f * frame_seconds + lead_seconds, t1 = t0 + frame_seconds;
    while (cursor < spans.size() && spans[cursor].end <= t0) ++cursor;
    double weight = 0, o = 0, w = 0, r = 0;
    bool closing = false;
    for (size_t i = cursor; i < spans.size() && spans[i].start < t1; ++i) {
      const double overlap = std::min(t1, spans[i].end) - std::max(t0, spans[i].start);
      if (overlap <= 0) continue;
      weight += overlap;
      o += overlap * spans[i].shape.open;
      w += overlap * spans[i].shape.width;
      r += overlap * spans[i].shape.round;
      closing |= spans[i].bilabial && overlap > 0.3 * frame_seconds;
    }
    if (weight > 0) {
      const double rest = frame_seconds - weight;  // silence fills what is not covered
      weight += std::max(0.0, rest);
      open[f] = static_cast<float>(o / weight);
      width[f] = static_cast<float>(w / weight);
      round[f] = static_cast<float>(r / weight);
      // Bilabials must be seen to close: they win over their neighbours.
      if (closing) open[f] *= 0.3f;
    }
  }
  open = smooth_attack_release(open, frame_seconds, 0.025, 0.05);
  width = smooth_attack_release(width, frame_seconds, 0.05, 0.05);
  round = smooth_attack_release(round, frame_seconds, 0.05, 0.05);
  std::vector<MouthShape> out(frames);
  for (int64_t f = 0; f < frames; ++f) out[f] = {open[f], width[f], round[f]};
  return out;
}

}  // namespace mmgen::vision
