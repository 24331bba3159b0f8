// PNG write/read round trips with text metadata, and clear errors for bad data.
#include "vision/png.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/test_support.h"
#include "vision/image.h"

namespace mmgen::vision {
namespace {

Image gradient(int w, int h) {
  Image image(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 255 / (w - 1));
      p[1] = static_cast<uint8_t>(y * 255 / (h - 1));
      p[2] = static_cast<uint8_t>((x * 31 + y * 17) & 255);
    }
  return image;
}

}  // namespace

TEST_CASE("PNG round trip keeps pixels and text chunks", "[png]") {
  const auto dir = test::temp_dir("png_round_trip");
  const Image image = gradient(37, 21);
  const PngText text = {{"parameters", "a cat\nNegative prompt: dog\nSteps: 20, Seed: 1"},
                        {"Comment", "caf\xc3\xa9 \xe7\x8c\xab"}};
  write_png(dir / "x.png", image, text);
  const PngFile back = read_png(dir / "x.png");
  CHECK(back.image.width == 37);
  CHECK(back.image.height == 21);
  CHECK(back.image.pixels == image.pixels);
  REQUIRE(back.text.size() == 2);
  CHECK(back.text_value("parameters") == text[0].second);
  CHECK(back.text_value("Comment") == text[1].second);
  CHECK(back.text_value("absent").empty());
  // Only the final file remains: the temporary name was renamed away.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 1);
}

TEST_CASE("image tensors convert with rounding and clamping", "[png]") {
  const Tensor x =
      Tensor::from_vector(std::vector<float>{0.0f, 0.5f, 1.2f, -0.1f, 0.25f, 1.0f}, {1, 3, 1, 2});
  const Image image = image_from_tensor(x);
  REQUIRE(image.width == 2);
  REQUIRE(image.height == 1);
  // Pixel 0 takes element 0 of each plane (0, 1.2, 0.25); pixel 1 (0.5, -0.1, 1.0).
  CHECK(std::vector<int>(image.pixels.begin(), image.pixels.end()) ==
        std::vector<int>{0, 255, 64, 128, 0, 255});
  const std::vector<float> back = image_to_tensor(image).to_f32_vector();
  CHECK(back[0] == Approx(0.0f));
  CHECK(back[1] == Approx(128.0f / 255.0f));
  CHECK(back[2] == Approx(1.0f));
}

TEST_CASE("PNG errors name the file and the problem", "[png]") {
  const auto dir = test::temp_dir("png_errors");
  CHECK_THROWS_WITH(read_png(dir / "missing.png"), Catch::Contains("missing.png"));
  std::ofstream(dir / "text.png") << "not a png at all";
  CHECK_THROWS_WITH(read_png(dir / "text.png"), Catch::Contains("not a PNG"));
  std::vector<uint8_t> bytes = encode_png(gradient(16, 16));
  bytes.resize(bytes.size() / 2);
  CHECK_THROWS_WITH(decode_png(bytes, "half.png"), Catch::Contains("half.png: invalid PNG"));
  CHECK_THROWS_WITH(encode_png(gradient(4, 4), {{"", "x"}}), Catch::Contains("keyword"));
  Image broken;
  CHECK_THROWS_WITH(encode_png(broken), Catch::Contains("malformed image"));
}

}  // namespace mmgen::vision
