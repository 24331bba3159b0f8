#include "audio/phoneme_ids.h"

#include <algorithm>
#include <cstdio>

#include "audio/unicode.h"
#include "core/error.h"
#include "core/log.h"

namespace mmgen::audio {

namespace {

const std::vector<int64_t>& required_ids(const PhonemeIdMap& id_map, const char* symbol,
                                         const char* role) {
  auto it = id_map.find(symbol);
  MMGEN_CHECK(it != id_map.end() && !it->second.empty(), "phoneme_id_map has no id for '", symbol,
              "' (", role, ")");
  return it->second;
}

// "'ʔ' (U+0294)" so that invisible marks are readable in the warning.
std::string describe(const std::string& phoneme) {
  std::string out = "'" + phoneme + "'";
  char buffer[16];
  for (char32_t codepoint : utf8_to_codepoints(phoneme)) {
    std::snprintf(buffer, sizeof(buffer), " (U+%04X)", static_cast<unsigned>(codepoint));
    out += buffer;
  }
  return out;
}

}  // namespace

std::vector<std::string> missing_phonemes(const Phonemes& phonemes, const PhonemeIdMap& id_map) {
  std::vector<std::string> missing;
  for (const auto& phoneme : phonemes)
    if (!id_map.contains(phoneme) &&
        std::find(missing.begin(), missing.end(), phoneme) == missing.end())
      missing.push_back(phoneme);
  return missing;
}

std::vector<int64_t> phonemes_to_ids(const Phonemes& phonemes, const PhonemeIdMap& id_map) {
  const auto& begin = required_ids(id_map, kBeginPhoneme, "sentence start");
  const auto& end = required_ids(id_map, kEndPhoneme, "sentence end");
  const auto& pad = required_ids(id_map, kPadPhoneme, "pad");

  std::vector<int64_t> ids(begin.begin(), begin.end());
  ids.insert(ids.end(), pad.begin(), pad.end());
  for (const auto& phoneme : phonemes) {
    auto it = id_map.find(phoneme);
    if (it == id_map.end()) continue;  // reported below, once
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    ids.insert(ids.end(), pad.begin(), pad.end());
  }
  ids.insert(ids.end(), end.begin(), end.end());

  const auto missing = missing_phonemes(phonemes, id_map);
  if (!missing.empty()) {
    std::string list;
    for (const auto& phoneme : missing) list += (list.empty() ? "" : ", ") + describe(phoneme);
    log_warn("the voice has no phoneme id for ", missing.size(), " phoneme",
             missing.size() == 1 ? "" : "s", ", skipped: ", list);
  }
  return ids;
}

}  // namespace mmgen::audio
