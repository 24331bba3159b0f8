// tts_bench: real-time factor of text to speech, stage by stage, on the CPU or
// a CUDA device.
//
// It writes, into a temporary folder as safetensors with the checkpoints' own
// tensor names, random weights for a VITS the size of a piper "medium" voice
// (hidden 192, filter 768, 6 encoder layers, 2 heads, inter 192, decoder
// upsample_initial_channel 512 with rates 8,8,2,2, kernels 16,16,4,4, resblock
// kernels 3,7,11 with dilations 1,3,5; 22050 Hz) and a HiFi-GAN V1 generator
// (the same decoder sizes, 80 mels). It then speaks a ~10 s English text
// (phonemize, text encoder, duration predictor, flow, decoder) with one thread
// and with all threads, and vocodes 10 s of random mel frames with HiFi-GAN.
//   RTF = synthesis time / audio duration; the target is RTF <= 0.1 on one core.
// Random weights give random durations, so the length scale is set to make
// about 10 s of audio; the work per output second is what a trained voice does.
// With --device cuda the weights live on the GPU and the model runs there once
// with all threads (phonemization and the small host steps use the CPU); every
// stage's time ends with a wait for the device, and a warm-up run comes first.
// Each model runs with the decoder in f32 and in bf16 (Precision::kBF16: bf16
// products on AMX tiles where the CPU has them, widened weights elsewhere).
//
//   tts_bench [--threads N] [--quick] [--device cpu|cuda|cuda:N]

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "audio/hifigan.h"
#include "audio/hifigan_config.h"
#include "audio/tts.h"
#include "benchmarks/bench_util.h"
#include "core/device.h"
#include "core/error.h"
#include "core/precision.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/amx.h"

namespace mmgen::bench {
namespace {

using bench::cpu_model;
using bench::Options;

namespace fs = std::filesystem;
using Tensors = std::vector<std::pair<std::string, Tensor>>;

constexpr int kSampleRate = 22050;
constexpr int kHop = 256;

const char* kText =
    "The quick brown fox jumps over the lazy dog near the river bank. "
    "Every morning, the old baker opens his small shop and sells warm bread to the "
    "people of the village. Nobody knows exactly how long he has been doing this.";
const char* kQuickText = "The quick brown fox jumps over the lazy dog.";

// Writes normal(0, scale) tensors from consecutive Philox streams.
class RandomWriter {
 public:
  void add(const std::string& name, Shape shape, float scale = 0.02f) {
    Tensor t = Tensor::empty(std::move(shape), DType::kF32);
    float* data = t.typed_data<float>();
    fill_normal(data, t.numel(), 2024, stream_++);
    for (int64_t i = 0; i < t.numel(); ++i) data[i] *= scale;
    tensors_.emplace_back(name, std::move(t));
  }
  void conv(const std::string& name, int64_t out, int64_t in, int64_t k, bool bias = true) {
    add(name + ".weight", {out, in, k}, 0.5f / std::sqrt(static_cast<float>(in * k)));
    if (bias) add(name + ".bias", {out}, 0.01f);
  }
  void norm(const std::string& name, int64_t channels) {
    tensors_.emplace_back(name + ".gamma", Tensor::full({channels}, 1.0f));
    tensors_.emplace_back(name + ".beta", Tensor::zeros({channels}));
  }
  int64_t parameters() const {
    int64_t n = 0;
    for (const auto& [name, t] : tensors_) n += t.numel();
    return n;
  }
  void write(const fs::path& path) const { write_safetensors(path, tensors_); }

 private:
  Tensors tensors_;
  uint64_t stream_ = 0;
};

audio::HifiganConfig decoder_config(int num_mels) {
  audio::HifiganConfig c;
  c.resblock = 1;
  c.upsample_rates = {8, 8, 2, 2};
  c.upsample_kernel_sizes = {16, 16, 4, 4};
  c.upsample_initial_channel = 512;
  c.resblock_kernel_sizes = {3, 7, 11};
  c.resblock_dilation_sizes = {{1, 3, 5}, {1, 3, 5}, {1, 3, 5}};
  c.num_mels = num_mels;
  return c;
}

// models.Generator's tensors under `prefix`.
void add_decoder(RandomWriter& w, const std::string& prefix, const audio::HifiganConfig& c,
                 bool post_bias) {
  w.conv(prefix + "conv_pre", c.upsample_initial_channel, c.num_mels, 7);
  const int kernels = static_cast<int>(c.resblock_kernel_sizes.size());
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    const int in = c.upsample_initial_channel >> i;
    // ConvTranspose1d: weight [in, out, k], bias [out].
    const std::string up = prefix + "ups." + std::to_string(i);
    w.add(up + ".weight", {in, in / 2, c.upsample_kernel_sizes[i]},
          0.5f / std::sqrt(static_cast<float>(in * c.upsample_kernel_sizes[i])));
    w.add(up + ".bias", {in / 2}, 0.01f);
    for (int j = 0; j < kernels; ++j) {
      const std::string block = prefix + "resblocks." + std::to_string(i * kernels + j);
      for (size_t d = 0; d < c.resblock_dilation_sizes[j].size(); ++d) {
        w.conv(block + ".convs1." + std::to_string(d), in / 2, in / 2, c.resblock_kernel_sizes[j]);
        w.conv(block + ".convs2." + std::to_string(d), in / 2, in / 2, c.resblock_kernel_sizes[j]);
      }
    }
  }
  w.conv(prefix + "conv_post", 1, c.upsample_initial_channel >> c.upsample_rates.size(), 7,
         post_bias);
}

void add_dds_conv(RandomWriter& w, const std::string& name, int64_t channels, int64_t kernel) {
  for (int i = 0; i < 3; ++i) {
    const std::string index = std::to_string(i);
    w.add(name + ".convs_sep." + index + ".weight", {channels, 1, kernel}, 0.3f);
    w.add(name + ".convs_sep." + index + ".bias", {channels}, 0.01f);
    w.conv(name + ".convs_1x1." + index, channels, channels, 1);
    w.norm(name + ".norms_1." + index, channels);
    w.norm(name + ".norms_2." + index, channels);
  }
}

// models.SynthesizerTrn (inference parts) of a piper medium voice; returns parameters.
int64_t write_vits(const fs::path& path) {
  const int64_t hidden = 192, filter = 768, inter = 192, layers = 6, heads = 2, vocab = 256;
  RandomWriter w;
  w.add("enc_p.emb.weight", {vocab, hidden}, 0.3f);
  for (int64_t l = 0; l < layers; ++l) {
    const std::string attn = "enc_p.encoder.attn_layers." + std::to_string(l) + ".";
    for (const char* conv : {"conv_q", "conv_k", "conv_v", "conv_o"})
      w.conv(attn + conv, hidden, hidden, 1);
    w.add(attn + "emb_rel_k", {1, 9, hidden / heads}, 0.1f);
    w.add(attn + "emb_rel_v", {1, 9, hidden / heads}, 0.1f);
    w.norm("enc_p.encoder.norm_layers_1." + std::to_string(l), hidden);
    w.norm("enc_p.encoder.norm_layers_2." + std::to_string(l), hidden);
    const std::string ffn = "enc_p.encoder.ffn_layers." + std::to_string(l) + ".";
    w.conv(ffn + "conv_1", filter, hidden, 3);
    w.conv(ffn + "conv_2", hidden, filter, 3);
  }
  w.conv("enc_p.proj", 2 * inter, hidden, 1);
  // Stochastic duration predictor (filter channels 192, 4 flows, 10 bins).
  const int64_t dp = 192;
  w.conv("dp.pre", dp, hidden, 1);
  add_dds_conv(w, "dp.convs", dp, 3);
  w.conv("dp.proj", dp, dp, 1);
  w.add("dp.flows.0.m", {2, 1}, 0.0f);
  w.add("dp.flows.0.logs", {2, 1}, 0.0f);
  for (int i = 0; i < 4; ++i) {
    const std::string flow = "dp.flows." + std::to_string(2 * i + 1);
    w.conv(flow + ".pre", dp, 1, 1);
    add_dds_conv(w, flow + ".convs", dp, 3);
    w.conv(flow + ".proj", 29, dp, 1);
  }
  // Residual coupling flow: 4 mean-only couplings with 4-layer WaveNets.
  for (int i = 0; i < 4; ++i) {
    const std::string flow = "flow.flows." + std::to_string(2 * i);
    w.conv(flow + ".pre", hidden, inter / 2, 1);
    for (int l = 0; l < 4; ++l) {
      w.conv(flow + ".enc.in_layers." + std::to_string(l), 2 * hidden, hidden, 5);
      w.conv(flow + ".enc.res_skip_layers." + std::to_string(l), l < 3 ? 2 * hidden : hidden,
             hidden, 1);
    }
    w.conv(flow + ".post", inter / 2, hidden, 1);
  }
  add_decoder(w, "dec.", decoder_config(static_cast<int>(inter)), false);
  w.write(path);
  return w.parameters();
}

// A voice config whose phoneme_id_map covers espeak-ng's English IPA symbols.
void write_voice_json(const fs::path& path) {
  nlohmann::json map;
  const std::vector<std::string> symbols = {
      "_", "^", "$", " ", "!", "'", "(", ")", ",", "-", ".", ":",      ";",     "?", "a", "b", "c",
      "d", "e", "f", "h", "i", "j", "k", "l", "m", "n", "o", "p",      "q",     "r", "s", "t", "u",
      "v", "w", "x", "y", "z", "æ", "ç", "ð", "ø", "ħ", "ŋ", "œ",      "ǀ",     "ǁ", "ǂ", "ǃ", "ɐ",
      "ɑ", "ɒ", "ɓ", "ɔ", "ɕ", "ɖ", "ɗ", "ɘ", "ə", "ɚ", "ɛ", "ɜ",      "ɞ",     "ɟ", "ɠ", "ɡ", "ɢ",
      "ɣ", "ɤ", "ɥ", "ɦ", "ɧ", "ɨ", "ɪ", "ɫ", "ɬ", "ɭ", "ɮ", "ɯ",      "ɰ",     "ɱ", "ɲ", "ɳ", "ɴ",
      "ɵ", "ɶ", "ɸ", "ɹ", "ɺ", "ɻ", "ɽ", "ɾ", "ʀ", "ʁ", "ʂ", "ʃ",      "ʄ",     "ʈ", "ʉ", "ʊ", "ʋ",
      "ʌ", "ʍ", "ʎ", "ʏ", "ʐ", "ʑ", "ʒ", "ʔ", "ʕ", "ʘ", "ʙ", "ʛ",      "ʜ",     "ʝ", "ʟ", "ʡ", "ʢ",
      "ʲ", "ˈ", "ˌ", "ː", "ˑ", "˞", "β", "θ", "χ", "ᵻ", "ⱱ", "\u0303", "\u0329"};
  for (size_t i = 0; i < symbols.size(); ++i) map[symbols[i]] = {static_cast<int64_t>(i)};
  nlohmann::json voice = {
      {"audio", {{"sample_rate", kSampleRate}}},
      {"espeak", {{"voice", "en-us"}}},
      {"phoneme_type", "espeak"},
      {"num_speakers", 1},
      {"inference", {{"noise_scale", 0.667}, {"length_scale", 1}, {"noise_w", 0.8}}},
      {"phoneme_id_map", map}};
  std::ofstream(path) << voice.dump(1);
}

// The one-core target applies to the CPU only.
void print_row(const char* label, int threads, double audio_s, const audio::TtsStageTimes& t,
               bool on_cpu) {
  const double rtf = t.total() / audio_s;
  std::printf("%-13s %7d %8.2f s %9.3f %9.3f %9.3f %9.3f %9.3f %8.3f  %s\n", label, threads,
              audio_s, t.phonemize, t.encoder, t.duration, t.flow, t.decoder, rtf,
              on_cpu && threads == 1
                  ? (rtf <= 0.1 ? "(target <= 0.1: met)" : "(target <= 0.1: missed)")
                  : "");
  std::fflush(stdout);
}

// Device work is queued: a one-value copy to the host waits for all of it.
void wait_for(const Tensor& t) {
  if (t.device().is_cuda()) (void)t.reshape({-1}).narrow(0, 0, 1).cpu();
}

int run(int argc, char** argv) {
  Options options;
  if (const auto exit_code = bench::parse_options(
          argc, argv, "tts_bench", "one short sentence, for a smoke run", false, options, true))
    return *exit_code;
  const Device device = resolve_device(options.device, "--device");
  const bool on_cpu = device.is_cpu();
  const int all_threads = options.threads > 0
                              ? options.threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const ScratchDir scratch("mmgen_tts_bench");
  const fs::path& dir = scratch.path();

  if (on_cpu) {
    std::printf("tts_bench: %s, threads 1 and %d%s\n", cpu_model().c_str(), all_threads,
                options.quick ? " (quick: one short sentence)" : "");
  } else {
    std::printf("tts_bench: %s, host %s, %d threads%s\n", device.str().c_str(), cpu_model().c_str(),
                all_threads, options.quick ? " (quick: one short sentence)" : "");
  }
  const int64_t vits_parameters = write_vits(dir / "medium.safetensors");
  write_voice_json(dir / "medium.onnx.json");
  const Precision precisions[] = {Precision::kF32, Precision::kBF16};
  auto load_voice = [&](Precision precision) {
    return audio::TtsVoice::load(dir / "medium.safetensors", dir / "medium.onnx.json", {}, device,
                                 precision);
  };
  const audio::TtsVoice voice = load_voice(Precision::kF32);
  std::printf("VITS medium, random weights, %.1fM parameters (inference part), %d Hz\n",
              static_cast<double>(vits_parameters) / 1e6, voice.sample_rate());
  if (on_cpu) {
    std::printf("bf16 decoder: %s\n", kernels::cpu::amx_bf16_available()
                                          ? "bf16 products on AMX tiles, f32 sums"
                                          : "no AMX here: bf16 weights widened to f32");
  }

  // Set the pace so that the text lasts about 10 s (2.5 s quick): a warm-up
  // run at length scale 1 measures it.
  const std::string text = options.quick ? kQuickText : kText;
  const double target_s = options.quick ? 2.5 : 10.0;
  set_num_threads(all_threads);
  audio::TtsOptions tts = voice.default_options();
  tts.seed = 1;
  tts.noise_w = 0.0f;  // durations from the mean, the same for every run
  tts.length_scale = 1.0f;
  const double warm_s =
      static_cast<double>(voice.synthesize(text, tts).size()) / static_cast<double>(kSampleRate);
  tts.length_scale = static_cast<float>(std::max(0.1, target_s / warm_s));
  int64_t frames = 0;
  std::printf("text: %zu characters, length scale %.2f\n\n", text.size(), tts.length_scale);
  std::printf("%-13s %7s %10s %9s %9s %9s %9s %9s %8s\n", "model", "threads", "audio", "phonem s",
              "encode s", "durat s", "flow s", "decode s", "RTF");
  // On a GPU the thread count only moves the small host steps: one row.
  const std::vector<int> thread_counts =
      on_cpu ? std::vector<int>{1, all_threads} : std::vector<int>{all_threads};
  for (const Precision precision : precisions) {
    const audio::TtsVoice timed = precision == Precision::kF32 ? voice : load_voice(precision);
    const std::string label = "VITS " + precision_name(precision);
    if (!on_cpu) (void)timed.synthesize(kQuickText, tts);  // the new weights' first run
    for (const int threads : thread_counts) {
      if (threads != 1 && threads == all_threads && all_threads == 1) break;
      set_num_threads(threads);
      audio::TtsStageTimes times;
      const std::vector<float> audio = timed.synthesize(text, tts, {}, &times);
      frames = static_cast<int64_t>(audio.size()) / kHop;
      print_row(label.c_str(), threads, static_cast<double>(audio.size()) / kSampleRate, times,
                on_cpu);
    }
  }

  // HiFi-GAN V1 on as many mel frames as the VITS output had.
  RandomWriter hifigan;
  const audio::HifiganConfig config = decoder_config(80);
  add_decoder(hifigan, "", config, true);
  hifigan.write(dir / "hifigan_v1.safetensors");
  Tensor mel = Tensor::empty({1, 80, std::max<int64_t>(frames, 1)}, DType::kF32);
  fill_normal(mel.typed_data<float>(), mel.numel(), 7, 0);
  // The mel is on the device before timing (it comes from a front end there);
  // the first GPU run pays for library set-up and is not timed.
  mel = mel.to(device);
  std::printf("\nHiFi-GAN V1, random weights, %.1fM parameters, %lld mel frames\n",
              static_cast<double>(hifigan.parameters()) / 1e6, static_cast<long long>(mel.dim(2)));
  std::printf("%-13s %7s %10s %9s %8s\n", "model", "threads", "audio", "vocode s", "RTF");
  for (const Precision precision : precisions) {
    const audio::Hifigan vocoder =
        audio::Hifigan::load(dir / "hifigan_v1.safetensors", config, "", device, precision);
    const std::string label = "HiFi-GAN " + precision_name(precision);
    if (!on_cpu) wait_for(vocoder.vocode(mel));
    for (const int threads : thread_counts) {
      if (threads != 1 && all_threads == 1) break;
      set_num_threads(threads);
      const auto start = Clock::now();
      const Tensor wav = vocoder.vocode(mel);
      wait_for(wav);
      const double seconds = seconds_since(start);
      const double audio_s = static_cast<double>(wav.numel()) / kSampleRate;
      std::printf("%-13s %7d %8.2f s %9.3f %8.3f\n", label.c_str(), threads, audio_s, seconds,
                  seconds / audio_s);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace mmgen::bench

int main(int argc, char** argv) {
  return mmgen::bench::run_main("tts_bench", mmgen::bench::run, argc, argv);
}
