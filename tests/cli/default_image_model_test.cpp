// `mmgen txt2img` without -m: the default image model, shapes-sd, at its native size
// (built once models/shapes-sd is in the source tree, like its own tests).
#include <catch2/catch.hpp>

#include "diffusion/png_parameters.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "vision/png.h"

namespace mmgen {
namespace {

std::string quoted(const std::string& s) { return test::shell_quoted(s); }

// A picture drawn with shapes-sd and the settings of its generation_defaults.json:
// native size, and the model and settings recorded in its parameters.
diffusion::PngParameters check_default_image(const vision::PngFile& png) {
  CHECK(png.image.width == 64);
  CHECK(png.image.height == 64);
  const diffusion::PngParameters p = diffusion::parse_png_parameters(png.text_value("parameters"));
  CHECK(p.field("Model") == "shapes-sd");
  CHECK(p.field("Steps") == "20");
  CHECK(p.field("CFG scale") == "2.0");
  CHECK(p.field("Sampler") == "Euler");
  return p;
}

}  // namespace

TEST_CASE("mmgen txt2img renders with shapes-sd and its own settings when none are given",
          "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_default_image");
  const auto out = dir / "scene.png";
  const test::CommandRun r = test::run_command(
      quoted(MMGEN_CLI_PATH) +
      " txt2img -p 'a red circle above a blue square on a yellow background' --seed 0 -o " +
      quoted(out.string()) + " 2>&1 </dev/null");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const vision::PngFile png = vision::read_png(out);
  CHECK(check_default_image(png).field("Size") == "64x64");
  // The background is most of the picture: its corner pixel is yellow.
  const auto& px = png.image.pixels;
  CHECK(px[0] > 180);
  CHECK(px[1] > 180);
  CHECK(px[2] < 100);
}

TEST_CASE("The text-to-image workflow draws with shapes-sd and its own settings",
          "[cli][pipelines]") {
  const auto dir = test::temp_dir("cli_default_image_pipeline");
  const test::CommandRun r = test::run_command(
      quoted(MMGEN_CLI_PATH) + " run text-to-image -o " + quoted(dir.string()) +
      " --set 'prompt=a green triangle on the left on a white background' --set seed=3 2>&1 "
      "</dev/null");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  check_default_image(vision::read_png(dir / "image.png"));
}

}  // namespace mmgen
