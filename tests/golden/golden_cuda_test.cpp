// The golden fixtures again, with every kind computing on the first CUDA device:
// the same references and tolerances as on the CPU. MMGEN_GOLDEN_FAMILIES (comma
// separated, e.g. "llm,tts") limits the run to the families whose fixtures are
// present, for machines that hold only part of ../shared/golden.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/golden.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> families() {
  const char* env = std::getenv("MMGEN_GOLDEN_FAMILIES");
  std::string text = env && *env ? env : "llm,sd1,tts";
  std::vector<std::string> names;
  std::stringstream stream(text);
  for (std::string name; std::getline(stream, name, ',');)
    if (!name.empty()) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("golden fixtures on CUDA: every implemented case matches the reference",
          "[cuda][golden]") {
  register_all_golden_kinds();
  int passed = 0;
  for (const std::string& family : families()) {
    const fs::path path = test::golden_file(family + "/manifest.json");  // fails when missing
    const GoldenManifest manifest = load_golden_manifest(path);
    GoldenRunOptions options;
    options.device = Device::cuda();
    for (const GoldenCaseResult& result : run_golden_manifest(manifest, options)) {
      const std::string name = family + "/" + result.name;
      INFO(name << ": " << format_golden_result(result) << "\n    " << result.message);
      CHECK((result.status == GoldenStatus::kPassed ||
             result.status == GoldenStatus::kNotImplemented));
      if (result.status == GoldenStatus::kPassed) ++passed;
    }
  }
  WARN("golden on CUDA: " << passed << " cases passed");
  REQUIRE(passed > 0);
}

}  // namespace mmgen
