// The text-to-speech voice on the tiny golden VITS: config lookup, sentence
// streaming, durations -> sample counts, seeded noise, and its errors.
#include "audio/tts.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tests/support/test_support.h"

namespace mmgen::audio {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

fs::path golden(const std::string& name) { return test::golden_file("tts/" + name); }

TtsVoice golden_voice() {
  return TtsVoice::load(golden("vits_generator.safetensors"), golden("vits_voice.onnx.json"),
                        golden("vits_config.json"));
}

void touch(const fs::path& path, const std::string& text = "{}") { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("the voice config is found beside the model as piper names it", "[audio][tts]") {
  const fs::path dir = test::temp_dir("tts_lookup");
  const fs::path model = dir / "voice.safetensors";
  touch(model);
  CHECK_THROWS_WITH(find_voice_config(model),
                    Contains("voice.safetensors.json") && Contains("voice.onnx.json"));
  touch(dir / "voice.onnx.json");
  CHECK(find_voice_config(model) == dir / "voice.onnx.json");
  touch(dir / "voice.safetensors.json");
  CHECK(find_voice_config(model) == dir / "voice.safetensors.json");

  // VITS sizes: explicit file, else the voice's own "model" block, else config.json.
  CHECK(find_vits_config(model, dir / "voice.onnx.json").empty());
  touch(dir / "config.json", R"({"model": {"hidden_channels": 32}})");
  CHECK(find_vits_config(model, dir / "voice.onnx.json") == dir / "config.json");
  touch(dir / "voice.onnx.json", R"({"model": {"hidden_channels": 32}})");
  CHECK(find_vits_config(model, dir / "voice.onnx.json") == dir / "voice.onnx.json");
  CHECK(find_vits_config(model, dir / "voice.onnx.json", golden("vits_config.json")) ==
        golden("vits_config.json"));
  CHECK_THROWS_WITH(find_vits_config(model, dir / "voice.onnx.json", dir / "none.json"),
                    Contains("none.json"));
}

TEST_CASE("TTS speaks each sentence for its durations", "[audio][tts]") {
  const TtsVoice voice = golden_voice();
  CHECK(voice.sample_rate() == 22050);
  CHECK(voice.num_speakers() == 1);
  TtsOptions options = voice.default_options();
  CHECK(options.noise_scale == Approx(0.667f));
  CHECK(options.noise_w == Approx(0.8f));
  options.seed = 11;
  std::vector<TtsSentence> sentences;
  TtsStageTimes times;
  const std::vector<float> audio = voice.synthesize(
      "Hello there. How are you today?", options,
      [&](const TtsSentence& s) { sentences.push_back(s); }, &times);
  REQUIRE(sentences.size() == 2);
  const int hop = voice.config().decoder.hop_length();
  CHECK(hop == 256);
  size_t total = 0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    const TtsSentence& s = sentences[i];
    CHECK(s.index == static_cast<int>(i));
    CHECK(s.ids.front() == 1);  // "^"
    CHECK(s.ids.back() == 2);   // "$"
    CHECK(s.frames >= 1);
    CHECK(static_cast<int64_t>(s.samples.size()) == s.frames * hop);
    total += s.samples.size();
  }
  CHECK(sentences[1].phonemes.back() == '?');
  CHECK(audio.size() == total);
  int bad = 0;
  for (float v : audio) bad += !(std::isfinite(v) && std::fabs(v) <= 1.0f);
  CHECK(bad == 0);
  CHECK(times.encoder > 0);
  CHECK(times.decoder > 0);
  CHECK(times.total() >= times.decoder);

  // The same seed gives the same audio; another seed other audio.
  CHECK(voice.synthesize("Hello there. How are you today?", options) == audio);
  TtsOptions other = options;
  other.seed = 12;
  CHECK(voice.synthesize("Hello there. How are you today?", other) != audio);
}

TEST_CASE("TTS length scale stretches the durations", "[audio][tts]") {
  const TtsVoice voice = golden_voice();
  TtsOptions options = voice.default_options();
  options.noise_w = 0.0f;  // durations independent of the noise
  const std::vector<int64_t> ids = {1, 0, 20, 0, 18, 0, 24, 0, 2};
  const TtsSentence normal = voice.synthesize_ids(ids, 0, options);
  options.length_scale = 2.0f;
  const TtsSentence slow = voice.synthesize_ids(ids, 0, options);
  CHECK(slow.frames > normal.frames);
  CHECK(slow.frames <= 2 * normal.frames);
  CHECK(slow.frames >= 2 * normal.frames - static_cast<int64_t>(ids.size()));
}

TEST_CASE("TTS errors name the problem", "[audio][tts]") {
  const TtsVoice voice = golden_voice();
  TtsOptions options = voice.default_options();
  options.speaker = 1;
  CHECK_THROWS_WITH(voice.synthesize("Hi.", options), Contains("speaker 1 is out of range"));
  options.speaker = 0;
  options.length_scale = 0;
  CHECK_THROWS_WITH(voice.synthesize("Hi.", options), Contains("length scale"));
  CHECK_THROWS_AS(voice.synthesize("  \n", voice.default_options()), Error);

  const fs::path dir = test::temp_dir("tts_errors");
  nlohmann::json json;
  std::ifstream(golden("vits_voice.onnx.json")) >> json;
  json.erase("phoneme_id_map");
  touch(dir / "no_map.onnx.json", json.dump());
  CHECK_THROWS_WITH(TtsVoice::load(golden("vits_generator.safetensors"), dir / "no_map.onnx.json",
                                   golden("vits_config.json")),
                    Contains("phoneme_id_map"));

  std::ifstream(golden("vits_voice.onnx.json")) >> json;
  json["espeak"]["voice"] = "no-such-voice";
  touch(dir / "bad_voice.onnx.json", json.dump());
  const TtsVoice unknown = TtsVoice::load(golden("vits_generator.safetensors"),
                                          dir / "bad_voice.onnx.json", golden("vits_config.json"));
  CHECK_THROWS_WITH(unknown.synthesize("Hi.", unknown.default_options()),
                    Contains("no-such-voice"));
}

}  // namespace mmgen::audio
