// `mmgen txt2img` and `mmgen img2img`: Stable Diffusion 1.x images from a prompt
// (and a starting image), written as PNG files that carry their settings in a
// "parameters" text chunk (docs/txt2img.md).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include "core/error.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/shipped_files.h"
#include "core/thread_pool.h"
#include "diffusion/png_parameters.h"
#include "diffusion/txt2img.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "vision/image.h"
#include "vision/png.h"

namespace mmgen::cli {
namespace {

namespace fs = std::filesystem;

struct ImageOptions {
  // A path, or the name of a default model (models/): shapes-sd, the project's own small
  // model of flat-shape scenes (docs/default-models.md).
  std::string model = "shapes-sd";
  std::string vae;  // empty: the checkpoint's own VAE
  std::string prompt;
  std::string negative;
  // Unset: the model's own (a diffusers folder's generation_defaults.json), else 20
  // steps of Euler a at guidance 7.5.
  std::optional<int> steps;
  std::optional<float> cfg;
  std::optional<std::string> sampler;
  std::optional<uint64_t> seed;
  // Unset: the model's native size (a diffusers unet/config.json sample_size times the
  // VAE factor), the starting image's size for img2img, else 512.
  std::optional<int> width;
  std::optional<int> height;
  int batch = 1;
  int clip_skip = 1;
  int threads = 0;
  std::string device = "cpu";
  std::string output = "output.png";
  // img2img
  std::string init_image;
  float strength = 0.75f;
};

// Image 0 goes to the output path; image i > 0 of a batch to "<stem>-<i><ext>".
fs::path batch_path(const fs::path& output, int index) {
  if (index == 0) return output;
  return output.parent_path() /
         (output.stem().string() + "-" + std::to_string(index) + output.extension().string());
}

// Checks that need no model, so a bad command line fails before the load.
void check_options(const ImageOptions& o) {
  MMGEN_CHECK(!o.prompt.empty(), "the prompt is empty; give the image description with -p");
  MMGEN_CHECK(!o.width || (*o.width >= 64 && *o.width % 8 == 0),
              "--width must be a multiple of 8 and >= 64, got ", o.width.value_or(0));
  MMGEN_CHECK(!o.height || (*o.height >= 64 && *o.height % 8 == 0),
              "--height must be a multiple of 8 and >= 64, got ", o.height.value_or(0));
  MMGEN_CHECK(!o.steps || *o.steps >= 1, "--steps must be >= 1, got ", o.steps.value_or(0));
  if (o.sampler) diffusion::parse_sampler(*o.sampler);
  MMGEN_CHECK(o.batch >= 1 && o.batch <= 64, "--batch must be in [1, 64], got ", o.batch);
  MMGEN_CHECK(o.clip_skip >= 1, "--clip-skip must be >= 1, got ", o.clip_skip);
  MMGEN_CHECK(o.threads >= 0, "--threads must be >= 0, got ", o.threads);
  MMGEN_CHECK(!o.output.empty(), "the output path is empty");
  MMGEN_CHECK(o.vae.empty() || fs::exists(o.vae), o.vae, ": VAE file not found (--vae)");
  const fs::path dir = fs::path(o.output).parent_path();
  MMGEN_CHECK(dir.empty() || fs::is_directory(dir), o.output, ": the folder ", dir.string(),
              " does not exist");
}

int run_image(ImageOptions o, bool img2img) {
  check_options(o);
  o.model = resolve_model_argument(o.model).string();
  if (img2img)
    MMGEN_CHECK(o.strength > 0.0f && o.strength <= 1.0f, "--strength must be in (0, 1], got ",
                o.strength);
  if (o.threads > 0) set_num_threads(o.threads);
  const Device device = resolve_device(o.device);
  diffusion::GenerationParams params;
  params.prompt = o.prompt;
  params.negative_prompt = o.negative;
  params.batch = o.batch;
  params.clip_skip = o.clip_skip;
  params.strength = o.strength;
  if (o.seed) {
    params.seed = *o.seed;
  } else {
    // 32-bit like the web UI's seeds, so they are easy to copy back.
    params.seed = std::random_device{}();
  }

  // Read the starting image before the (slow) model load, so a bad path fails fast.
  Tensor init;
  if (img2img) {
    const vision::PngFile png = vision::read_png(o.init_image);
    params.width = o.width.value_or(png.image.width);
    params.height = o.height.value_or(png.image.height);
    MMGEN_CHECK(png.image.width == params.width && png.image.height == params.height, o.init_image,
                ": is ", png.image.width, "x", png.image.height, "; give -W ", png.image.width,
                " -H ", png.image.height, " (or resize it)");
    init = vision::image_to_tensor(png.image);
  }

  const auto start = std::chrono::steady_clock::now();
  diffusion::StableDiffusionOptions load_options;
  load_options.vae = o.vae;
  const auto sd = diffusion::StableDiffusion::load(o.model, load_options, device);
  if (!img2img) {
    const int native = sd->native_size() > 0 ? static_cast<int>(sd->native_size()) : 512;
    params.width = o.width.value_or(native);
    params.height = o.height.value_or(native);
  }
  const diffusion::GenerationDefaults& defaults = sd->defaults();
  params.steps = o.steps.value_or(defaults.steps);
  params.cfg_scale = o.cfg.value_or(defaults.cfg_scale);
  params.sampler = o.sampler ? diffusion::parse_sampler(*o.sampler) : defaults.sampler;
  diffusion::check_generation_params(*sd, params);
  const ProgressCallback progress =
      stderr_is_terminal() ? terminal_progress_bar() : ProgressCallback();
  const diffusion::GenerationResult result = img2img
                                                 ? diffusion::img2img(*sd, init, params, progress)
                                                 : diffusion::txt2img(*sd, params, progress);
  const Tensor images = result.images.cpu();  // the PNG writer reads host memory

  // A diffusers folder has no single file to hash: its name is recorded alone.
  const bool folder = fs::is_directory(o.model);
  const std::string hash = folder ? "" : diffusion::model_hash(sha256_file_hex(o.model));
  const std::string model_name = diffusion::model_name(o.model);
  // A separate VAE is recorded as the web UI does: "VAE hash" (first 10 hex digits of
  // the file's SHA-256, files only) and "VAE" (the file name with its extension).
  const bool vae_file = !o.vae.empty() && fs::is_regular_file(o.vae);
  const std::string vae_hash = vae_file ? diffusion::model_hash(sha256_file_hex(o.vae)) : "";
  const fs::path vae_path = fs::path(o.vae).lexically_normal();
  const std::string vae_name =
      (vae_path.has_filename() ? vae_path : vae_path.parent_path()).filename().string();
  for (int i = 0; i < params.batch; ++i) {
    diffusion::PngParameters meta;
    meta.prompt = params.prompt;
    meta.negative_prompt = params.negative_prompt;
    meta.fields = {{"Steps", std::to_string(params.steps)},
                   {"Sampler", diffusion::sampler_name(params.sampler)},
                   {"CFG scale", nlohmann::json(params.cfg_scale).dump()},
                   {"Seed", std::to_string(result.seeds[i])},
                   {"Size", std::to_string(params.width) + "x" + std::to_string(params.height)}};
    if (!hash.empty()) meta.fields.emplace_back("Model hash", hash);
    meta.fields.emplace_back("Model", model_name);
    if (!vae_hash.empty()) meta.fields.emplace_back("VAE hash", vae_hash);
    if (!o.vae.empty()) meta.fields.emplace_back("VAE", vae_name);
    if (params.clip_skip > 1)
      meta.fields.emplace_back("Clip skip", std::to_string(params.clip_skip));
    if (img2img)
      meta.fields.emplace_back("Denoising strength", nlohmann::json(params.strength).dump());
    const vision::Image image = vision::image_from_tensor(images.narrow(0, i, 1));
    vision::write_png(batch_path(o.output, i), image,
                      {{"parameters", diffusion::format_png_parameters(meta)}});
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(
      stderr, "wrote %s%s (%dx%d, %d steps, %s, seed %llu) in %s\n", o.output.c_str(),
      params.batch > 1 ? (" and " + std::to_string(params.batch - 1) + " more").c_str() : "",
      params.width, params.height, params.steps, diffusion::sampler_name(params.sampler).c_str(),
      static_cast<unsigned long long>(params.seed), format_duration(seconds).c_str());
  return 0;
}

void add_image_options(CLI::App& app, ImageOptions& o) {
  app.add_option("-m,--model", o.model,
                 "Stable Diffusion 1.x checkpoint (.safetensors or .ckpt), diffusers folder, or "
                 "the name of a default model (default: shapes-sd)");
  app.add_option("--vae", o.vae,
                 "VAE to use instead of the model's (.safetensors/.ckpt/.pt, original or "
                 "diffusers names, or a diffusers vae/ folder)");
  app.add_option("-p,--prompt", o.prompt, "What the image shows")->required();
  app.add_option("-n,--negative-prompt", o.negative, "What the image should not show");
  app.add_option("--steps", o.steps, "Sampling steps (default: the model's, else 20)");
  app.add_option("--cfg,--cfg-scale", o.cfg,
                 "Classifier-free guidance scale (default: the model's, else 7.5)");
  app.add_option("--sampler", o.sampler,
                 "Sampler: " + diffusion::sampler_choices() +
                     " (or the web UI names, e.g. \"DPM++ 2M Karras\"; default: the model's, "
                     "else Euler a)");
  app.add_option("-s,--seed", o.seed, "Random seed (default: a random one, recorded in the PNG)");
  app.add_option("-W,--width", o.width,
                 "Image width in pixels (a multiple of 64 for SD 1.x; default: the model's native "
                 "size when its config states one, else 512)");
  app.add_option("-H,--height", o.height, "Image height in pixels (default as for --width)");
  app.add_option("-b,--batch", o.batch,
                 "Images to make; image i uses seed + i and goes to <output stem>-<i>.png")
      ->capture_default_str();
  app.add_option("--clip-skip", o.clip_skip, "Use the CLIP layer this far from the last (1: last)")
      ->capture_default_str();
  app.add_option("-t,--threads", o.threads, "CPU threads (default: all cores)");
  add_device_option(app, o.device);
  app.add_option("-o,--output", o.output, "Output PNG path")->capture_default_str();
}

}  // namespace

Command make_txt2img_command() {
  auto o = std::make_shared<ImageOptions>();
  Command command;
  command.attach_fn = [o](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand("txt2img", "Make images from a prompt (Stable Diffusion 1.x)");
    add_image_options(*self.app, *o);
  };
  command.run = [o] { return run_image(*o, false); };
  return command;
}

Command make_img2img_command() {
  auto o = std::make_shared<ImageOptions>();
  Command command;
  command.attach_fn = [o](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand("img2img",
                                     "Redraw an image following a prompt (Stable Diffusion 1.x)");
    add_image_options(*self.app, *o);
    self.app->add_option("-i,--init-img", o->init_image, "Starting image (PNG of the output size)")
        ->required();
    self.app
        ->add_option("--strength", o->strength,
                     "How much to change the image: 0 keeps it, 1 ignores it")
        ->capture_default_str();
  };
  command.run = [o] { return run_image(*o, true); };
  return command;
}

}  // namespace mmgen::cli
