// WebP through libwebp: lossless round trips exactly, lossy stays close, read_image
// recognises WebP files, and bad data gives one clear error.
#include "vision/webp.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "tests/support/test_support.h"
#include "vision/jpeg.h"

namespace mmgen::vision {
namespace {

Image gradient(int width, int height) {
  Image image(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 255 / (width - 1));
      p[1] = static_cast<uint8_t>(y * 255 / (height - 1));
      p[2] = static_cast<uint8_t>((x + y) % 256);
    }
  return image;
}

}  // namespace

TEST_CASE("Lossless WebP round-trips every pixel", "[webp]") {
  const Image image = gradient(37, 21);
  const std::vector<uint8_t> bytes = encode_webp(image);
  REQUIRE(is_webp(bytes));
  const Image back = decode_webp(bytes);
  CHECK(back.width == 37);
  CHECK(back.height == 21);
  CHECK(back.pixels == image.pixels);
}

TEST_CASE("Lossy WebP stays close to the picture", "[webp]") {
  const Image image = gradient(64, 48);
  const Image back = decode_webp(encode_webp(image, 90.0f));
  REQUIRE(back.pixels.size() == image.pixels.size());
  double sum = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i)
    sum += std::abs(static_cast<int>(back.pixels[i]) - static_cast<int>(image.pixels[i]));
  CHECK(sum / static_cast<double>(image.pixels.size()) < 6.0);
}

TEST_CASE("read_image opens WebP files and names bad ones", "[webp]") {
  const auto dir = test::temp_dir("webp_read");
  const Image image = gradient(16, 16);
  const std::vector<uint8_t> bytes = encode_webp(image);
  {
    std::ofstream out(dir / "pic.webp", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  CHECK(read_image(dir / "pic.webp").pixels == image.pixels);
  {
    std::ofstream out(dir / "cut.webp", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), 20);
  }
  CHECK_THROWS_WITH(read_image(dir / "cut.webp"),
                    Catch::Contains("cut.webp") && Catch::Contains("WebP"));
  CHECK_THROWS_WITH(decode_webp({'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'}, "x.webp"),
                    Catch::Contains("x.webp"));
}

}  // namespace mmgen::vision
