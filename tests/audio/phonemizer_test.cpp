// The TTS text front end: espeak-ng phonemes per sentence, NFD, phoneme ids and
// the piper voice config (audio/phonemizer.h, phoneme_ids.h, piper_voice.h).
#include "audio/phonemizer.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "audio/phoneme_ids.h"
#include "audio/piper_voice.h"
#include "audio/unicode.h"
#include "core/error.h"
#include "core/log.h"
#include "core/model_file.h"
#include "tests/support/test_support.h"

using namespace mmgen;
using namespace mmgen::audio;

namespace {

// Captures warnings for one test and restores stderr and the level after.
struct CapturedLog {
  std::vector<std::string> lines;
  LogLevel saved = log_level();
  CapturedLog() {
    set_log_level(LogLevel::kWarn);
    set_log_sink([this](LogLevel, std::string_view line) { lines.emplace_back(line); });
  }
  ~CapturedLog() {
    set_log_sink({});
    set_log_level(saved);
  }
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct GoldenSentence {
  const char* text;
  const char* phonemes;
  const char* tensor;  // vits_io.safetensors: ph<i>
};

const GoldenSentence kGoldenSentences[] = {
    {"Hello world.", "həlˈoʊ wˈɜːld.", "ph0"},
    {"The quick brown fox jumps.", "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps.", "ph1"},
    {"How are you today?", "hˌaʊ ɑːɹ juː tədˈeɪ?", "ph2"},
    {"Wait, that is not what I said!", "wˈeɪt, ðæt ɪz nˌɑːt wʌt aɪ sˈɛd!", "ph3"},
    {"Piper runs on small computers.", "pˈaɪpɚ ɹˈʌnz ˌɔn smˈɔːl kəmpjˈuːɾɚz.", "ph4"},
};

PiperVoiceConfig golden_voice() {
  return load_piper_voice_config(test::golden_file("tts/vits_voice.onnx.json"));
}

}  // namespace

TEST_CASE("the golden sentences phonemize and map to the reference ids", "[audio][phonemize]") {
  const auto voice = golden_voice();
  auto file = ModelFile::open(test::golden_file("tts/vits_io.safetensors"));
  for (const auto& golden : kGoldenSentences) {
    INFO(golden.text);
    const auto sentences = phonemize(golden.text, voice.espeak_voice);
    REQUIRE(sentences.size() == 1);
    CHECK(join_phonemes(sentences[0]) == golden.phonemes);

    std::vector<int64_t> codepoints;
    for (char32_t c : utf8_to_codepoints(join_phonemes(sentences[0]))) codepoints.push_back(c);
    CHECK(codepoints == file->tensor(std::string(golden.tensor) + "_codepoints").to_i64_vector());
    // One phoneme per codepoint.
    CHECK(sentences[0].size() == codepoints.size());

    const auto ids = phonemes_to_ids(sentences[0], voice.phoneme_id_map);
    CHECK(ids == file->tensor(std::string(golden.tensor) + "_ids").to_i64_vector());
    CHECK(ids.size() == 2 * codepoints.size() + 3);  // ^ _ (p _)* $
  }
}

TEST_CASE("phoneme ids follow the ^ _ (p _)* $ convention", "[audio][phonemize]") {
  const auto voice = golden_voice();
  // "Hello world." -> h ə l ˈ o ʊ ...: ^=1, _=0, h=20, $=2.
  const auto ids = phonemes_to_ids(phonemize("Hello world.", "en-us")[0], voice.phoneme_id_map);
  REQUIRE(ids.size() == 31);
  CHECK(ids[0] == 1);
  CHECK(ids[1] == 0);
  CHECK(ids[2] == 20);
  CHECK(ids[3] == 0);
  CHECK(ids[28] == 10);  // '.'
  CHECK(ids[29] == 0);
  CHECK(ids[30] == 2);
}

TEST_CASE("sentences split at full stops, questions and exclamations", "[audio][phonemize]") {
  const auto sentences = phonemize("Hello world. How are you? Wait, stop!", "en-us");
  REQUIRE(sentences.size() == 3);
  CHECK(join_phonemes(sentences[0]) == "həlˈoʊ wˈɜːld.");
  CHECK(sentences[1].back() == "?");
  CHECK(sentences[2].back() == "!");
  // A comma continues the sentence, followed by a space.
  const std::string third = join_phonemes(sentences[2]);
  CHECK(third.find(", ") != std::string::npos);
  // Text without a final terminator still gives its sentence.
  const auto open = phonemize("hello world", "en-us");
  REQUIRE(open.size() == 1);
  CHECK(join_phonemes(open[0]) == "həlˈoʊ wˈɜːld");
}

TEST_CASE("Mandarin and German voices produce phonemes", "[audio][phonemize]") {
  const auto chinese = phonemize("你好，世界。", "cmn");
  REQUIRE_FALSE(chinese.empty());
  CHECK(chinese[0].size() > 4);
  const auto german = phonemize("Guten Tag. Ich heiße Anna.", "de");
  REQUIRE(german.size() == 2);
  CHECK(german[0].size() > 4);
  CHECK(german[0].back() == ".");
  // "ich" has ç, decomposed to c + U+0327 (the voice maps both codepoints).
  const std::string second = join_phonemes(german[1]);
  CHECK(second.find("c\xCC\xA7") != std::string::npos);
  CHECK(second.find("\xC3\xA7") == std::string::npos);
}

TEST_CASE("phonemize is safe to call from several threads", "[audio][phonemize]") {
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 5; ++repeat) {
        const auto& golden = kGoldenSentences[(t + static_cast<size_t>(repeat)) % 5];
        const auto sentences = phonemize(golden.text, t % 2 == 0 ? "en-us" : "de");
        if (t % 2 == 0 && join_phonemes(sentences.at(0)) != golden.phonemes) return;
      }
      results[t] = join_phonemes(phonemize("Hello world.", "en-us").at(0));
    });
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) CHECK(result == "həlˈoʊ wˈɜːld.");
}

TEST_CASE("phonemize refuses a missing voice and empty text", "[audio][phonemize]") {
  const auto missing = message_of([] { phonemize("Hello.", "xx-no-such-voice"); });
  CHECK(missing.find("xx-no-such-voice") != std::string::npos);
  CHECK(missing.find("no voice") != std::string::npos);
  // The phonemizer still works after the failure.
  CHECK(join_phonemes(phonemize("Hello world.", "en-us")[0]) == "həlˈoʊ wˈɜːld.");

  CHECK(message_of([] { phonemize("", "en-us"); }).find("empty") != std::string::npos);
  CHECK(message_of([] { phonemize("  \n\t ", "en-us"); }).find("empty") != std::string::npos);
}

TEST_CASE("phonemes without an id are skipped with one warning", "[audio][phonemize]") {
  const PhonemeIdMap id_map = {{"^", {1}}, {"$", {2}}, {"_", {0}}, {"a", {5}}, {"b", {6, 7}}};
  CapturedLog log;
  const auto ids = phonemes_to_ids({"a", "ʔ", "b", "q", "ʔ", "a"}, id_map);
  CHECK(ids == std::vector<int64_t>{1, 0, 5, 0, 6, 7, 0, 5, 0, 2});
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0].find("warning") != std::string::npos);
  CHECK(log.lines[0].find("'ʔ' (U+0294)") != std::string::npos);
  CHECK(log.lines[0].find("'q' (U+0071)") != std::string::npos);
  CHECK(missing_phonemes({"a", "ʔ", "q", "ʔ"}, id_map) == std::vector<std::string>{"ʔ", "q"});

  log.lines.clear();
  CHECK(phonemes_to_ids({"a"}, id_map) == std::vector<int64_t>{1, 0, 5, 0, 2});
  CHECK(log.lines.empty());

  const PhonemeIdMap no_pad = {{"^", {1}}, {"$", {2}}};
  CHECK(message_of([&] { phonemes_to_ids({"a"}, no_pad); }).find("'_'") != std::string::npos);
}

TEST_CASE("NFD decomposes and orders combining marks", "[audio][phonemize]") {
  CHECK(to_nfd(U"\u00E7") == U"c\u0327");               // ç
  CHECK(to_nfd(U"\u1EC7") == U"e\u0323\u0302");         // ệ: two steps
  CHECK(to_nfd(U"a\u0302\u0323") == U"a\u0323\u0302");  // below (220) before above (230)
  CHECK(to_nfd(U"\uD55C") == U"\u1112\u1161\u11AB");    // Hangul 한
  CHECK(to_nfd(U"ðə") == U"ðə");                        // IPA letters stay
  CHECK(utf8_to_codepoints("h\xC9\x99\xFF") == U"h\u0259\uFFFD");
  CHECK(codepoints_to_utf8(U"\u0259\U0001F600") == "\xC9\x99\xF0\x9F\x98\x80");
}

TEST_CASE("the piper voice config is read with its fields", "[audio][phonemize]") {
  const auto voice = golden_voice();
  CHECK(voice.sample_rate == 22050);
  CHECK(voice.espeak_voice == "en-us");
  CHECK(voice.noise_scale == Approx(0.667f));
  CHECK(voice.length_scale == Approx(1.0f));
  CHECK(voice.noise_w == Approx(0.8f));
  CHECK(voice.num_speakers == 1);
  CHECK(voice.speaker_id_map.empty());
  CHECK(voice.phoneme_id_map.size() == 159);
  CHECK(voice.phoneme_id_map.at("ə") == std::vector<int64_t>{59});

  const auto dir = test::temp_dir("piper_voice");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const auto speakers = load_piper_voice_config(
      write("multi.onnx.json", R"({"audio": {"sample_rate": 16000}, "espeak": {"voice": "de"},
        "num_speakers": 2, "speaker_id_map": {"anna": 0, "ben": 1},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2]}})"));
  CHECK(speakers.sample_rate == 16000);
  CHECK(speakers.espeak_voice == "de");
  CHECK(speakers.noise_scale == Approx(0.667f));  // piper's default
  CHECK(speakers.speaker_id_map.at("ben") == 1);

  const auto no_map = write("no_map.onnx.json", R"({"espeak": {"voice": "en-us"}})");
  const auto message = message_of([&] { load_piper_voice_config(no_map); });
  CHECK(message.find(no_map.string()) != std::string::npos);
  CHECK(message.find("phoneme_id_map") != std::string::npos);

  const auto bad_speaker = write("bad.onnx.json",
                                 R"({"num_speakers": 1, "speaker_id_map": {"x": 3},
                                     "phoneme_id_map": {"_": [0]}})");
  CHECK(message_of([&] { load_piper_voice_config(bad_speaker); }).find("speaker_id_map.x") !=
        std::string::npos);
  CHECK(message_of([&] { load_piper_voice_config(dir / "absent.json"); }).find("absent.json") !=
        std::string::npos);
}
