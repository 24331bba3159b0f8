// The HiFi-GAN generator: weight-norm folding, config parsing, loading with its
// shape checks and name prefixes, both resblock types against a direct
// implementation, and the golden generator (../shared/golden/tts).
#include "audio/hifigan.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "audio/weight_norm.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen::audio {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

using Tensors = std::vector<std::pair<std::string, Tensor>>;

// A small generator: 2 upsampling stages (x2, x3) from 8 channels.
json tiny_config_json(int resblock) {
  json config = {{"resblock", std::to_string(resblock)},
                 {"upsample_rates", {2, 3}},
                 {"upsample_kernel_sizes", {4, 5}},
                 {"upsample_initial_channel", 8},
                 {"resblock_kernel_sizes", {3, 5}},
                 {"num_mels", 5},
                 {"hop_size", 6}};
  config["resblock_dilation_sizes"] =
      resblock == 1 ? json{{1, 3, 5}, {1, 2, 3}} : json{{1, 3}, {2, 1}};
  return config;
}

// Random tensors with the generator's names and shapes; weight-normalised
// convolutions are stored as weight_g / weight_v pairs.
Tensors tiny_tensors(const HifiganConfig& c, bool weight_norm, const std::string& prefix) {
  Tensors tensors;
  uint64_t seed = 100;
  auto conv = [&](const std::string& name, const Shape& shape, bool with_bias) {
    if (weight_norm) {
      tensors.emplace_back(prefix + name + ".weight_g",
                           test::random_tensor({shape[0], 1, 1}, seed++, 0.5f, 1.5f));
      tensors.emplace_back(prefix + name + ".weight_v", test::random_tensor(shape, seed++));
    } else {
      tensors.emplace_back(prefix + name + ".weight",
                           test::random_tensor(shape, seed++, -0.3f, 0.3f));
    }
    if (with_bias) {
      tensors.emplace_back(
          prefix + name + ".bias",
          test::random_tensor({shape[0] == 1 ? 1 : shape[0]}, seed++, -0.1f, 0.1f));
    }
  };
  const int64_t ch0 = c.upsample_initial_channel;
  conv("conv_pre", {ch0, c.num_mels, 7}, true);
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    const int64_t in = ch0 >> i, out = ch0 >> (i + 1);
    const std::string name = "ups." + std::to_string(i);
    if (weight_norm) {
      tensors.emplace_back(prefix + name + ".weight_g",
                           test::random_tensor({in, 1, 1}, seed++, 0.5f, 1.5f));
      tensors.emplace_back(prefix + name + ".weight_v",
                           test::random_tensor({in, out, c.upsample_kernel_sizes[i]}, seed++));
    } else {
      tensors.emplace_back(
          prefix + name + ".weight",
          test::random_tensor({in, out, c.upsample_kernel_sizes[i]}, seed++, -0.3f, 0.3f));
    }
    tensors.emplace_back(prefix + name + ".bias", test::random_tensor({out}, seed++, -0.1f, 0.1f));
  }
  const size_t kernels = c.resblock_kernel_sizes.size();
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    const int64_t ch = ch0 >> (i + 1);
    for (size_t j = 0; j < kernels; ++j) {
      const std::string block = "resblocks." + std::to_string(i * kernels + j);
      const int64_t k = c.resblock_kernel_sizes[j];
      for (size_t d = 0; d < c.resblock_dilation_sizes[j].size(); ++d) {
        if (c.resblock == 1) {
          conv(block + ".convs1." + std::to_string(d), {ch, ch, k}, true);
          conv(block + ".convs2." + std::to_string(d), {ch, ch, k}, true);
        } else {
          conv(block + ".convs." + std::to_string(d), {ch, ch, k}, true);
        }
      }
    }
  }
  conv("conv_post", {1, ch0 >> c.upsample_rates.size(), 7}, true);
  return tensors;
}

fs::path write_tensors(const std::string& name, const Tensors& tensors) {
  const fs::path path = test::temp_dir("hifigan") / name;
  write_safetensors(path, tensors);
  return path;
}

// ---- a direct implementation of the reference forward pass ---------------------

using Signal = std::vector<std::vector<double>>;  // [channels][samples]

Signal conv1d(const Signal& x, const Tensor& weight, const Tensor& bias, int dilation,
              int padding) {
  const auto w = weight.to_f32_vector();
  const auto b = bias.to_f32_vector();
  const int64_t out_ch = weight.dim(0), in_ch = weight.dim(1), k = weight.dim(2);
  const auto length = static_cast<int64_t>(x[0].size());
  const int64_t out_len = length + 2 * padding - dilation * (k - 1);
  Signal y(out_ch, std::vector<double>(out_len));
  for (int64_t o = 0; o < out_ch; ++o) {
    for (int64_t t = 0; t < out_len; ++t) {
      double sum = b[o];
      for (int64_t c = 0; c < in_ch; ++c) {
        for (int64_t j = 0; j < k; ++j) {
          const int64_t src = t - padding + j * dilation;
          if (src >= 0 && src < length) sum += w[(o * in_ch + c) * k + j] * x[c][src];
        }
      }
      y[o][t] = sum;
    }
  }
  return y;
}

Signal conv_transpose1d(const Signal& x, const Tensor& weight, const Tensor& bias, int stride,
                        int padding) {
  const auto w = weight.to_f32_vector();
  const auto b = bias.to_f32_vector();
  const int64_t in_ch = weight.dim(0), out_ch = weight.dim(1), k = weight.dim(2);
  const auto length = static_cast<int64_t>(x[0].size());
  const int64_t out_len = (length - 1) * stride - 2 * padding + k;
  Signal y(out_ch, std::vector<double>(out_len));
  for (int64_t o = 0; o < out_ch; ++o) {
    for (int64_t t = 0; t < out_len; ++t) y[o][t] = b[o];
  }
  for (int64_t c = 0; c < in_ch; ++c) {
    for (int64_t s = 0; s < length; ++s) {
      for (int64_t o = 0; o < out_ch; ++o) {
        for (int64_t j = 0; j < k; ++j) {
          const int64_t t = s * stride - padding + j;
          if (t >= 0 && t < out_len) y[o][t] += w[(c * out_ch + o) * k + j] * x[c][s];
        }
      }
    }
  }
  return y;
}

Signal leaky(Signal x, double slope) {
  for (auto& row : x) {
    for (auto& v : row) v = v < 0 ? v * slope : v;
  }
  return x;
}

Signal add(Signal a, const Signal& b) {
  for (size_t c = 0; c < a.size(); ++c) {
    for (size_t t = 0; t < a[c].size(); ++t) a[c][t] += b[c][t];
  }
  return a;
}

std::vector<double> reference_vocode(const fs::path& path, const HifiganConfig& c,
                                     const Tensor& mel) {
  const auto file = ModelFile::open(path);
  auto weight = [&](const std::string& name) { return load_weight(*file, name); };
  auto bias = [&](const std::string& name) { return file->tensor(name + ".bias"); };
  const auto values = mel.to_f32_vector();
  const int64_t frames = mel.dim(2);
  Signal x(c.num_mels, std::vector<double>(frames));
  for (int m = 0; m < c.num_mels; ++m) {
    for (int64_t t = 0; t < frames; ++t) x[m][t] = values[m * frames + t];
  }
  x = conv1d(x, weight("conv_pre"), bias("conv_pre"), 1, 3);
  const size_t kernels = c.resblock_kernel_sizes.size();
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    const std::string up = "ups." + std::to_string(i);
    x = conv_transpose1d(leaky(x, 0.1), weight(up), bias(up), c.upsample_rates[i],
                         (c.upsample_kernel_sizes[i] - c.upsample_rates[i]) / 2);
    Signal sum;
    for (size_t j = 0; j < kernels; ++j) {
      const std::string block = "resblocks." + std::to_string(i * kernels + j);
      const int k = c.resblock_kernel_sizes[j];
      Signal h = x;
      for (size_t d = 0; d < c.resblock_dilation_sizes[j].size(); ++d) {
        const int dil = c.resblock_dilation_sizes[j][d];
        const std::string n = std::to_string(d);
        Signal t;
        if (c.resblock == 1) {
          t = conv1d(leaky(h, 0.1), weight(block + ".convs1." + n), bias(block + ".convs1." + n),
                     dil, (k - 1) * dil / 2);
          t = conv1d(leaky(t, 0.1), weight(block + ".convs2." + n), bias(block + ".convs2." + n), 1,
                     (k - 1) / 2);
        } else {
          t = conv1d(leaky(h, 0.1), weight(block + ".convs." + n), bias(block + ".convs." + n), dil,
                     (k - 1) * dil / 2);
        }
        h = add(t, h);
      }
      sum = sum.empty() ? h : add(sum, h);
    }
    for (auto& row : sum) {
      for (auto& v : row) v /= static_cast<double>(kernels);
    }
    x = sum;
  }
  x = conv1d(leaky(x, 0.01), weight("conv_post"), bias("conv_post"), 1, 3);
  std::vector<double> wav(x[0].size());
  for (size_t t = 0; t < wav.size(); ++t) wav[t] = std::tanh(x[0][t]);
  return wav;
}

void check_against_reference(int resblock, bool weight_norm) {
  const HifiganConfig config = hifigan_config_from_json(tiny_config_json(resblock), "tiny");
  const fs::path path = write_tensors("tiny.safetensors", tiny_tensors(config, weight_norm, ""));
  const Hifigan model = Hifigan::load(path, config);
  const Tensor mel = test::random_tensor({1, 5, 9}, 42, -2.0f, 1.0f);
  const Tensor wav = model.vocode(mel);
  REQUIRE(wav.shape() == Shape{1, 1, 9 * 6});
  const auto expected = reference_vocode(path, config, mel);
  const auto actual = wav.to_f32_vector();
  REQUIRE(actual.size() == expected.size());
  for (size_t t = 0; t < actual.size(); ++t) {
    CAPTURE(t);
    CHECK(actual[t] == Approx(expected[t]).margin(2e-5));
  }
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- tests ---------------------------------------------------------------------

TEST_CASE("weight norm folds to g times v over the norm of v per output slice",
          "[audio][hifigan]") {
  // Row 0: v = (3, 4), ||v|| = 5, g = 2 -> (1.2, 1.6). Row 1: v = (0, -2), g = 3 -> (0, -3).
  const Tensor g = Tensor::from_vector(std::vector<float>{2, 3}, {2, 1, 1});
  const Tensor v = Tensor::from_vector(std::vector<float>{3, 4, 0, -2}, {2, 1, 2});
  const Tensor w = fold_weight_norm(g, v, "layer");
  REQUIRE(w.shape() == Shape{2, 1, 2});
  const auto values = w.to_f32_vector();
  CHECK(values[0] == Approx(1.2f));
  CHECK(values[1] == Approx(1.6f));
  CHECK(values[2] == 0.0f);
  CHECK(values[3] == Approx(-3.0f));
  CHECK_THROWS_WITH(fold_weight_norm(Tensor::zeros({3, 1, 1}), v, "layer"),
                    Contains("layer: weight-norm magnitude [3, 1, 1]"));
}

TEST_CASE("load_weight reads plain and weight_g/_v and parametrized weights", "[audio][hifigan]") {
  const Tensor g = Tensor::from_vector(std::vector<float>{2, 3}, {2, 1, 1});
  const Tensor v = Tensor::from_vector(std::vector<float>{3, 4, 0, -2}, {2, 1, 2});
  const fs::path path =
      write_tensors("weights.safetensors", {{"plain.weight", v},
                                            {"wn.weight_g", g},
                                            {"wn.weight_v", v},
                                            {"param.parametrizations.weight.original0", g},
                                            {"param.parametrizations.weight.original1", v},
                                            {"half.weight_g", g}});
  const auto file = ModelFile::open(path);
  CHECK(load_weight(*file, "plain").to_f32_vector() == v.to_f32_vector());
  const std::vector<float> folded = {1.2f, 1.6f, 0.0f, -3.0f};
  for (const char* name : {"wn", "param"}) {
    const auto got = load_weight(*file, name).to_f32_vector();
    for (size_t i = 0; i < 4; ++i) CHECK(got[i] == Approx(folded[i]));
  }
  CHECK(has_weight(*file, "wn"));
  CHECK_FALSE(has_weight(*file, "absent"));
  CHECK_THAT(error_of([&] { load_weight(*file, "absent"); }),
             Contains(path.string()) && Contains("no tensor 'absent.weight'"));
  CHECK_THAT(error_of([&] { load_weight(*file, "half"); }),
             Contains("'half.weight_g' has no partner 'half.weight_v'"));
}

TEST_CASE("HiFi-GAN config is read and checked", "[audio][hifigan]") {
  const HifiganConfig c = hifigan_config_from_json(tiny_config_json(1), "tiny.json");
  CHECK(c.resblock == 1);
  CHECK(c.hop_length() == 6);
  CHECK(c.stage_channels(0) == 4);
  CHECK(c.stage_channels(1) == 2);
  CHECK(c.lrelu_slope == 0.1f);
  CHECK(c.final_lrelu_slope == 0.01f);

  const HifiganConfig golden = load_hifigan_config(test::golden_file("tts/hifigan_config.json"));
  CHECK(golden.upsample_rates == std::vector<int>{8, 8, 2, 2});
  CHECK(golden.hop_length() == 256);
  CHECK(golden.num_mels == 80);

  json bad = tiny_config_json(1);
  bad["hop_size"] = 8;
  CHECK_THROWS_WITH(hifigan_config_from_json(bad, "tiny.json"),
                    Contains("tiny.json: 'hop_size' 8 differs from the product"));
  bad = tiny_config_json(1);
  bad["resblock_dilation_sizes"] = json{{1, 3, 5}};
  CHECK_THROWS_WITH(hifigan_config_from_json(bad, "tiny.json"),
                    Contains("'resblock_dilation_sizes' has 1 entries"));
  bad = tiny_config_json(2);
  bad["resblock_dilation_sizes"] = json{{1, 3, 5}, {1, 2, 3}};
  CHECK_THROWS_WITH(hifigan_config_from_json(bad, "tiny.json"),
                    Contains("resblock 0 of type 2 needs 2 dilations"));
  bad = tiny_config_json(1);
  bad.erase("upsample_rates");
  CHECK_THROWS_WITH(hifigan_config_from_json(bad, "tiny.json"),
                    Contains("tiny.json: field 'upsample_rates' is missing"));
}

TEST_CASE("generator with resblock type 1 matches a direct computation", "[audio][hifigan]") {
  SECTION("weight-normalised checkpoint") { check_against_reference(1, true); }
  SECTION("folded checkpoint") { check_against_reference(1, false); }
}

TEST_CASE("generator with resblock type 2 matches a direct computation", "[audio][hifigan]") {
  check_against_reference(2, false);
}

TEST_CASE("generator output has frames x hop samples", "[audio][hifigan]") {
  const HifiganConfig config = load_hifigan_config(test::golden_file("tts/hifigan_config.json"));
  const Hifigan model =
      Hifigan::load(test::golden_file("tts/hifigan_generator.safetensors"), config);
  for (int64_t frames : {1, 7}) {
    const Tensor wav = model.vocode(test::random_tensor({80, frames}, 5, -6.0f, 1.0f));
    REQUIRE(wav.shape() == Shape{1, 1, frames * 256});
    for (float value : wav.to_f32_vector()) CHECK(std::abs(value) < 1.0f);
  }
  CHECK_THROWS_WITH(model.vocode(Tensor::zeros({1, 79, 4})), Contains("80 channels"));
}

TEST_CASE("golden generator reproduces the reference waveform", "[audio][hifigan]") {
  const HifiganConfig config = load_hifigan_config(test::golden_file("tts/hifigan_config.json"));
  const Hifigan model =
      Hifigan::load(test::golden_file("tts/hifigan_generator.safetensors"), config);
  const auto io = ModelFile::open(test::golden_file("tts/mel_hifigan_io.safetensors"));
  const Tensor wav = model.vocode(io->tensor("hifigan_mel_in"));
  const auto diff = test::compare(wav, io->tensor("hifigan_wav"));
  CHECK(diff.max_abs < 1e-4);
  CHECK(diff.rel_l2 < 1e-4);
}

TEST_CASE("a bf16 generator stays within bf16 rounding of the reference waveform",
          "[audio][hifigan][bf16]") {
  const HifiganConfig config = load_hifigan_config(test::golden_file("tts/hifigan_config.json"));
  const Hifigan model = Hifigan::load(test::golden_file("tts/hifigan_generator.safetensors"),
                                      config, "", Device::cpu(), Precision::kBF16);
  const auto io = ModelFile::open(test::golden_file("tts/mel_hifigan_io.safetensors"));
  const Tensor wav = model.vocode(io->tensor("hifigan_mel_in"));
  const auto diff = test::compare(wav, io->tensor("hifigan_wav"));
  INFO("max_abs " << diff.max_abs << " rel_l2 " << diff.rel_l2);
  if (kernels::bf16_products_available(Device::cpu())) {
    CHECK(model.precision() == Precision::kBF16);
    // bf16 keeps 8 bits of mantissa: a relative 2^-9 per weight and input, not 2^-24.
    CHECK(diff.rel_l2 < 1e-2);
    CHECK(diff.rel_l2 > 1e-5);  // the products really are bf16
  } else {
    WARN("no AMX here: the bf16 generator falls back to f32");
    CHECK(model.precision() == Precision::kF32);
    CHECK(diff.rel_l2 < 1e-4);
  }
}

TEST_CASE("a training checkpoint's generator. prefix is found", "[audio][hifigan]") {
  const HifiganConfig config = hifigan_config_from_json(tiny_config_json(1), "tiny");
  const fs::path bare = write_tensors("bare.safetensors", tiny_tensors(config, true, ""));
  const fs::path nested =
      write_tensors("nested.safetensors", tiny_tensors(config, true, "generator."));
  const Tensor mel = test::random_tensor({1, 5, 4}, 9);
  const auto a = Hifigan::load(bare, config).vocode(mel).to_f32_vector();
  const auto b = Hifigan::load(nested, config).vocode(mel).to_f32_vector();
  CHECK(a == b);
}

TEST_CASE("loading errors name the file and the tensor", "[audio][hifigan]") {
  const HifiganConfig config = hifigan_config_from_json(tiny_config_json(1), "tiny");
  const fs::path path = write_tensors("tiny.safetensors", tiny_tensors(config, true, ""));

  HifiganConfig wider = config;
  wider.upsample_initial_channel = 16;
  CHECK_THAT(error_of([&] { Hifigan::load(path, wider); }),
             Contains(path.string()) && Contains("'conv_pre.weight' has shape [8, 5, 7]") &&
                 Contains("[16, 5, 7]"));

  HifiganConfig other_kernel = config;
  other_kernel.resblock_kernel_sizes = {3, 7};
  CHECK_THAT(error_of([&] { Hifigan::load(path, other_kernel); }),
             Contains("'resblocks.1.convs1.0.weight' has shape [4, 4, 5]"));

  // A third upsampling stage the checkpoint does not have.
  HifiganConfig more_stages = config;
  more_stages.upsample_rates = {2, 3, 2};
  more_stages.upsample_kernel_sizes = {4, 5, 4};
  CHECK_THAT(error_of([&] { Hifigan::load(path, more_stages); }),
             Contains(path.string()) && Contains("no tensor 'ups.2.weight'"));

  Tensors missing = tiny_tensors(config, true, "");
  std::erase_if(missing, [](const auto& entry) { return entry.first == "ups.1.bias"; });
  const fs::path missing_path = write_tensors("missing.safetensors", missing);
  CHECK_THAT(error_of([&] { Hifigan::load(missing_path, config); }),
             Contains(missing_path.string()) && Contains("no tensor 'ups.1.bias'"));
}

}  // namespace
}  // namespace mmgen::audio
