// The face networks on CUDA give what they give on the CPU (face-api sample 2).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "tests/support/test_support.h"
#include "vision/face_analysis.h"
#include "vision/jpeg.h"

namespace mmgen::vision {

TEST_CASE("Face detection and landmarks on CUDA match the CPU", "[cuda][faces]") {
  namespace fs = std::filesystem;
  const fs::path dir = test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  MMGEN_CHECK(fs::exists(dir / "samples" / "sample5.jpg"), dir.string(),
              ": face-api models not fetched (run scripts/fetch_face_models.sh)");
  const Image image = read_jpeg(dir / "samples" / "sample5.jpg");
  const auto cpu = FaceAnalyzer::load(dir / "model").analyse(image);
  const auto cuda = FaceAnalyzer::load(dir / "model", {}, Device::cuda(0)).analyse(image);
  REQUIRE(cpu.size() == 5);
  REQUIRE(cuda.size() == cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    CHECK(std::abs(cuda[i].box.left - cpu[i].box.left) < 0.05);
    CHECK(std::abs(cuda[i].box.bottom - cpu[i].box.bottom) < 0.05);
    for (size_t k = 0; k < 68; ++k) {
      CHECK(std::abs(cuda[i].landmarks[k].x - cpu[i].landmarks[k].x) < 0.05);
      CHECK(std::abs(cuda[i].landmarks[k].y - cpu[i].landmarks[k].y) < 0.05);
    }
  }
}

}  // namespace mmgen::vision
