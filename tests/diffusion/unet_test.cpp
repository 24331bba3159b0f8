// The Stable Diffusion UNet: config inference from the tiny SD checkpoint, the golden
// eps fixture, standalone and damaged checkpoints, SD2-style Linear projections, the
// head option, input checks and batching.
#include "diffusion/unet.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "kernels/ops.h"
#include "tests/diffusion/sd_layout_writers.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {
namespace {

using Catch::Matchers::Contains;

const std::string kPrefix = "model.diffusion_model.";

std::filesystem::path tiny_checkpoint() { return test::golden_file("sd1/sd1_tiny.safetensors"); }

const UNet& tiny_unet() {
  static const auto unet = UNet::load(tiny_checkpoint());
  return *unet;
}

Tensor fixture(const std::string& name) {
  static const auto file = ModelFile::open(test::golden_file("sd1/unet_eps.safetensors"));
  return file->tensor(name);
}

// The tiny checkpoint's UNet tensors without the "model.diffusion_model." prefix,
// filtered and edited by `keep` (which may rename or replace a tensor; false drops it).
using Edit = test::TensorEdit;
std::filesystem::path write_standalone(const std::string& folder, const Edit& keep) {
  return test::write_part(tiny_checkpoint(), kPrefix, folder, "unet.safetensors", keep);
}

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

void check_matches(const Tensor& actual, const Tensor& expected, double max_abs) {
  REQUIRE(actual.shape() == expected.shape());
  const test::Difference d = test::compare(actual, expected);
  CHECK(d.max_abs < max_abs);
  CHECK(d.rel_l2 < 1e-4);
}

TEST_CASE("UNet config is inferred from the tiny SD checkpoint's tensor shapes",
          "[diffusion][unet]") {
  const UNetConfig& c = tiny_unet().config();
  CHECK(c.prefix == "model.diffusion_model.");
  CHECK(c.in_channels == 4);
  CHECK(c.out_channels == 4);
  CHECK(c.model_channels == 32);
  CHECK(c.num_res_blocks == 2);
  CHECK(c.channel_mult == std::vector<int>{1, 2, 4, 4});
  CHECK(c.attention_levels == std::vector<int>{0, 1, 2});
  CHECK(c.has_attention(2));
  CHECK_FALSE(c.has_attention(3));
  CHECK(c.context_dim == 64);
  CHECK(c.time_embed_dim == 128);
  CHECK(c.transformer_depth == 1);
  CHECK_FALSE(c.linear_projections);
  CHECK(c.num_heads == 8);
  CHECK(c.num_head_channels == -1);
  CHECK(c.levels() == 4);
  CHECK(c.downsample_factor() == 8);
}

TEST_CASE("UNet eps matches the reference fixture", "[diffusion][unet]") {
  const UNet& unet = tiny_unet();
  const Tensor x = fixture("x"), context = fixture("context");
  check_matches(unet.predict_eps(x, fixture("timesteps_t999_500"), context),
                fixture("eps_t999_500"), 1e-4);
  check_matches(unet.predict_eps(x, fixture("timesteps_t1_250"), context), fixture("eps_t1_250"),
                2e-4);
}

TEST_CASE("A batch of 2 with different timesteps equals two batch-1 calls", "[diffusion][unet]") {
  const UNet& unet = tiny_unet();
  const Tensor x = test::random_tensor({2, 4, 16, 8}, 11);
  const Tensor context = test::random_tensor({2, 5, 64}, 12);
  const Tensor timesteps = Tensor::from_vector(std::vector<float>{900.0f, 17.5f}, {2});
  const Tensor both = unet.predict_eps(x, timesteps, context);
  REQUIRE(both.shape() == Shape{2, 4, 16, 8});
  for (int64_t i = 0; i < 2; ++i) {
    const Tensor one =
        unet.predict_eps(x.narrow(0, i, 1).contiguous(), timesteps.narrow(0, i, 1).contiguous(),
                         context.narrow(0, i, 1).contiguous());
    const test::Difference d = test::compare(one, both.narrow(0, i, 1).contiguous());
    CHECK(d.max_abs < 1e-5);
  }
  // Integer timesteps are the same timesteps.
  const Tensor as_i64 = Tensor::from_vector(std::vector<int64_t>{900, 17}, {2});
  const Tensor rounded = Tensor::from_vector(std::vector<float>{900.0f, 17.0f}, {2});
  CHECK(test::compare(unet.predict_eps(x, as_i64, context), unet.predict_eps(x, rounded, context))
            .max_abs == 0.0);
  // The two items really differ (the timestep and inputs are used).
  const test::Difference items =
      test::compare(both.narrow(0, 0, 1).contiguous(), both.narrow(0, 1, 1).contiguous());
  CHECK(items.max_abs > 1e-2);
}

TEST_CASE("A standalone UNet file without the SD prefix gives the same eps", "[diffusion][unet]") {
  const auto path = write_standalone("unet_standalone", [](std::string&, Tensor&) { return true; });
  const auto unet = UNet::load(path);
  CHECK(unet->config().prefix.empty());
  check_matches(unet->predict_eps(fixture("x"), fixture("timesteps_t999_500"), fixture("context")),
                fixture("eps_t999_500"), 1e-4);
}

TEST_CASE("SD2-style Linear proj_in/proj_out are detected and give the same eps",
          "[diffusion][unet]") {
  const auto path = write_standalone("unet_linear_proj", [](std::string& name, Tensor& tensor) {
    if (ends_with(name, ".proj_in.weight") || ends_with(name, ".proj_out.weight"))
      tensor = tensor.reshape({tensor.dim(0), tensor.dim(1)});
    return true;
  });
  const auto unet = UNet::load(path);
  CHECK(unet->config().linear_projections);
  check_matches(unet->predict_eps(fixture("x"), fixture("timesteps_t1_250"), fixture("context")),
                fixture("eps_t1_250"), 2e-4);
}

TEST_CASE("UNet heads come from the options", "[diffusion][unet]") {
  const auto file = ModelFile::open(tiny_checkpoint());
  UNetOptions four;
  four.num_heads = 4;
  const auto unet4 = UNet::load(*file, four);
  CHECK(unet4->config().num_heads == 4);
  // Another head split is another function: the fixture (8 heads) no longer matches.
  const Tensor eps4 =
      unet4->predict_eps(fixture("x"), fixture("timesteps_t999_500"), fixture("context"));
  CHECK(test::compare(eps4, fixture("eps_t999_500")).max_abs > 1e-3);
  // 4 channels per head: 8 heads at level 0 as the reference, but 16 and 32 at the
  // wider levels, so a third function again.
  UNetOptions by_channels;
  by_channels.num_head_channels = 4;
  const auto unet_c = UNet::load(*file, by_channels);
  CHECK(unet_c->config().num_head_channels == 4);
  const Tensor eps_c =
      unet_c->predict_eps(fixture("x"), fixture("timesteps_t999_500"), fixture("context"));
  CHECK(test::compare(eps_c, fixture("eps_t999_500")).max_abs > 1e-3);
  CHECK(test::compare(eps_c, eps4).max_abs > 1e-3);
  UNetOptions three;
  three.num_heads = 3;
  CHECK_THROWS_WITH(UNet::load(*file, three),
                    Contains("width 32") && Contains("does not split into 3 heads"));
}

TEST_CASE("A missing UNet tensor is reported with its name and file", "[diffusion][unet]") {
  const auto path = write_standalone("unet_missing", [](std::string& name, Tensor&) {
    return name != "output_blocks.5.1.transformer_blocks.0.attn2.to_v.weight";
  });
  CHECK_THROWS_AS(UNet::load(path), Error);
  CHECK_THROWS_WITH(UNet::load(path),
                    Contains(path.string()) &&
                        Contains("no tensor 'output_blocks.5.1.transformer_blocks.0.attn2.to_v."
                                 "weight'"));
  const auto prefixed = test::temp_dir("unet_missing_prefixed") / "sd.safetensors";
  {
    const auto source = ModelFile::open(tiny_checkpoint());
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const TensorInfo& info : source->tensors())
      if (info.name != kPrefix + "out.2.bias")
        tensors.emplace_back(info.name, source->tensor(info.name));
    write_safetensors(prefixed, tensors);
  }
  CHECK_THROWS_WITH(
      UNet::load(prefixed),
      Contains(prefixed.string()) && Contains("no tensor 'model.diffusion_model.out.2.bias'"));
}

TEST_CASE("A UNet tensor of the wrong shape is reported with both shapes", "[diffusion][unet]") {
  const auto path = write_standalone("unet_bad_shape", [](std::string& name, Tensor& tensor) {
    if (name == "input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight")
      tensor = tensor.narrow(1, 0, 32).contiguous();
    return true;
  });
  CHECK_THROWS_WITH(UNet::load(path),
                    Contains(path.string()) &&
                        Contains("'input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight'") &&
                        Contains("[64, 32]") && Contains("[64, 64]"));
}

TEST_CASE("Files that hold no ldm UNet are refused with the reason", "[diffusion][unet]") {
  const auto dir = test::temp_dir("unet_foreign");
  const Tensor kernel = Tensor::zeros({4, 4, 3, 3});
  write_safetensors(dir / "diffusers.safetensors",
                    {{"down_blocks.0.resnets.0.conv1.weight", kernel}, {"conv_in.weight", kernel}});
  // diffusers names are mapped (diffusion/diffusers_layout.h); this file lacks up_blocks.
  CHECK_THROWS_WITH(UNet::load(dir / "diffusers.safetensors"),
                    Contains("diffusers.safetensors") && Contains("up_blocks"));
  write_safetensors(dir / "vae_only.safetensors",
                    {{"first_stage_model.decoder.conv_in.weight", kernel}});
  CHECK_THROWS_WITH(UNet::load(dir / "vae_only.safetensors"),
                    Contains("vae_only.safetensors") && Contains("no UNet found"));
  const auto sdxl = write_standalone("unet_label_emb", [](std::string& name, Tensor&) {
    if (name == "time_embed.0.weight") name = "label_emb.0.0.weight";
    return true;
  });
  CHECK_THROWS_WITH(UNet::load(sdxl), Contains("label_emb") && Contains("not supported yet"));
}

TEST_CASE("UNet inputs of the wrong shape are refused", "[diffusion][unet]") {
  const UNet& unet = tiny_unet();
  const Tensor x = Tensor::zeros({1, 4, 8, 8});
  const Tensor t = Tensor::full({1}, 10.0f);
  const Tensor context = Tensor::zeros({1, 77, 64});
  CHECK_THROWS_WITH(unet.predict_eps(Tensor::zeros({1, 3, 8, 8}), t, context),
                    Contains("has 3 channels") && Contains("takes 4"));
  CHECK_THROWS_WITH(unet.predict_eps(Tensor::zeros({4, 8, 8}), t, context),
                    Contains("[N, 4, h, w]"));
  CHECK_THROWS_WITH(unet.predict_eps(Tensor::zeros({1, 4, 8, 8}, DType::kF16), t, context),
                    Contains("f32"));
  CHECK_THROWS_WITH(unet.predict_eps(Tensor::zeros({1, 4, 12, 8}), t, context),
                    Contains("multiples of 8"));
  CHECK_THROWS_WITH(unet.predict_eps(Tensor::zeros({1, 4, 8, 4}), t, context),
                    Contains("multiples of 8"));
  CHECK_THROWS_WITH(unet.predict_eps(x, Tensor::full({2}, 10.0f), context),
                    Contains("timesteps must be [1]"));
  CHECK_THROWS_WITH(unet.predict_eps(x, t, Tensor::zeros({1, 77, 768})),
                    Contains("has width 768") && Contains("context_dim 64"));
  CHECK_THROWS_WITH(unet.predict_eps(x, t, Tensor::zeros({2, 77, 64})),
                    Contains("must have 1 batch items"));
  CHECK_THROWS_WITH(unet.predict_eps(x, t, Tensor::zeros({77, 64})), Contains("[1, L, 64]"));
}

}  // namespace
}  // namespace mmgen::diffusion
