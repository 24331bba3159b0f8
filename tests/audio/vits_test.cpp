// The VITS synthesizer: config parsing, the rational-quadratic spline, the
// alignment path, the deterministic duration predictor against a direct
// computation, checkpoint loading (prefixes, missing tensors, multi-speaker
// refusal) and end-to-end synthesis on the golden voice (../shared/golden/tts).
#include "audio/vits.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen::audio {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

using Tensors = std::vector<std::pair<std::string, Tensor>>;

VitsConfig golden_config() {
  return load_vits_config(test::golden_file("tts/vits_config.json"),
                          test::golden_file("tts/vits_voice.onnx.json"));
}

// Every tensor of the golden checkpoint, renamed by `rename` (empty: dropped).
Tensors golden_tensors(const std::function<std::string(const std::string&)>& rename) {
  const auto file = ModelFile::open(test::golden_file("tts/vits_generator.safetensors"));
  Tensors tensors;
  for (const auto& info : file->tensors()) {
    const std::string name = rename(info.name);
    if (!name.empty()) tensors.emplace_back(name, file->tensor(info.name).contiguous());
  }
  return tensors;
}

fs::path write_tensors(const std::string& name, const Tensors& tensors) {
  const fs::path path = test::temp_dir("vits") / name;
  write_safetensors(path, tensors);
  return path;
}

Tensor golden_io(const std::string& name) {
  const auto file = ModelFile::open(test::golden_file("tts/vits_io.safetensors"));
  return file->tensor(name).contiguous();
}

TEST_CASE("VITS config is read from the training config and the piper voice", "[audio][vits]") {
  const VitsConfig c = golden_config();
  CHECK(c.n_vocab == 256);
  CHECK(c.inter_channels == 32);
  CHECK(c.hidden_channels == 32);
  CHECK(c.filter_channels == 64);
  CHECK(c.n_heads == 2);
  CHECK(c.n_layers == 2);
  CHECK(c.kernel_size == 3);
  CHECK(c.window_size == 4);
  CHECK(c.use_sdp);
  CHECK(c.n_speakers == 0);
  CHECK(c.gin_channels == 0);
  CHECK(c.sample_rate == 22050);
  CHECK(c.decoder.upsample_initial_channel == 64);
  CHECK(c.decoder.upsample_rates == std::vector<int>{8, 8, 2, 2});
  CHECK(c.decoder.num_mels == 32);
  CHECK(c.decoder.hop_length() == 256);
  CHECK(c.inference.noise_scale == Approx(0.667f));
  CHECK(c.inference.length_scale == Approx(1.0f));
  CHECK(c.inference.noise_scale_w == Approx(0.8f));

  SECTION("the model block alone, with the reference defaults for the rest") {
    const VitsConfig d = vits_config_from_json(
        json{{"hidden_channels", 64}, {"n_heads", 4}, {"use_sdp", false}}, "inline");
    CHECK(d.hidden_channels == 64);
    CHECK(d.n_heads == 4);
    CHECK_FALSE(d.use_sdp);
    CHECK(d.inter_channels == 192);
    CHECK(d.decoder.upsample_initial_channel == 512);
    CHECK(d.decoder.num_mels == 192);
  }
  SECTION("piper counts one speaker where VITS counts none") {
    VitsConfig d = c;
    apply_piper_voice(d, json{{"num_speakers", 1}, {"inference", {{"noise_w", 0.5}}}}, "voice");
    CHECK(d.n_speakers == 0);
    CHECK(d.inference.noise_scale_w == Approx(0.5f));
    apply_piper_voice(d, json{{"num_speakers", 4}}, "voice");
    CHECK(d.n_speakers == 4);
  }
  SECTION("bad values name the source and the field") {
    CHECK_THROWS_WITH(vits_config_from_json(
                          json{{"model", {{"hidden_channels", 30}, {"n_heads", 4}}}}, "cfg.json"),
                      Contains("cfg.json") && Contains("n_heads"));
    CHECK_THROWS_WITH(vits_config_from_json(json{{"model", {{"n_layers", "six"}}}}, "cfg.json"),
                      Contains("cfg.json: model") && Contains("'n_layers'"));
    CHECK_THROWS_WITH(vits_config_from_json(json{{"kernel_size", 4}}, "cfg.json"),
                      Contains("kernel_size"));
  }
}

TEST_CASE("rational-quadratic spline matches a hand-computed value", "[audio][vits]") {
  // Two bins on [-1, 1] with zero parameters: knots -1, 0, 1 (uniform), slope 1 in
  // each bin, derivative 1 at the ends and d = 1e-3 + ln 2 at the middle knot.
  // In bin 1 at theta = 1/2: y = 0.25 (1 + d) / (1 + 0.25 (d - 1)).
  const float zeros[2] = {0, 0};
  const float derivative[1] = {0};
  const double d = 1e-3 + std::log(2.0);
  const double expected = 0.25 * (1 + d) / (1 + 0.25 * (d - 1));
  CHECK(expected == Approx(0.4586030544));
  CHECK(rational_quadratic_spline(0.5f, zeros, zeros, derivative, 2, 1.0f, false) ==
        Approx(expected).epsilon(1e-6));
  // The spline is odd here: bin 0 mirrors bin 1.
  CHECK(rational_quadratic_spline(-0.5f, zeros, zeros, derivative, 2, 1.0f, false) ==
        Approx(-expected).epsilon(1e-6));
  // The inverse maps the value back.
  CHECK(rational_quadratic_spline(static_cast<float>(expected), zeros, zeros, derivative, 2, 1.0f,
                                  true) == Approx(0.5).epsilon(1e-6));
  // Knots are fixed points; outside the tail bound the transform is the identity.
  CHECK(rational_quadratic_spline(0.0f, zeros, zeros, derivative, 2, 1.0f, false) ==
        Approx(0.0).margin(1e-7));
  CHECK(rational_quadratic_spline(1.5f, zeros, zeros, derivative, 2, 1.0f, false) == 1.5f);
  CHECK(rational_quadratic_spline(-7.0f, zeros, zeros, derivative, 2, 1.0f, true) == -7.0f);
}

TEST_CASE("rational-quadratic spline inverse undoes the forward transform", "[audio][vits]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-5.0f, 5.0f);
  constexpr int kBins = 10;
  // Mild parameters keep every bin's slope near 1, so x comes back closely;
  // wild ones make some bins nearly flat, where only f(f^-1(y)) = y is well posed.
  for (const float spread : {0.5f, 3.0f}) {
    std::normal_distribution<float> normal(0.0f, spread);
    for (int trial = 0; trial < 200; ++trial) {
      float widths[kBins], heights[kBins], derivatives[kBins - 1];
      for (float& v : widths) v = normal(rng);
      for (float& v : heights) v = normal(rng);
      for (float& v : derivatives) v = normal(rng);
      const float x = uniform(rng);
      const float y =
          rational_quadratic_spline(x, widths, heights, derivatives, kBins, 5.0f, false);
      REQUIRE(std::abs(y) <= 5.0f + 1e-5f);
      const float back =
          rational_quadratic_spline(y, widths, heights, derivatives, kBins, 5.0f, true);
      REQUIRE(rational_quadratic_spline(back, widths, heights, derivatives, kBins, 5.0f, false) ==
              Approx(y).margin(1e-5));
      if (spread < 1.0f) REQUIRE(back == Approx(x).margin(1e-5));
    }
  }
}

TEST_CASE("generate_path aligns frames to tokens by their durations", "[audio][vits]") {
  const Tensor w = Tensor::from_vector(std::vector<float>{2, 0, 3, 1}, {1, 1, 4});
  const Tensor path = generate_path(w, 6);
  REQUIRE(path.shape() == Shape({1, 1, 6, 4}));
  const std::vector<float> expected = {1, 0, 0, 0,  //
                                       1, 0, 0, 0,  //
                                       0, 0, 1, 0,  //
                                       0, 0, 1, 0,  //
                                       0, 0, 1, 0,  //
                                       0, 0, 0, 1};
  CHECK(path.to_f32_vector() == expected);
  // Fewer frames than the durations cover: the path is cut.
  CHECK(generate_path(w, 3).to_f32_vector() ==
        std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0});
  CHECK_THROWS_WITH(generate_path(Tensor::from_vector(std::vector<float>{1.5f}, {1, 1, 1}), 2),
                    Contains("non-negative integer"));
}

// Deterministic duration predictor against a direct computation: conv(k=3) ->
// relu -> channel layer norm -> conv -> relu -> layer norm -> 1x1 proj.
TEST_CASE("deterministic duration predictor matches a direct computation", "[audio][vits]") {
  constexpr int64_t kHidden = 4, kFilters = 3, kLength = 5;
  Tensors tensors;
  uint64_t seed = 1;
  auto add = [&](const std::string& name, const Shape& shape, float lo = -0.5f, float hi = 0.5f) {
    tensors.emplace_back(name, test::random_tensor(shape, seed++, lo, hi));
    return tensors.back().second.to_f32_vector();
  };
  const auto w1 = add("dp.conv_1.weight", {kFilters, kHidden, 3});
  const auto b1 = add("dp.conv_1.bias", {kFilters});
  const auto g1 = add("dp.norm_1.gamma", {kFilters}, 0.5f, 1.5f);
  const auto be1 = add("dp.norm_1.beta", {kFilters});
  const auto w2 = add("dp.conv_2.weight", {kFilters, kFilters, 3});
  const auto b2 = add("dp.conv_2.bias", {kFilters});
  const auto g2 = add("dp.norm_2.gamma", {kFilters}, 0.5f, 1.5f);
  const auto be2 = add("dp.norm_2.beta", {kFilters});
  const auto wp = add("dp.proj.weight", {1, kFilters, 1});
  const auto bp = add("dp.proj.bias", {1});
  const fs::path path = write_tensors("dp.safetensors", tensors);
  const auto file = ModelFile::open(path);

  VitsConfig config = golden_config();
  config.hidden_channels = kHidden;
  config.use_sdp = false;
  const auto dp = VitsDurationPredictor::load(VitsWeights(*file, ""), config);
  const Tensor x = test::random_tensor({1, kHidden, kLength}, 99);
  const std::vector<float> xv = x.to_f32_vector();

  using Signal = std::vector<std::vector<double>>;
  auto conv3 = [](const Signal& in, const std::vector<float>& w, const std::vector<float>& b,
                  int64_t out_channels) {
    const auto in_channels = static_cast<int64_t>(in.size());
    Signal out(out_channels, std::vector<double>(kLength));
    for (int64_t o = 0; o < out_channels; ++o) {
      for (int64_t t = 0; t < kLength; ++t) {
        double sum = b[o];
        for (int64_t i = 0; i < in_channels; ++i) {
          for (int64_t k = 0; k < 3; ++k) {
            const int64_t s = t + k - 1;
            if (s >= 0 && s < kLength) sum += w[(o * in_channels + i) * 3 + k] * in[i][s];
          }
        }
        out[o][t] = std::max(0.0, sum);  // relu follows every conv here
      }
    }
    return out;
  };
  auto norm = [](Signal s, const std::vector<float>& gamma, const std::vector<float>& beta) {
    for (int64_t t = 0; t < kLength; ++t) {
      double mean = 0, var = 0;
      for (const auto& c : s) mean += c[t];
      mean /= static_cast<double>(s.size());
      for (const auto& c : s) var += (c[t] - mean) * (c[t] - mean);
      var /= static_cast<double>(s.size());
      for (size_t c = 0; c < s.size(); ++c) {
        s[c][t] = (s[c][t] - mean) / std::sqrt(var + 1e-5) * gamma[c] + beta[c];
      }
    }
    return s;
  };
  Signal in(kHidden, std::vector<double>(kLength));
  for (int64_t c = 0; c < kHidden; ++c) {
    for (int64_t t = 0; t < kLength; ++t) in[c][t] = xv[c * kLength + t];
  }
  const Signal h =
      norm(conv3(norm(conv3(in, w1, b1, kFilters), g1, be1), w2, b2, kFilters), g2, be2);
  const Tensor logw = dp.logw(x, {}, 0.0f);
  REQUIRE(logw.shape() == Shape({1, 1, kLength}));
  const std::vector<float> got = logw.to_f32_vector();
  for (int64_t t = 0; t < kLength; ++t) {
    double expected = bp[0];
    for (int64_t c = 0; c < kFilters; ++c) expected += wp[c] * h[c][t];
    CHECK(got[t] == Approx(expected).margin(1e-5));
  }
}

TEST_CASE("VITS reproduces the golden deterministic synthesis", "[audio][vits]") {
  const Vits vits =
      Vits::load(test::golden_file("tts/vits_generator.safetensors"), golden_config());
  VitsSynthesisOptions options;
  options.noise_scale = 0;
  options.noise_scale_w = 0;
  const VitsSynthesis out = vits.infer(golden_io("ph0_ids"), options);
  const auto logw = test::compare(out.logw, golden_io("vits_infer_det_0_logw"));
  CHECK(logw.max_abs < 1e-4);
  CHECK(out.w_ceil.to_f32_vector() == golden_io("vits_infer_det_0_w_ceil").to_f32_vector());
  REQUIRE(out.wav.shape() == golden_io("vits_infer_det_0_wav").shape());
  const auto wav = test::compare(out.wav, golden_io("vits_infer_det_0_wav"));
  CHECK(wav.max_abs < 2e-4);
  CHECK(wav.rel_l2 < 1e-4);

  SECTION("without noise tensors the draws come from the seed") {
    VitsSynthesisOptions seeded = vits.default_options();
    seeded.seed = 5;
    const Tensor a = vits.infer(golden_io("ph2_ids"), seeded).wav;
    const Tensor b = vits.infer(golden_io("ph2_ids"), seeded).wav;
    CHECK(a.to_f32_vector() == b.to_f32_vector());
    seeded.seed = 6;
    const VitsSynthesis c = vits.infer(golden_io("ph2_ids"), seeded);
    CHECK(c.wav.dim(2) == c.z.dim(2) * 256);
    CHECK(c.wav.to_f32_vector() != a.to_f32_vector());
  }
  SECTION("length_scale stretches the durations") {
    options.length_scale = 2.0f;
    const VitsSynthesis slow = vits.infer(golden_io("ph0_ids"), options);
    const auto w = slow.w_ceil.to_f32_vector();
    const auto logw_values = out.logw.to_f32_vector();
    for (size_t i = 0; i < w.size(); ++i) {
      CHECK(w[i] == std::ceil(std::exp(logw_values[i]) * 2.0f));
    }
  }
}

TEST_CASE("VITS loads training checkpoints with a model_g. or generator. prefix", "[audio][vits]") {
  const std::string prefix = GENERATE(std::string("model_g."), std::string("generator."));
  const fs::path path = write_tensors(
      "prefixed.safetensors", golden_tensors([&](const std::string& n) { return prefix + n; }));
  const Vits vits = Vits::load(path, golden_config());
  VitsSynthesisOptions options;
  options.noise_scale = 0;
  options.noise_scale_w = 0;
  const auto wav = test::compare(vits.infer(golden_io("ph0_ids"), options).wav,
                                 golden_io("vits_infer_det_0_wav"));
  CHECK(wav.max_abs < 2e-4);
}

TEST_CASE("a missing VITS tensor is named with its file", "[audio][vits]") {
  const std::string missing = "enc_p.encoder.attn_layers.1.emb_rel_k";
  const fs::path path = write_tensors(
      "missing.safetensors",
      golden_tensors([&](const std::string& n) { return n == missing ? std::string() : n; }));
  CHECK_THROWS_WITH(Vits::load(path, golden_config()),
                    Contains(missing) && Contains(path.string()));

  const fs::path folded =
      write_tensors("no_flow.safetensors", golden_tensors([](const std::string& n) {
                      return n.rfind("flow.flows.2.enc.in_layers.3.", 0) == 0 ? std::string() : n;
                    }));
  CHECK_THROWS_WITH(Vits::load(folded, golden_config()),
                    Contains("flow.flows.2.enc.in_layers.3") && Contains(folded.string()));

  const fs::path other = write_tensors("other.safetensors", {{"x", Tensor::zeros({1})}});
  CHECK_THROWS_WITH(Vits::load(other, golden_config()),
                    Contains("enc_p.emb.weight") && Contains(other.string()));
}

// The golden voice plus speaker tables and conditioning convolutions. With
// `zero` every conditioning weight and bias is zero, so each speaker must
// reproduce the single-speaker output.
fs::path multi_speaker_checkpoint(const std::string& name, const VitsConfig& c, bool zero) {
  Tensors tensors = golden_tensors([](const std::string& n) { return n; });
  uint64_t seed = 500;
  auto add = [&](const std::string& tensor, const Shape& shape) {
    tensors.emplace_back(
        tensor, zero ? Tensor::zeros(shape) : test::random_tensor(shape, seed++, -0.5f, 0.5f));
  };
  const int64_t gin = c.gin_channels, hidden = c.hidden_channels;
  tensors.emplace_back("emb_g.weight", test::random_tensor({c.n_speakers, gin}, seed++));
  add("dp.cond.weight", {32, gin, 1});  // the SDP's filter channels
  add("dp.cond.bias", {32});
  for (int i = 0; i < c.flow_n_flows; ++i) {
    const std::string layer = "flow.flows." + std::to_string(2 * i) + ".enc.cond_layer.";
    add(layer + "weight", {2 * hidden * c.flow_n_layers, gin, 1});
    add(layer + "bias", {2 * hidden * c.flow_n_layers});
  }
  add("dec.cond.weight", {c.decoder.upsample_initial_channel, gin, 1});
  add("dec.cond.bias", {c.decoder.upsample_initial_channel});
  return write_tensors(name, tensors);
}

TEST_CASE("multi-speaker VITS conditions on the speaker embedding", "[audio][vits]") {
  VitsConfig config = golden_config();
  config.n_speakers = 3;
  config.gin_channels = 8;
  VitsSynthesisOptions options;
  options.noise_scale = 0;
  options.noise_scale_w = 0;
  const Tensor ids = golden_io("ph0_ids");

  SECTION("zero conditioning gives the single-speaker output for every speaker") {
    const Vits vits =
        Vits::load(multi_speaker_checkpoint("zero.safetensors", config, true), config);
    for (int64_t speaker : {0, 2}) {
      options.speaker_id = speaker;
      const VitsSynthesis out = vits.infer(ids, options);
      CHECK(test::compare(out.logw, golden_io("vits_infer_det_0_logw")).max_abs < 1e-4);
      CHECK(test::compare(out.z, golden_io("vits_infer_det_0_z")).max_abs < 2e-4);
      CHECK(test::compare(out.wav, golden_io("vits_infer_det_0_wav")).max_abs < 2e-4);
    }
  }
  SECTION("speakers differ and keep the shapes") {
    const Vits vits =
        Vits::load(multi_speaker_checkpoint("random.safetensors", config, false), config);
    options.speaker_id = 0;
    const VitsSynthesis a = vits.infer(ids, options);
    options.speaker_id = 1;
    const VitsSynthesis b = vits.infer(ids, options);
    CHECK(a.logw.shape() == Shape({1, 1, ids.dim(1)}));
    CHECK(a.logw.to_f32_vector() != b.logw.to_f32_vector());
    REQUIRE(b.z.dim(1) == 32);
    CHECK(b.wav.shape() == Shape({1, 1, b.z.dim(2) * 256}));
    options.speaker_id = 3;
    CHECK_THROWS_WITH(vits.infer(ids, options), Contains("speaker id 3") && Contains("[0, 3)"));
  }
  SECTION("config and checkpoint must agree on speakers") {
    CHECK_THROWS_WITH(Vits::load(test::golden_file("tts/vits_generator.safetensors"), config),
                      Contains("emb_g.weight"));
    const fs::path path = multi_speaker_checkpoint("mismatch.safetensors", config, true);
    CHECK_THROWS_WITH(Vits::load(path, golden_config()), Contains("n_speakers 0"));
    VitsConfig no_gin = config;
    no_gin.gin_channels = 0;
    CHECK_THROWS_WITH(Vits::load(path, no_gin), Contains("gin_channels"));
  }
}

TEST_CASE("VITS rejects empty or out-of-range phoneme ids", "[audio][vits]") {
  const Vits vits =
      Vits::load(test::golden_file("tts/vits_generator.safetensors"), golden_config());
  const VitsSynthesisOptions options = vits.default_options();
  CHECK_THROWS_WITH(vits.infer(Tensor::from_vector(std::vector<int64_t>{}, {1, 0}), options),
                    Contains("empty"));
  CHECK_THROWS_WITH(
      vits.infer(Tensor::from_vector(std::vector<int64_t>{1, 300, 2}, {1, 3}), options),
      Contains("300") && Contains("[0, 256)"));
  VitsSynthesisOptions bad_noise = options;
  bad_noise.dp_noise = Tensor::zeros({1, 2, 7});
  CHECK_THROWS_WITH(
      vits.infer(Tensor::from_vector(std::vector<int64_t>{1, 2, 3}, {1, 3}), bad_noise),
      Contains("noise must be [1, 2, 3]"));
}

}  // namespace
}  // namespace mmgen::audio
