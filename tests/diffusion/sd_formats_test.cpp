// The tiny SD1 checkpoint in its other forms (a PyTorch .ckpt, a diffusers folder, a
// separate VAE) gives the same networks and the same images as the .safetensors file;
// folders that are not models, missing parts and contradicting configs give one error.
#include <catch2/catch.hpp>
#include <fstream>
#include <tuple>

#include "diffusion/diffusers_layout.h"
#include "diffusion/txt2img.h"
#include "kernels/ops.h"
#include "kernels/random.h"
#include "tests/diffusion/sd_layout_writers.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

fs::path tiny_path() { return test::golden_file("sd1/sd1_tiny.safetensors"); }

// The single file with the head counts of the reference (CLIP 4, UNet 8), as the
// diffusers configs state them.
StableDiffusionOptions reference_options() {
  StableDiffusionOptions o;
  o.clip.num_heads = 4;
  return o;
}

const StableDiffusion& single_file() {
  static const auto sd = StableDiffusion::load(tiny_path(), reference_options());
  return *sd;
}

const fs::path& diffusers_dir() {
  static const fs::path dir = [] {
    const fs::path d = test::temp_dir("sd_diffusers") / "tiny-sd1";
    fs::remove_all(d);
    const auto file = ModelFile::open(tiny_path());
    test::write_diffusers_folder(*file, d);
    return d;
  }();
  return dir;
}

GenerationParams small_params() {
  GenerationParams p;
  p.prompt = "a red circle";
  p.negative_prompt = "blue";
  p.steps = 3;
  p.width = 64;
  p.height = 64;
  p.seed = 7;
  return p;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> x = a.cpu().to_f32_vector(), y = b.cpu().to_f32_vector();
  float m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

void copy_folder(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

}  // namespace

TEST_CASE("A diffusers folder gives the networks of the single file", "[diffusion][diffusers]") {
  const auto folder = StableDiffusion::load(diffusers_dir());
  const StableDiffusion& single = single_file();
  CHECK(folder->clip().config().num_heads == 4);
  CHECK(folder->unet().config().num_heads == 8);
  CHECK(folder->unet().config().channel_mult == single.unet().config().channel_mult);
  CHECK(folder->unet().config().attention_levels == single.unet().config().attention_levels);
  CHECK(folder->latent_scale() == kLatentScale);
  CHECK(folder->native_size() == 256);  // sample_size 32 times the VAE's 8
  CHECK(single.native_size() == 0);
  CHECK(folder->schedule().alphas_cumprod() == single.schedule().alphas_cumprod());

  const Tensor ids =
      Tensor::from_vector<int32_t>(single.tokenizer().encode_framed("a red circle"), {1, 77});
  const Tensor context = single.clip().encode(ids);
  CHECK(max_abs_diff(folder->clip().encode(ids), context) == 0.0f);

  const Tensor x = kernels::random_normal({1, 4, 8, 8}, 3, 0);
  const Tensor t = Tensor::full({1}, 500.0f);
  CHECK(max_abs_diff(folder->unet().predict_eps(x, t, context),
                     single.unet().predict_eps(x, t, context)) == 0.0f);
  CHECK(max_abs_diff(folder->vae().decode(x), single.vae().decode(x)) == 0.0f);
  const Tensor image = kernels::random_normal({1, 3, 64, 64}, 4, 0);
  CHECK(max_abs_diff(folder->vae().encode(image).mean, single.vae().encode(image).mean) == 0.0f);
}

TEST_CASE("txt2img from a diffusers folder equals the single file", "[diffusion][diffusers]") {
  const auto folder = StableDiffusion::load(diffusers_dir());
  const GenerationResult a = txt2img(*folder, small_params());
  const GenerationResult b = txt2img(single_file(), small_params());
  CHECK(max_abs_diff(a.latents, b.latents) == 0.0f);
  CHECK(max_abs_diff(a.images, b.images) == 0.0f);
}

TEST_CASE("A .ckpt of the checkpoint gives the image of the .safetensors", "[diffusion][ckpt]") {
  const fs::path ckpt = test::temp_dir("sd_ckpt") / "tiny.ckpt";
  {
    const auto file = ModelFile::open(tiny_path());
    test::write_torch_checkpoint(ckpt, test::tensors_under(*file, ""));
  }
  const auto sd = StableDiffusion::load(ckpt, reference_options());
  CHECK(sd->file().format() == ModelFormat::kTorch);
  CHECK(sd->file().contains("model.diffusion_model.input_blocks.0.0.weight"));
  const GenerationResult a = txt2img(*sd, small_params());
  const GenerationResult b = txt2img(single_file(), small_params());
  CHECK(max_abs_diff(a.latents, b.latents) == 0.0f);
  CHECK(max_abs_diff(a.images, b.images) == 0.0f);
}

TEST_CASE("A separate VAE file replaces the built-in one", "[diffusion][vae_file]") {
  const fs::path dir = test::temp_dir("sd_vae_file");
  const auto file = ModelFile::open(tiny_path());
  const GenerationResult reference = txt2img(single_file(), small_params());

  SECTION("original names without the prefix, as .safetensors and .pt") {
    write_safetensors(dir / "own.vae.safetensors",
                      test::tensors_under(*file, "first_stage_model."));
    test::write_torch_checkpoint(dir / "own.vae.pt",
                                 test::tensors_under(*file, "first_stage_model."));
    for (const char* name : {"own.vae.safetensors", "own.vae.pt"}) {
      StableDiffusionOptions o = reference_options();
      o.vae = dir / name;
      const auto sd = StableDiffusion::load(tiny_path(), o);
      CHECK(max_abs_diff(txt2img(*sd, small_params()).images, reference.images) == 0.0f);
    }
  }
  SECTION("diffusers names, new and old attention names, and a vae/ folder") {
    write_safetensors(dir / "new.safetensors", test::diffusers_vae_tensors(*file, false));
    write_safetensors(dir / "old.safetensors", test::diffusers_vae_tensors(*file, true));
    for (const fs::path& vae :
         {dir / "new.safetensors", dir / "old.safetensors", diffusers_dir() / "vae"}) {
      StableDiffusionOptions o = reference_options();
      o.vae = vae;
      const auto sd = StableDiffusion::load(tiny_path(), o);
      CHECK(max_abs_diff(txt2img(*sd, small_params()).images, reference.images) == 0.0f);
    }
  }
  SECTION("wrong shapes name the VAE file and the tensor") {
    test::NamedTensors vae = test::tensors_under(*file, "first_stage_model.");
    for (auto& [name, t] : vae)
      if (name == "decoder.mid.block_1.conv1.weight") t = t.narrow(1, 0, 64).contiguous();
    write_safetensors(dir / "bad.safetensors", vae);
    StableDiffusionOptions o = reference_options();
    o.vae = dir / "bad.safetensors";
    CHECK_THROWS_WITH(StableDiffusion::load(tiny_path(), o),
                      Contains("bad.safetensors") && Contains("decoder.mid.block_1.conv1.weight"));
    o.vae = dir / "missing.safetensors";
    CHECK_THROWS_WITH(StableDiffusion::load(tiny_path(), o), Contains("missing.safetensors"));
  }
}

TEST_CASE("A diffusers folder with PyTorch .bin weights loads the same", "[diffusion][diffusers]") {
  const fs::path model = test::temp_dir("sd_diffusers_bin") / "model";
  copy_folder(diffusers_dir(), model);
  for (const auto& [folder, stem, bin] :
       {std::tuple<std::string, std::string, std::string>{"unet", "diffusion_pytorch_model",
                                                          "diffusion_pytorch_model"},
        {"text_encoder", "model", "pytorch_model"}}) {
    const fs::path safetensors = model / folder / (stem + ".safetensors");
    {
      const auto file = ModelFile::open(safetensors);
      test::write_torch_checkpoint(model / folder / (bin + ".bin"), test::tensors_under(*file, ""),
                                   false);
    }
    fs::remove(safetensors);
  }
  const auto sd = StableDiffusion::load(model);
  CHECK(sd->file().format() == ModelFormat::kTorch);
  CHECK(max_abs_diff(txt2img(*sd, small_params()).images,
                     txt2img(single_file(), small_params()).images) == 0.0f);
}

TEST_CASE("Folders that are not diffusers models, or are incomplete, give one error",
          "[diffusion][diffusers]") {
  const fs::path root = test::temp_dir("sd_diffusers_errors");
  const fs::path empty = root / "empty";
  fs::create_directories(empty);
  CHECK_THROWS_WITH(StableDiffusion::load(empty),
                    Contains("empty") && Contains("not a diffusers model"));

  const fs::path broken = root / "broken";
  copy_folder(diffusers_dir(), broken);
  fs::remove_all(broken / "text_encoder");
  CHECK_THROWS_WITH(StableDiffusion::load(broken), Contains("no text_encoder/ subfolder"));

  copy_folder(diffusers_dir(), broken);
  fs::remove(broken / "unet" / "config.json");
  fs::remove(broken / "model_index.json");
  CHECK_THROWS_WITH(StableDiffusion::load(broken), Contains("not a diffusers model"));

  copy_folder(diffusers_dir(), broken);
  fs::remove(broken / "vae" / "config.json");
  CHECK_THROWS_WITH(StableDiffusion::load(broken),
                    Contains((broken / "vae" / "config.json").string()) && Contains("not found"));

  copy_folder(diffusers_dir(), broken);
  fs::remove(broken / "unet" / "diffusion_pytorch_model.safetensors");
  CHECK_THROWS_WITH(StableDiffusion::load(broken),
                    Contains("unet") && Contains("diffusion_pytorch_model.safetensors"));
}

TEST_CASE("A config that contradicts the tensors names the field", "[diffusion][diffusers]") {
  const fs::path broken = test::temp_dir("sd_diffusers_config") / "model";
  const auto edit = [&](const fs::path& relative, const std::string& field, nlohmann::json value) {
    copy_folder(diffusers_dir(), broken);
    nlohmann::json config;
    std::ifstream(broken / relative) >> config;
    config[field] = std::move(value);
    test::write_json(broken / relative, config);
  };
  edit("unet/config.json", "block_out_channels", {32, 64, 96, 128});
  CHECK_THROWS_WITH(StableDiffusion::load(broken),
                    Contains("unet/config.json") && Contains("block_out_channels[2]") &&
                        Contains("down_blocks.2.resnets.0.conv1.weight"));
  edit("unet/config.json", "cross_attention_dim", 768);
  CHECK_THROWS_WITH(StableDiffusion::load(broken),
                    Contains("cross_attention_dim") && Contains("768") && Contains("64"));
  edit("unet/config.json", "layers_per_block", 3);
  CHECK_THROWS_WITH(StableDiffusion::load(broken), Contains("layers_per_block"));
  edit("vae/config.json", "latent_channels", 16);
  CHECK_THROWS_WITH(StableDiffusion::load(broken),
                    Contains("vae/config.json") && Contains("latent_channels"));
  edit("text_encoder/config.json", "hidden_size", 768);
  CHECK_THROWS_WITH(StableDiffusion::load(broken),
                    Contains("text_encoder/config.json") && Contains("hidden_size"));
  edit("scheduler/scheduler_config.json", "prediction_type", "v_prediction");
  CHECK_THROWS_WITH(StableDiffusion::load(broken), Contains("prediction_type"));
  edit("scheduler/scheduler_config.json", "beta_schedule", "squaredcos_cap_v2");
  CHECK_THROWS_WITH(StableDiffusion::load(broken), Contains("beta_schedule"));
}

TEST_CASE("A diffusers folder's tokenizer/merges.txt is used when present",
          "[diffusion][diffusers]") {
  const fs::path model = test::temp_dir("sd_diffusers_tokenizer") / "model";
  copy_folder(diffusers_dir(), model);
  fs::create_directories(model / "tokenizer");
  std::ofstream(model / "tokenizer" / "merges.txt") << "#version: 0.2\nt h\n";
  CHECK_THROWS_WITH(StableDiffusion::load(model),
                    Contains("tokenizer/merges.txt") && Contains("merges"));
}

TEST_CASE("The scheduler config's beta values make the schedule", "[diffusion][diffusers]") {
  const fs::path model = test::temp_dir("sd_diffusers_schedule") / "model";
  copy_folder(diffusers_dir(), model);
  nlohmann::json config;
  std::ifstream(model / "scheduler" / "scheduler_config.json") >> config;
  config["beta_end"] = 0.02;
  config["beta_schedule"] = "linear";
  config["num_train_timesteps"] = 500;
  test::write_json(model / "scheduler" / "scheduler_config.json", config);
  const auto sd = StableDiffusion::load(model);
  REQUIRE(sd->schedule().timesteps() == 500);
  double product = 1;
  for (int t = 0; t < 500; ++t) product *= 1 - (0.00085 + (0.02 - 0.00085) * t / 499.0);
  CHECK(sd->schedule().alphas_cumprod().back() == Approx(product).epsilon(1e-6));
}

TEST_CASE("A diffusers folder's generation_defaults.json gives the model's own settings",
          "[diffusion][diffusers]") {
  // Without the file: Stable Diffusion's usual settings.
  const StableDiffusion& plain = single_file();
  CHECK(plain.defaults().steps == 20);
  CHECK(plain.defaults().cfg_scale == 7.5f);
  CHECK(plain.defaults().sampler == SamplerKind::kEulerAncestral);

  const fs::path model = test::temp_dir("sd_diffusers_defaults") / "model";
  copy_folder(diffusers_dir(), model);
  test::write_json(model / kGenerationDefaultsFile,
                   {{"num_inference_steps", 12}, {"guidance_scale", 2.5}, {"sampler", "DDIM"}});
  const auto sd = StableDiffusion::load(model, reference_options());
  CHECK(sd->defaults().steps == 12);
  CHECK(sd->defaults().cfg_scale == 2.5f);
  CHECK(sd->defaults().sampler == SamplerKind::kDdim);

  // Keys left out keep the usual settings.
  test::write_json(model / kGenerationDefaultsFile, {{"guidance_scale", 3}});
  const GenerationDefaults partial = read_generation_defaults(model / kGenerationDefaultsFile);
  CHECK(partial.steps == 20);
  CHECK(partial.cfg_scale == 3.0f);
  CHECK(partial.sampler == SamplerKind::kEulerAncestral);

  const auto rejects = [&](nlohmann::json config, const std::string& field,
                           const std::string& why) {
    test::write_json(model / kGenerationDefaultsFile, config);
    CHECK_THROWS_WITH(StableDiffusion::load(model),
                      Contains("generation_defaults.json") && Contains(field) && Contains(why));
  };
  rejects({{"num_inference_steps", 0}}, "num_inference_steps", "[1, 1000]");
  rejects({{"num_inference_steps", 2.5}}, "num_inference_steps", "integer");
  rejects({{"guidance_scale", -1}}, "guidance_scale", "[0, 100]");
  rejects({{"guidance_scale", "high"}}, "guidance_scale", "number");
  rejects({{"sampler", "heun"}}, "sampler", "unknown sampler 'heun'");
  rejects({{"sampler", 3}}, "sampler", "sampler name");
  std::ofstream(model / kGenerationDefaultsFile) << "{\"guidance_scale\": ";
  CHECK_THROWS_WITH(StableDiffusion::load(model),
                    Contains("generation_defaults.json") && Contains("malformed JSON"));
}

}  // namespace mmgen::diffusion
