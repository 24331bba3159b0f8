// `mmgen faces` run as a user runs it on face-api's sample pictures: the JSON carries the
// reference's boxes, -o writes an annotated PNG, bad input is one clear line.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using CliRun = test::CommandRun;

CliRun run_mmgen(const std::string& arguments, bool with_stderr) {
  return test::run_command(test::shell_quoted(MMGEN_CLI_PATH) + " " + arguments +
                           (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

fs::path face_api_dir() {
  const fs::path dir = test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  if (!fs::exists(dir / "model")) FAIL(dir.string() << ": run scripts/fetch_face_models.sh");
  return fs::canonical(dir);
}

}  // namespace

TEST_CASE("mmgen faces prints the reference's boxes as JSON", "[cli][faces]") {
  const fs::path dir = face_api_dir();
  const CliRun run = run_mmgen("faces -i '" + (dir / "samples" / "sample3.jpg").string() +
                                   "' --json --models '" + (dir / "model").string() + "'",
                               false);
  REQUIRE(run.exit_code == 0);
  const nlohmann::json ours = nlohmann::json::parse(run.output);
  std::ifstream in(test::test_data_dir() / "faces" / "face_api_reference.json");
  const nlohmann::json ref = nlohmann::json::parse(in)["images"][2];
  REQUIRE(ref["image"] == "sample3.jpg");
  REQUIRE(ours["faces"].size() == ref["faces"].size());
  for (size_t i = 0; i < ref["faces"].size(); ++i) {
    for (const char* edge : {"left", "top", "right", "bottom"}) {
      CHECK(std::abs(ours["faces"][i]["box"][edge].get<double>() -
                     ref["faces"][i]["box"][edge].get<double>()) < 2.0);
    }
    CHECK(ours["faces"][i]["landmarks68"].size() == 68);
  }
}

TEST_CASE("mmgen faces writes an annotated PNG", "[cli][faces]") {
  const fs::path dir = face_api_dir();
  const fs::path out = test::temp_dir("cli_faces") / "annotated.png";
  const CliRun run = run_mmgen(
      "faces -i '" + (dir / "samples" / "sample2.jpg").string() + "' -o '" + out.string() + "'",
      false);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("1 face(s)"));
  CHECK(fs::file_size(out) > 100000);
}

TEST_CASE("mmgen faces reports bad input in one line", "[cli][faces]") {
  const fs::path tmp = test::temp_dir("cli_faces_bad");
  std::ofstream(tmp / "notes.jpg") << "not a picture";
  CliRun run = run_mmgen("faces -i '" + (tmp / "notes.jpg").string() + "'", true);
  CHECK(run.exit_code != 0);
  CHECK_THAT(run.output, Contains("notes.jpg") && Contains("not a PNG, JPEG or WebP"));
  run = run_mmgen("faces -i x.jpg --models '" + tmp.string() + "'", true);
  CHECK(run.exit_code != 0);
  CHECK_THAT(run.output, Contains("tiny_face_detector_model-weights_manifest.json"));
}

}  // namespace mmgen
