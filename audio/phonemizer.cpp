#include "audio/phonemizer.h"

#include <espeak-ng/speak_lib.h>

#include <mutex>

#include "audio/espeak_engine.h"
#include "audio/unicode.h"
#include "core/error.h"

namespace mmgen::audio {

namespace {

// The punctuation that ended a clause: the last non-space character before
// where espeak-ng resumed (it consumes the terminator and the character after
// it), or the text's last character when it read to the end.
char clause_terminator(const std::string& text, const char* resume) {
  const std::ptrdiff_t resume_at =
      resume != nullptr ? resume - text.c_str() : static_cast<std::ptrdiff_t>(text.size()) + 1;
  for (std::ptrdiff_t i = resume_at - 2; i > 0; --i)
    if (i < static_cast<std::ptrdiff_t>(text.size()) && text[static_cast<size_t>(i)] != ' ')
      return text[static_cast<size_t>(i)];
  return 0;
}

// Appends the clause's phonemes without espeak-ng's language-switch flags:
// "(fr)" ... "(en)" around words it read with another language's rules.
void append_without_language_flags(std::u32string_view clause, Phonemes& sentence) {
  bool in_flag = false;
  for (char32_t codepoint : clause) {
    if (in_flag) {
      if (codepoint == U')') in_flag = false;
    } else if (codepoint == U'(') {
      in_flag = true;
    } else {
      sentence.push_back(codepoint_to_utf8(codepoint));
    }
  }
}

// espeak_TextToPhonemes' phonememode: bit 1 selects IPA names (no separators).
constexpr int kPhonemeModeIpa = 0x02;

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

}  // namespace

std::filesystem::path espeak_data_dir() {
  std::lock_guard lock(espeak_engine::mutex());
  const char* path = nullptr;
  espeak_Info(&path);
  if (path != nullptr && *path != '\0') return std::filesystem::path(path) / "espeak-ng-data";
  return espeak_engine::default_data_dir();
}

std::vector<Phonemes> phonemize(std::string_view text, const std::string& voice) {
  MMGEN_CHECK(!is_blank(text), "phonemize: the text is empty (nothing to speak)");
  MMGEN_CHECK(!voice.empty(), "phonemize: no espeak-ng voice given");
  MMGEN_CHECK(text.find('\0') == std::string_view::npos,
              "phonemize: the text contains a NUL character");

  std::lock_guard lock(espeak_engine::mutex());
  espeak_engine::initialise_locked();
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK)
    fail("phonemize: espeak-ng has no voice '", voice, "' (voices are read from ",
         espeak_engine::default_data_dir(), "/voices and /lang)");

  // espeak-ng may write into the text it reads, so it gets its own copy.
  const std::string copy(text);
  const void* cursor = copy.c_str();
  std::vector<Phonemes> sentences;
  Phonemes* sentence = nullptr;
  while (cursor != nullptr) {
    const char* clause_ipa = espeak_TextToPhonemes(&cursor, espeakCHARS_AUTO, kPhonemeModeIpa);
    const char terminator = clause_terminator(copy, static_cast<const char*>(cursor));
    if (sentence == nullptr) sentence = &sentences.emplace_back();
    if (clause_ipa != nullptr)
      append_without_language_flags(to_nfd(utf8_to_codepoints(clause_ipa)), *sentence);
    switch (terminator) {
      case '.':
      case '?':
      case '!':
        sentence->push_back(std::string(1, terminator));
        sentence = nullptr;  // the next clause starts a new sentence
        break;
      case ',':
      case ':':
      case ';':
        sentence->push_back(std::string(1, terminator));
        sentence->push_back(" ");
        break;
      default:
        break;
    }
  }
  std::erase_if(sentences, [](const Phonemes& phonemes) { return phonemes.empty(); });
  return sentences;
}

std::string join_phonemes(const Phonemes& phonemes) {
  std::string out;
  for (const auto& phoneme : phonemes) out += phoneme;
  return out;
}

}  // namespace mmgen::audio
