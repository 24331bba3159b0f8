// The Stable Diffusion VAE: config inference from the tiny SD checkpoint, the
// golden decode/encode fixture, standalone and damaged checkpoints, input checks
// and tiled decoding.
#include "diffusion/vae.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/diffusion/sd_layout_writers.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {
namespace {

using Catch::Matchers::Contains;

const std::string kPrefix = "first_stage_model.";

std::filesystem::path tiny_checkpoint() { return test::golden_file("sd1/sd1_tiny.safetensors"); }

const Vae& tiny_vae() {
  static const Vae vae = Vae::load(tiny_checkpoint());
  return vae;
}

Tensor fixture(const std::string& name) {
  static const auto file = ModelFile::open(test::golden_file("sd1/vae.safetensors"));
  return file->tensor(name);
}

// The tiny checkpoint's VAE tensors without the "first_stage_model." prefix,
// filtered and edited by `keep` (which may rename or replace a tensor; false drops it).
using Edit = test::TensorEdit;
std::filesystem::path write_standalone(const std::string& folder, const Edit& keep) {
  return test::write_part(tiny_checkpoint(), kPrefix, folder, "vae.safetensors", keep);
}

bool keep_all(std::string&, Tensor&) { return true; }

TEST_CASE("VAE config is inferred from the tiny SD checkpoint's tensor shapes",
          "[diffusion][vae]") {
  const VaeConfig& c = tiny_vae().config();
  CHECK(c.prefix == "first_stage_model.");
  CHECK(c.has_encoder);
  CHECK(c.has_decoder);
  CHECK(c.in_channels == 3);
  CHECK(c.out_channels == 3);
  CHECK(c.ch == 32);
  CHECK(c.ch_mult == std::vector<int64_t>{1, 2, 4, 4});
  CHECK(c.num_res_blocks == 2);
  CHECK(c.z_channels == 4);
  CHECK(c.embed_dim == 4);
  CHECK(c.has_quant_conv);
  CHECK(c.mid_attention);
  CHECK(c.encoder_level_attention == std::vector<bool>(4, false));
  CHECK(c.decoder_level_attention == std::vector<bool>(4, false));
  CHECK(c.levels() == 4);
  CHECK(c.downsample_factor() == 8);
}

TEST_CASE("VAE decode and encode match the reference fixture", "[diffusion][vae]") {
  const Tensor image = tiny_vae().decode(fixture("z"));
  REQUIRE(image.shape() == Shape{1, 3, 64, 64});
  const test::Difference decoded = test::compare(image, fixture("decoded"));
  CHECK(decoded.max_abs < 2e-4);
  CHECK(decoded.rel_l2 < 1e-4);

  const VaeMoments m = tiny_vae().encode(fixture("image"));
  REQUIRE(m.moments.shape() == Shape{1, 8, 8, 8});
  REQUIRE(m.mean.shape() == Shape{1, 4, 8, 8});
  REQUIRE(m.logvar.shape() == Shape{1, 4, 8, 8});
  for (const auto& [name, produced] :
       {std::pair{"moments", m.moments}, {"mean", m.mean}, {"logvar", m.logvar}}) {
    INFO(name);
    const test::Difference d = test::compare(produced, fixture(name));
    CHECK(d.max_abs < 1e-4);
    CHECK(d.rel_l2 < 1e-4);
  }
}

TEST_CASE("A standalone VAE file without the SD prefix decodes identically", "[diffusion][vae]") {
  const auto path = write_standalone("vae_standalone", keep_all);
  const Vae standalone = Vae::load(path);
  CHECK(standalone.config().prefix.empty());
  CHECK(standalone.config().ch_mult == tiny_vae().config().ch_mult);
  const Tensor z = fixture("z");
  const std::vector<float> a = standalone.decode(z).to_f32_vector();
  const std::vector<float> b = tiny_vae().decode(z).to_f32_vector();
  CHECK(a == b);
  const std::vector<float> ma = standalone.encode(fixture("image")).moments.to_f32_vector();
  const std::vector<float> mb = tiny_vae().encode(fixture("image")).moments.to_f32_vector();
  CHECK(ma == mb);
}

TEST_CASE("A decoder-only VAE file infers its sizes from the decoder", "[diffusion][vae]") {
  const auto path = write_standalone("vae_decoder_only", [](std::string& name, Tensor&) {
    return name.rfind("encoder.", 0) != 0 && name.rfind("quant_conv.", 0) != 0;
  });
  const Vae vae = Vae::load(path);
  const VaeConfig& c = vae.config();
  CHECK_FALSE(c.has_encoder);
  CHECK(c.has_decoder);
  CHECK(c.ch == 32);  // the common divisor of the level widths 32, 64, 128, 128
  CHECK(c.ch_mult == std::vector<int64_t>{1, 2, 4, 4});
  CHECK(c.num_res_blocks == 2);
  CHECK(c.embed_dim == 4);
  CHECK(vae.decode(fixture("z")).to_f32_vector() ==
        tiny_vae().decode(fixture("z")).to_f32_vector());
  CHECK_THROWS_WITH(vae.encode(fixture("image")),
                    Contains("has no encoder") && Contains(path.string()));
}

TEST_CASE("A missing VAE tensor is reported with its name and file", "[diffusion][vae]") {
  const auto path = write_standalone("vae_missing", [](std::string& name, Tensor&) {
    return name != "decoder.up.2.block.1.conv2.bias";
  });
  CHECK_THROWS_AS(Vae::load(path), Error);
  CHECK_THROWS_WITH(Vae::load(path), Contains(path.string()) &&
                                         Contains("no tensor 'decoder.up.2.block.1.conv2.bias'"));
}

TEST_CASE("A VAE tensor of the wrong shape is reported with both shapes", "[diffusion][vae]") {
  const auto path = write_standalone("vae_bad_shape", [](std::string& name, Tensor& tensor) {
    if (name == "decoder.up.1.upsample.conv.weight") tensor = tensor.narrow(3, 0, 1).contiguous();
    return true;
  });
  CHECK_THROWS_WITH(Vae::load(path), Contains(path.string()) &&
                                         Contains("'decoder.up.1.upsample.conv.weight'") &&
                                         Contains("[64, 64, 3, 1]") && Contains("[64, 64, 3, 3]"));
}

TEST_CASE("Files that hold no ldm VAE are refused with the reason", "[diffusion][vae]") {
  const auto dir = test::temp_dir("vae_foreign");
  const Tensor kernel = Tensor::zeros({4, 4, 3, 3});
  write_safetensors(
      dir / "diffusers.safetensors",
      {{"decoder.up_blocks.0.resnets.0.conv1.weight", kernel}, {"decoder.conv_in.weight", kernel}});
  // diffusers names are mapped (diffusion/diffusers_layout.h); this file lacks the rest.
  CHECK_THROWS_WITH(Vae::load(dir / "diffusers.safetensors"), Contains("diffusers.safetensors"));
  write_safetensors(dir / "other.safetensors", {{"model.diffusion_model.x.weight", kernel}});
  CHECK_THROWS_WITH(Vae::load(dir / "other.safetensors"),
                    Contains("other.safetensors") && Contains("no VAE found"));
}

TEST_CASE("VAE inputs of the wrong shape are refused", "[diffusion][vae]") {
  const Vae& vae = tiny_vae();
  CHECK_THROWS_WITH(vae.decode(Tensor::zeros({1, 3, 8, 8})),
                    Contains("has 3 channels") && Contains("takes 4"));
  CHECK_THROWS_WITH(vae.decode(Tensor::zeros({1, 8, 8, 8})), Contains("has 8 channels"));
  CHECK_THROWS_WITH(vae.decode_tiled(Tensor::zeros({1, 5, 8, 8})), Contains("has 5 channels"));
  CHECK_THROWS_WITH(vae.decode(Tensor::zeros({4, 8, 8})), Contains("[N, 4, h, w]"));
  CHECK_THROWS_WITH(vae.decode(Tensor::zeros({1, 4, 8, 8}, DType::kF16)), Contains("f32"));
  CHECK_THROWS_WITH(vae.encode(Tensor::zeros({1, 4, 64, 64})),
                    Contains("has 4 channels") && Contains("takes 3"));
  CHECK_THROWS_WITH(vae.encode(Tensor::zeros({1, 3, 60, 64})), Contains("multiples of 8"));
  TileLayout bad;
  bad.tile = 4;
  bad.overlap = 4;
  CHECK_THROWS_WITH(vae.decode_tiled(Tensor::zeros({1, 4, 8, 8}), bad),
                    Contains("0 <= overlap < tile"));
}

TEST_CASE("Tiled VAE decode stays close to the full decode", "[diffusion][vae]") {
  const Vae& vae = tiny_vae();
  const Tensor z = test::random_tensor({1, 4, 32, 32}, 7, -2.0f, 2.0f);
  const Tensor full = vae.decode(z);

  SECTION("one tile covering the latent is the full decode") {
    TileLayout whole;
    whole.tile = 32;
    CHECK(vae.decode_tiled(z, whole).to_f32_vector() == full.to_f32_vector());
  }
  SECTION("overlapping tiles smaller than the latent") {
    TileLayout layout;
    layout.tile = 24;
    layout.overlap = 8;  // 2 x 2 tiles overlapping by 16, the second aligned to the end
    const Tensor tiled = vae.decode_tiled(z, layout);
    REQUIRE(tiled.shape() == full.shape());
    const test::Difference d = test::compare(tiled, full);
    INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
    // Each tile's GroupNorm statistics and mid attention see only the tile, and the
    // decoder's receptive field spans most of it: close (measured rel_l2 0.18 on
    // these random weights, docs/vae.md), not equal.
    CHECK(d.rel_l2 < 0.25);
    CHECK(d.rel_l2 > 1e-3);
  }
}

}  // namespace
}  // namespace mmgen::diffusion
