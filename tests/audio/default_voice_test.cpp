// The committed default voice, models/espeak-vits, loaded as users load it: mmgen reads
// the held-out sentences into the phoneme ids its training used and speaks them as the
// PyTorch code that trained it did; its Mandarin voice speaks; and pocketsphinx
// understands it as well as espeak-ng's own voice (tools/train/voice_recipe.md).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audio/espeak_speech.h"
#include "audio/resample.h"
#include "audio/tts.h"
#include "audio/wav.h"
#include "core/shipped_files.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace mmgen::audio {
namespace {

namespace fs = std::filesystem;

const fs::path& model_dir() {
  static const fs::path dir = test::test_data_dir() / ".." / ".." / "models" / "espeak-vits";
  return dir;
}

TtsVoice load_voice(const std::string& voice_json = "espeak-vits.onnx.json") {
  const fs::path model = model_dir() / "espeak-vits.safetensors";
  REQUIRE(fs::exists(model));
  const fs::path config = model_dir() / voice_json;
  return TtsVoice::load(model, config, find_vits_config(model, config));
}

struct HeldoutSentence {
  std::string text;
  std::vector<int64_t> ids;
};

// The 20 English sentences the voice never heard in training, with the ids the
// training script gave them (heldout.json).
std::vector<HeldoutSentence> heldout_sentences() {
  std::ifstream in(model_dir() / "heldout.json");
  REQUIRE(in.good());
  const nlohmann::json json = nlohmann::json::parse(in);
  std::vector<HeldoutSentence> sentences;
  for (const auto& item : json)
    sentences.push_back(
        {item.at("text").get<std::string>(), item.at("ids").get<std::vector<int64_t>>()});
  REQUIRE(sentences.size() == 20);
  return sentences;
}

// ---------------------------------------------------------------- word error rate

// Lower-case words of letters and apostrophes, as the recogniser's dictionary spells them.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text + " ") {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((c >= 'a' && c <= 'z') || c == '\'') {
      word += c;
    } else if (!word.empty()) {
      out.push_back(word);
      word.clear();
    }
  }
  return out;
}

// Substitutions, insertions and deletions turning `reference` into `hypothesis`.
size_t word_errors(const std::vector<std::string>& reference,
                   const std::vector<std::string>& hypothesis) {
  std::vector<size_t> row(hypothesis.size() + 1);
  for (size_t j = 0; j < row.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= reference.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= hypothesis.size(); ++j) {
      const size_t substitute = diagonal + (reference[i - 1] != hypothesis[j - 1] ? 1 : 0);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row.back();
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// A JSGF grammar of the sentences and their one-word neighbours: each word in turn
// replaced by the word at that place in the next two sentences. The recogniser has
// to hear every word to pick the right sentence among ~300, and speech without
// words (silence, noise, time-reversed speech) matches none of them.
std::string minimal_pairs_grammar(const std::vector<std::vector<std::string>>& sentences) {
  std::vector<std::string> alternatives;
  for (size_t i = 0; i < sentences.size(); ++i) {
    alternatives.push_back(joined(sentences[i]));
    for (size_t j = 0; j < sentences[i].size(); ++j)
      for (size_t k = 1; k <= 2; ++k) {
        const auto& other = sentences[(i + k) % sentences.size()];
        std::vector<std::string> variant = sentences[i];
        variant[j] = other[j % other.size()];
        if (variant != sentences[i]) alternatives.push_back(joined(variant));
      }
  }
  std::sort(alternatives.begin(), alternatives.end());
  alternatives.erase(std::unique(alternatives.begin(), alternatives.end()), alternatives.end());
  std::string grammar = "#JSGF V1.0;\ngrammar heldout;\npublic <sentence> = ";
  for (size_t i = 0; i < alternatives.size(); ++i) grammar += (i ? " | " : "") + alternatives[i];
  return grammar + " ;\n";
}

constexpr int kRecogniserRate = 16000;  // pocketsphinx's en-us model

std::vector<std::string> recognise(const std::vector<float>& samples, int rate,
                                   const fs::path& wav_path, const fs::path& grammar) {
  WavAudio wav;
  wav.sample_rate = kRecogniserRate;
  wav.channels = 1;
  wav.samples = resample(samples, rate, kRecogniserRate);
  write_wav(wav_path, wav, WavEncoding::kPcm16);
  const test::CommandRun run = test::run_command(
      "pocketsphinx_continuous -logfn /dev/null -infile " + test::shell_quoted(wav_path.string()) +
      " -jsgf " + test::shell_quoted(grammar.string()) + " 2>/dev/null");
  REQUIRE(run.exit_code == 0);
  return words(run.output);
}

struct ErrorCount {
  size_t errors = 0, words = 0;
  double percent() const {
    return 100.0 * static_cast<double>(errors) / static_cast<double>(words);
  }
};

}  // namespace

TEST_CASE("espeak-vits turns its held-out sentences into the ids it was trained with",
          "[audio][default_model]") {
  const TtsVoice voice = load_voice();
  CHECK(voice.sample_rate() == 16000);
  CHECK(voice.voice().espeak_voice == "en-us");
  // The shipped name resolves to the same weights.
  const auto by_name = find_default_model("espeak-vits");
  REQUIRE(by_name.has_value());
  CHECK(by_name->filename() == "espeak-vits.safetensors");

  TtsOptions options = voice.default_options();
  options.noise_scale = 0;
  for (const HeldoutSentence& sentence : heldout_sentences()) {
    std::vector<int64_t> ids;
    voice.synthesize(sentence.text, options, [&](const TtsSentence& s) { ids = s.ids; });
    INFO(sentence.text);
    CHECK(ids == sentence.ids);
  }
}

TEST_CASE("espeak-vits speaks as the PyTorch code that trained it", "[audio][default_model]") {
  // train_samples/heldout_0N.wav: the training script's inference (noise scale 0) from
  // the stored f16 weights, 16-bit PCM.
  const TtsVoice voice = load_voice();
  TtsOptions options = voice.default_options();
  options.noise_scale = 0;
  const auto sentences = heldout_sentences();
  for (int i = 0; i < 5; ++i) {
    const fs::path reference_path =
        model_dir() / "train_samples" / ("heldout_0" + std::to_string(i) + ".wav");
    const WavAudio reference = read_wav(reference_path);
    const std::vector<float> ours = voice.synthesize(sentences[i].text, options);
    INFO(reference_path.string());
    REQUIRE(ours.size() == reference.samples.size());
    float worst = 0;
    for (size_t t = 0; t < ours.size(); ++t)
      worst = std::max(worst, std::fabs(ours[t] - reference.samples[t]));
    CHECK(worst <= 3.0f / 32768.0f);  // rounding to 16 bits, and float order, only
  }
}

TEST_CASE("espeak-vits speaks Mandarin with its cmn voice config", "[audio][default_model]") {
  const TtsVoice voice = load_voice("espeak-vits-cmn.onnx.json");
  CHECK(voice.voice().espeak_voice == "cmn");
  TtsOptions options = voice.default_options();
  options.seed = 3;
  const std::vector<float> samples = voice.synthesize("今天天气很好。", options);
  // Five syllables at espeak-ng's pace: between half a second and three seconds.
  const double seconds = static_cast<double>(samples.size()) / voice.sample_rate();
  CHECK(seconds > 0.5);
  CHECK(seconds < 3.0);
  double energy = 0;
  for (float v : samples) {
    REQUIRE(std::isfinite(v));
    energy += static_cast<double>(v) * v;
  }
  CHECK(std::sqrt(energy / static_cast<double>(samples.size())) > 0.01);  // not silence
}

TEST_CASE("pocketsphinx understands espeak-vits as well as espeak-ng's own voice",
          "[audio][default_model]") {
  INFO("needs pocketsphinx and pocketsphinx-en-us (scripts/setup.sh installs them)");
  REQUIRE(test::run_command("command -v pocketsphinx_continuous >/dev/null").exit_code == 0);
  const fs::path dir = test::temp_dir("default_voice_wer");
  const auto sentences = heldout_sentences();
  std::vector<std::vector<std::string>> references;
  for (const auto& s : sentences) references.push_back(words(s.text));
  const fs::path grammar = dir / "heldout.gram";
  std::ofstream(grammar) << minimal_pairs_grammar(references);

  const TtsVoice voice = load_voice();
  ErrorCount espeak, ours, reversed;
  for (size_t i = 0; i < sentences.size(); ++i) {
    const EspeakSpeech own = speak_with_espeak(sentences[i].text, "en-us");
    TtsOptions options = voice.default_options();
    options.seed = i;
    std::vector<float> spoken = voice.synthesize(sentences[i].text, options);
    const auto count = [&](ErrorCount& total, const std::vector<std::string>& heard) {
      total.errors += word_errors(references[i], heard);
      total.words += references[i].size();
    };
    const fs::path wav = dir / "sentence.wav";
    count(espeak, recognise(own.samples, own.sample_rate, wav, grammar));
    const auto heard = recognise(spoken, voice.sample_rate(), wav, grammar);
    UNSCOPED_INFO(sentences[i].text << " -> " << joined(heard));
    count(ours, heard);
    std::reverse(spoken.begin(), spoken.end());
    count(reversed, recognise(spoken, voice.sample_rate(), wav, grammar));
  }
  UNSCOPED_INFO("word error rate: espeak-ng " << espeak.percent() << "%, espeak-vits "
                                              << ours.percent() << "%, espeak-vits reversed "
                                              << reversed.percent() << "%");
  // The check can tell words from sounds: espeak-ng's words are heard, reversed ones not.
  CHECK(espeak.percent() < 20.0);
  CHECK(reversed.percent() > 80.0);
  CHECK(ours.percent() <= espeak.percent() + 15.0);
}

}  // namespace mmgen::audio
