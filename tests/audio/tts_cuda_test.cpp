// The speech family on CUDA against the CPU, on the golden tiny models
// (../shared/golden/tts): HiFi-GAN's waveform, every stage of a deterministic
// VITS synthesis (and one with given noise), a multi-speaker voice, the TTS
// voice end to end, and the golden kinds run with a CUDA device.
//
// Tolerance: outputs and intermediates within max_abs 1e-4 and rel_l2 1e-5 of
// the CPU (both compute in f32; only the summation order differs), durations
// equal; and both within the manifest's tolerance of the reference.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "audio/audio_golden.h"
#include "audio/hifigan.h"
#include "audio/hifigan_config.h"
#include "audio/tts.h"
#include "audio/vits.h"
#include "audio/vits_golden.h"
#include "core/golden.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using namespace mmgen::audio;

constexpr double kMaxAbs = 1e-4;
constexpr double kRelL2 = 1e-5;

Tensor golden_io(const std::string& file, const std::string& name) {
  const auto model = ModelFile::open(test::golden_file("tts/" + file));
  return model->tensor(name).contiguous();
}

VitsConfig golden_vits_config() {
  return load_vits_config(test::golden_file("tts/vits_config.json"),
                          test::golden_file("tts/vits_voice.onnx.json"));
}

void check_same(const char* what, const Tensor& cuda_result, const Tensor& cpu_result) {
  INFO(what << ": cuda " << cuda_result.str() << ", cpu " << cpu_result.str());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
  CHECK(d.max_abs <= kMaxAbs);
  CHECK(d.rel_l2 <= kRelL2);
}

TEST_CASE("cuda HiFi-GAN vocodes the golden mel like the CPU", "[cuda][audio][hifigan]") {
  const HifiganConfig config = load_hifigan_config(test::golden_file("tts/hifigan_config.json"));
  const auto path = test::golden_file("tts/hifigan_generator.safetensors");
  const Hifigan cpu = Hifigan::load(path, config);
  const Hifigan gpu = Hifigan::load(path, config, "", Device::cuda());
  CHECK(gpu.device() == Device::cuda());
  const Tensor mel = golden_io("mel_hifigan_io.safetensors", "hifigan_mel_in");
  const Tensor wav = gpu.vocode(mel);  // a host mel is taken to the device
  REQUIRE(wav.device().is_cuda());
  check_same("wav", wav, cpu.vocode(mel));
  // A mel already on the device gives the same samples.
  check_same("wav from a device mel", gpu.vocode(mel.to(Device::cuda())), cpu.vocode(mel));
  const test::Difference golden =
      test::compare(wav.cpu(), golden_io("mel_hifigan_io.safetensors", "hifigan_wav"));
  CHECK(golden.max_abs <= 1e-4);
  CHECK(golden.rel_l2 <= 1e-4);
}

TEST_CASE("cuda HiFi-GAN asked for bf16 stays f32", "[cuda][audio][hifigan]") {
  // bf16 products run on AMX CPUs only: on a GPU the weights stay f32, with a warning.
  const HifiganConfig config = load_hifigan_config(test::golden_file("tts/hifigan_config.json"));
  const auto path = test::golden_file("tts/hifigan_generator.safetensors");
  const Hifigan gpu = Hifigan::load(path, config, "", Device::cuda(), Precision::kBF16);
  CHECK(gpu.precision() == Precision::kF32);
  const Tensor mel = golden_io("mel_hifigan_io.safetensors", "hifigan_mel_in");
  check_same("wav", gpu.vocode(mel), Hifigan::load(path, config).vocode(mel));
}

void check_synthesis(const VitsSynthesis& gpu, const VitsSynthesis& cpu) {
  REQUIRE(gpu.wav.device().is_cuda());
  check_same("enc_x", gpu.enc_x, cpu.enc_x);
  check_same("enc_m_p", gpu.enc_m_p, cpu.enc_m_p);
  check_same("enc_logs_p", gpu.enc_logs_p, cpu.enc_logs_p);
  check_same("logw", gpu.logw, cpu.logw);
  REQUIRE(gpu.w_ceil.to_f32_vector() == cpu.w_ceil.to_f32_vector());
  check_same("m_p", gpu.m_p, cpu.m_p);
  check_same("logs_p", gpu.logs_p, cpu.logs_p);
  check_same("z_p", gpu.z_p, cpu.z_p);
  check_same("z", gpu.z, cpu.z);
  check_same("wav", gpu.wav, cpu.wav);
}

TEST_CASE("cuda VITS matches the CPU stage by stage on the golden voice", "[cuda][audio][vits]") {
  const VitsConfig config = golden_vits_config();
  const auto path = test::golden_file("tts/vits_generator.safetensors");
  const Vits cpu = Vits::load(path, config);
  const Vits gpu = Vits::load(path, config, Device::cuda());
  CHECK(gpu.device() == Device::cuda());

  SECTION("deterministic (noise scales 0), every golden sentence") {
    VitsSynthesisOptions options;
    options.noise_scale = 0;
    options.noise_scale_w = 0;
    for (int i = 0; i < 5; ++i) {
      const std::string name = "vits_infer_det_" + std::to_string(i);
      INFO(name);
      const Tensor ids = golden_io("vits_io.safetensors", "ph" + std::to_string(i) + "_ids");
      const VitsSynthesis on_gpu = gpu.infer(ids, options);
      check_synthesis(on_gpu, cpu.infer(ids, options));
      CHECK(on_gpu.w_ceil.to_f32_vector() ==
            golden_io("vits_io.safetensors", name + "_w_ceil").to_f32_vector());
      const test::Difference golden =
          test::compare(on_gpu.wav.cpu(), golden_io("vits_io.safetensors", name + "_wav"));
      CHECK(golden.max_abs <= 2e-4);
      CHECK(golden.rel_l2 <= 1e-4);
    }
  }
  SECTION("with the reference's noise draws, given on the host or the device") {
    VitsSynthesisOptions options;
    options.dp_noise = golden_io("vits_io.safetensors", "vits_infer_noise_1_dp_noise");
    options.z_noise = golden_io("vits_io.safetensors", "vits_infer_noise_1_z_noise");
    const Tensor ids = golden_io("vits_io.safetensors", "ph1_ids");
    const VitsSynthesis on_cpu = cpu.infer(ids, options);
    check_synthesis(gpu.infer(ids, options), on_cpu);
    options.dp_noise = options.dp_noise.to(Device::cuda());
    options.z_noise = options.z_noise.to(Device::cuda());
    check_synthesis(gpu.infer(ids, options), on_cpu);
  }
  SECTION("length scale and drawn noise") {
    VitsSynthesisOptions options;
    options.length_scale = 1.5f;
    options.noise_scale_w = 0;  // durations from the mean: equal on both
    options.seed = 9;
    const Tensor ids = golden_io("vits_io.safetensors", "ph2_ids");
    check_synthesis(gpu.infer(ids, options), cpu.infer(ids, options));
  }
}

TEST_CASE("cuda multi-speaker VITS conditions like the CPU", "[cuda][audio][vits]") {
  VitsConfig config = golden_vits_config();
  config.n_speakers = 3;
  config.gin_channels = 8;
  // The golden voice plus random speaker tables and conditioning convolutions.
  const auto golden = ModelFile::open(test::golden_file("tts/vits_generator.safetensors"));
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& info : golden->tensors())
    tensors.emplace_back(info.name, golden->tensor(info.name).contiguous());
  uint64_t seed = 700;
  auto add = [&](const std::string& name, const Shape& shape) {
    tensors.emplace_back(name, test::random_tensor(shape, seed++, -0.5f, 0.5f));
  };
  const int64_t gin = config.gin_channels, hidden = config.hidden_channels;
  add("emb_g.weight", {config.n_speakers, gin});
  add("dp.cond.weight", {32, gin, 1});
  add("dp.cond.bias", {32});
  for (int i = 0; i < config.flow_n_flows; ++i) {
    const std::string layer = "flow.flows." + std::to_string(2 * i) + ".enc.cond_layer.";
    add(layer + "weight", {2 * hidden * config.flow_n_layers, gin, 1});
    add(layer + "bias", {2 * hidden * config.flow_n_layers});
  }
  add("dec.cond.weight", {config.decoder.upsample_initial_channel, gin, 1});
  add("dec.cond.bias", {config.decoder.upsample_initial_channel});
  const auto path = test::temp_dir("tts_cuda_speakers") / "speakers.safetensors";
  write_safetensors(path, tensors);

  const Vits cpu = Vits::load(path, config);
  const Vits gpu = Vits::load(path, config, Device::cuda());
  VitsSynthesisOptions options;
  options.noise_scale = 0;
  options.noise_scale_w = 0;
  const Tensor ids = golden_io("vits_io.safetensors", "ph0_ids");
  for (int64_t speaker : {0, 2}) {
    INFO("speaker " << speaker);
    options.speaker_id = speaker;
    check_synthesis(gpu.infer(ids, options), cpu.infer(ids, options));
  }
}

TEST_CASE("cuda TTS voice speaks like the CPU", "[cuda][audio][tts]") {
  const auto model = test::golden_file("tts/vits_generator.safetensors");
  const auto voice_json = test::golden_file("tts/vits_voice.onnx.json");
  const auto vits_json = test::golden_file("tts/vits_config.json");
  const TtsVoice cpu = TtsVoice::load(model, voice_json, vits_json);
  const TtsVoice gpu = TtsVoice::load(model, voice_json, vits_json, Device::cuda());
  CHECK(gpu.device() == Device::cuda());
  TtsOptions options = cpu.default_options();
  options.seed = 11;
  options.noise_w = 0;  // durations from the mean: the same frame counts
  TtsStageTimes times;
  const std::vector<float> a =
      gpu.synthesize("Hello there. How are you today?", options, {}, &times);
  const std::vector<float> b = cpu.synthesize("Hello there. How are you today?", options);
  REQUIRE(a.size() == b.size());
  REQUIRE_FALSE(a.empty());
  check_same("audio", Tensor::from_vector(a, {static_cast<int64_t>(a.size())}),
             Tensor::from_vector(b, {static_cast<int64_t>(b.size())}));
  CHECK(times.encoder > 0);
  CHECK(times.decoder > 0);
}

TEST_CASE("golden hifigan and vits kinds pass on a CUDA device", "[cuda][audio][golden]") {
  register_audio_golden_kinds();
  register_vits_golden_kinds();
  const GoldenManifest manifest = load_golden_manifest(test::golden_file("tts/manifest.json"));
  GoldenRunOptions options;
  options.device = Device::cuda();
  options.case_names = {"hifigan_mel_T50", "vits_infer_det_0", "vits_infer_det_3",
                        "vits_infer_noise_1", "vits_infer_noise_3"};
  for (const GoldenCaseResult& result : run_golden_manifest(manifest, options)) {
    INFO(result.name << ": " << result.message);
    CHECK(result.status == GoldenStatus::kPassed);
  }
}

}  // namespace
}  // namespace mmgen
