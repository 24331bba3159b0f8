// Every golden manifest under ../shared/golden runs through the public runner:
// each case of a kind a model family implements must pass; cases of kinds that
// no family implements yet are listed by name (never counted as passed).
#include "core/golden.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;

// The families whose fixtures must be present.
const std::vector<std::string> kFamilies = {"llm", "sd1", "tts"};

std::vector<fs::path> manifests() {
  const fs::path root = test::golden_dir();  // fails loudly when the folder is missing
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "manifest.json"))
      found.push_back(entry.path() / "manifest.json");
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

TEST_CASE("golden fixtures: every family's manifest is present", "[golden]") {
  for (const std::string& family : kFamilies) {
    INFO("family " << family);
    CHECK_NOTHROW(test::golden_file(family + "/manifest.json"));
  }
}

TEST_CASE("golden fixtures: every implemented case matches the reference", "[golden]") {
  register_all_golden_kinds();
  const auto paths = manifests();
  REQUIRE(paths.size() >= kFamilies.size());
  int passed = 0, not_implemented = 0;
  for (const fs::path& path : paths) {
    const std::string family = path.parent_path().filename().string();
    GoldenManifest manifest;
    REQUIRE_NOTHROW(manifest = load_golden_manifest(path));
    CHECK_FALSE(manifest.cases.empty());
    for (const GoldenCaseResult& result : run_golden_manifest(manifest)) {
      const std::string name = family + "/" + result.name;
      switch (result.status) {
        case GoldenStatus::kPassed:
          ++passed;
          SUCCEED(name);
          break;
        case GoldenStatus::kNotImplemented:
          ++not_implemented;
          WARN("not implemented: " << name << " (kind " << result.kind << ")");
          break;
        case GoldenStatus::kFailed:
        case GoldenStatus::kError:
          // A registered kind that fails, or a case whose references do not resolve.
          FAIL_CHECK(name << ": " << format_golden_result(result)
                          << (result.status == GoldenStatus::kFailed ? "\n    " + result.message
                                                                     : std::string()));
          break;
      }
    }
  }
  WARN("golden: " << passed << " cases passed, " << not_implemented << " not implemented");
}

}  // namespace mmgen
