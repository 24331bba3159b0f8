// JPEG decoding through libjpeg, and read_image telling PNG from JPEG.
#include "vision/jpeg.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/test_support.h"
#include "vision/png.h"

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;

fs::path sample(const std::string& name) {
  return test::test_data_dir() / ".." / ".." / "third_party" / "face-api" / "samples" / name;
}

}  // namespace

TEST_CASE("JPEG samples decode to their size", "[jpeg]") {
  const fs::path path = sample("sample2.jpg");
  if (!fs::exists(path)) FAIL(path.string() << " missing: run scripts/fetch_face_models.sh");
  const Image image = read_image(path);
  CHECK(image.width == 1920);
  CHECK(image.height == 1367);
  // Not a flat picture: the pixel values spread.
  int lo = 255, hi = 0;
  for (uint8_t v : image.pixels) lo = std::min<int>(lo, v), hi = std::max<int>(hi, v);
  CHECK(hi - lo > 200);
}

TEST_CASE("Bad JPEG data gives one clear error", "[jpeg]") {
  const auto dir = test::temp_dir("jpeg_bad");
  CHECK_THROWS_WITH(decode_jpeg({1, 2, 3}, "x.jpg"),
                    Catch::Contains("x.jpg") && Catch::Contains("not a JPEG"));
  CHECK_THROWS_WITH(decode_jpeg({0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J'}, "cut.jpg"),
                    Catch::Contains("cut.jpg") && Catch::Contains("invalid JPEG"));
  std::ofstream(dir / "text.png") << "plain text, not a picture";
  CHECK_THROWS_WITH(read_image(dir / "text.png"),
                    Catch::Contains("text.png") && Catch::Contains("not a PNG, JPEG or WebP"));
  CHECK_THROWS_WITH(read_image(dir / "absent.jpg"), Catch::Contains("absent.jpg"));
}

TEST_CASE("read_image reads PNG files too", "[jpeg]") {
  const auto dir = test::temp_dir("jpeg_png");
  Image image(5, 3);
  image.pixel(4, 2)[1] = 200;
  write_png(dir / "p.png", image);
  const Image back = read_image(dir / "p.png");
  CHECK(back.width == 5);
  CHECK(back.pixels == image.pixels);
}

}  // namespace mmgen::vision
