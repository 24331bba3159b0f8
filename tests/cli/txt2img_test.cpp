// `mmgen txt2img` / `mmgen img2img` as a user runs them on the tiny SD1 golden
// checkpoint: a PNG whose parameters chunk reads back, and one-line errors with
// no output file.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>

#include "core/safetensors.h"
#include "core/sha256.h"
#include "diffusion/png_parameters.h"
#include "tests/diffusion/sd_layout_writers.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "vision/png.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

using CliRun = test::CommandRun;

std::string quoted(const std::string& s) { return test::shell_quoted(s); }

CliRun run(const std::string& args) {
  return test::run_command(quoted(MMGEN_CLI_PATH) + " " + args + " 2>&1 </dev/null");
}

std::string model() { return quoted(test::golden_file("sd1/sd1_tiny.safetensors").string()); }

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

}  // namespace

TEST_CASE("mmgen txt2img writes a PNG whose parameters read back", "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_txt2img");
  const auto out = dir / "x.png";
  const CliRun r = run("txt2img -m " + model() +
                       " -p 'a red circle, flat' -n 'blurry' -W 64 -H 64 --steps 4 --seed 7 -o " +
                       quoted(out.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("wrote") && Contains("seed 7"));
  const vision::PngFile png = vision::read_png(out);
  CHECK(png.image.width == 64);
  CHECK(png.image.height == 64);
  const diffusion::PngParameters p = diffusion::parse_png_parameters(png.text_value("parameters"));
  CHECK(p.prompt == "a red circle, flat");
  CHECK(p.negative_prompt == "blurry");
  CHECK(p.field("Steps") == "4");
  CHECK(p.field("Sampler") == "Euler a");
  CHECK(p.field("CFG scale") == "7.5");
  CHECK(p.field("Seed") == "7");
  CHECK(p.field("Size") == "64x64");
  CHECK(p.field("Model") == "sd1_tiny");
  CHECK(p.field("Model hash") ==
        sha256_file_hex(test::golden_file("sd1/sd1_tiny.safetensors")).substr(0, 10));

  // The same seed makes the same image.
  const auto again = dir / "again.png";
  REQUIRE(run("txt2img -m " + model() + " -p 'a red circle, flat' -n 'blurry' -W 64 -H 64 " +
              "--steps 4 --seed 7 -o " + quoted(again.string()))
              .exit_code == 0);
  CHECK(vision::read_png(again).image.pixels == png.image.pixels);
}

TEST_CASE("mmgen txt2img --batch writes numbered files with their own seeds", "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_txt2img_batch");
  const CliRun r = run("txt2img -m " + model() + " -p cat -W 64 -H 64 --steps 2 --sampler ddim " +
                       "--seed 20 --batch 2 -o " + quoted((dir / "b.png").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto first =
      diffusion::parse_png_parameters(vision::read_png(dir / "b.png").text_value("parameters"));
  const auto second =
      diffusion::parse_png_parameters(vision::read_png(dir / "b-1.png").text_value("parameters"));
  CHECK(first.field("Seed") == "20");
  CHECK(second.field("Seed") == "21");
  CHECK(second.field("Sampler") == "DDIM");
}

TEST_CASE("mmgen img2img redraws a PNG", "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_img2img");
  REQUIRE(run("txt2img -m " + model() + " -p cat -W 64 -H 64 --steps 2 --seed 1 -o " +
              quoted((dir / "in.png").string()))
              .exit_code == 0);
  const CliRun r = run("img2img -m " + model() + " -p dog -i " + quoted((dir / "in.png").string()) +
                       " -W 64 -H 64 --steps 4 --strength 0.5 --seed 2 -o " +
                       quoted((dir / "out.png").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto p =
      diffusion::parse_png_parameters(vision::read_png(dir / "out.png").text_value("parameters"));
  CHECK(p.field("Denoising strength") == "0.5");
  const CliRun wrong =
      run("img2img -m " + model() + " -p dog -i " + quoted((dir / "in.png").string()) +
          " -W 128 -H 64 -o " + quoted((dir / "bad.png").string()));
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.output, Contains("is 64x64"));
  CHECK_FALSE(std::filesystem::exists(dir / "bad.png"));
}

TEST_CASE("mmgen txt2img errors are one line and leave no file", "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_txt2img_errors");
  const std::string out = " -o " + quoted((dir / "e.png").string());
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"-m " + model() + " -p cat -W 60 -H 64", "--width must be a multiple of 8"},
      {"-m " + model() + " -p cat -W 64 -H 100", "--height must be a multiple of 8"},
      {"-m " + model() + " -p ''", "the prompt is empty"},
      {"-m /nonexistent/model.safetensors -p cat",
       "/nonexistent/model.safetensors: model file not found"},
      {"-m " + model() + " -p cat --sampler heun", "unknown sampler 'heun'"},
      {"-m " + model() + " -p cat -W 72 -H 64", "width 72 must be a multiple of 64"},
  };
  for (const Case& c : cases) {
    const CliRun r = run("txt2img " + c.args + out);
    INFO(c.args << "\n" << r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("mmgen: error: " + c.message));
    CHECK(count_lines(r.output) == 1);
    CHECK(std::filesystem::is_empty(dir));
  }
}

TEST_CASE("mmgen txt2img --vae and a diffusers folder give the checkpoint's image",
          "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_txt2img_vae");
  const auto checkpoint = ModelFile::open(test::golden_file("sd1/sd1_tiny.safetensors"));
  write_safetensors(dir / "own.vae.safetensors",
                    test::tensors_under(*checkpoint, "first_stage_model."));
  const std::string args = " -p 'a red circle' -W 64 -H 64 --steps 3 --seed 5 -o ";
  REQUIRE(run("txt2img -m " + model() + args + quoted((dir / "plain.png").string())).exit_code ==
          0);
  const CliRun r =
      run("txt2img -m " + model() + " --vae " + quoted((dir / "own.vae.safetensors").string()) +
          args + quoted((dir / "vae.png").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const vision::PngFile plain = vision::read_png(dir / "plain.png");
  const vision::PngFile with_vae = vision::read_png(dir / "vae.png");
  CHECK(with_vae.image.pixels == plain.image.pixels);
  const auto vae_meta = diffusion::parse_png_parameters(with_vae.text_value("parameters"));
  CHECK(vae_meta.field("VAE") == "own.vae.safetensors");
  CHECK(vae_meta.field("VAE hash") == sha256_file_hex(dir / "own.vae.safetensors").substr(0, 10));
  CHECK(diffusion::parse_png_parameters(plain.text_value("parameters")).field("VAE").empty());

  // The folder states CLIP's 4 heads, which the CLI gives the single file no way to
  // set (it uses hidden / 64), so only the run and its metadata are compared here.
  test::write_diffusers_folder(*checkpoint, dir / "tiny-folder");
  const CliRun f = run("txt2img -m " + quoted((dir / "tiny-folder").string() + "/") + args +
                       quoted((dir / "folder.png").string()));
  INFO(f.output);
  REQUIRE(f.exit_code == 0);
  const auto p = diffusion::parse_png_parameters(
      vision::read_png(dir / "folder.png").text_value("parameters"));
  CHECK(p.field("Model") == "tiny-folder");
  CHECK(p.field("Model hash").empty());

  const CliRun missing =
      run("txt2img -m " + model() + " --vae " + quoted((dir / "none.safetensors").string()) + args +
          quoted((dir / "e.png").string()));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("none.safetensors: VAE file not found (--vae)"));
  CHECK_FALSE(std::filesystem::exists(dir / "e.png"));
}

}  // namespace mmgen
