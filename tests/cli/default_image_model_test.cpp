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

}  // namespace

TEST_CASE("mmgen txt2img renders with shapes-sd when no model is given", "[cli][txt2img]") {
  const auto dir = test::temp_dir("cli_default_image");
  const auto out = dir / "scene.png";
  const test::CommandRun r = test::run_command(
      quoted(MMGEN_CLI_PATH) +
      " txt2img -p 'a red circle above a blue square on a yellow background' --steps 20 "
      "--cfg 5 --sampler euler --seed 0 -o " +
      quoted(out.string()) + " 2>&1 </dev/null");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const vision::PngFile png = vision::read_png(out);
  CHECK(png.image.width == 64);
  CHECK(png.image.height == 64);
  const diffusion::PngParameters p = diffusion::parse_png_parameters(png.text_value("parameters"));
  CHECK(p.field("Model") == "shapes-sd");
  CHECK(p.field("Size") == "64x64");
  // The background is most of the picture: its corner pixel is yellow.
  const auto& px = png.image.pixels;
  CHECK(px[0] > 180);
  CHECK(px[1] > 180);
  CHECK(px[2] < 100);
}

}  // namespace mmgen
