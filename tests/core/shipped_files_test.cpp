// Default models by name: $MMGEN_MODELS_DIR first, a folder's <name>.gguf for
// language models, the folder itself otherwise, paths always winning over names.
#include "core/shipped_files.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

// Points $MMGEN_MODELS_DIR at a folder for the scope, then restores it.
class ModelsDirOverride {
 public:
  explicit ModelsDirOverride(const fs::path& dir) {
    if (const char* old = std::getenv("MMGEN_MODELS_DIR")) old_ = old;
    setenv("MMGEN_MODELS_DIR", dir.c_str(), 1);
  }
  ~ModelsDirOverride() {
    if (old_.empty())
      unsetenv("MMGEN_MODELS_DIR");
    else
      setenv("MMGEN_MODELS_DIR", old_.c_str(), 1);
  }

 private:
  std::string old_;
};

}  // namespace

TEST_CASE("Default models are found by name", "[core][shipped]") {
  const fs::path dir = test::temp_dir("shipped_models");
  fs::create_directories(dir / "tiny-llm");
  std::ofstream(dir / "tiny-llm" / "tiny-llm.gguf") << "GGUF";
  fs::create_directories(dir / "tiny-sd" / "unet");
  fs::create_directories(dir / "tiny-voice");
  std::ofstream(dir / "tiny-voice" / "tiny-voice.safetensors") << "{}";
  std::ofstream(dir / "tiny-voice" / "tiny-voice.onnx.json") << "{}";
  const ModelsDirOverride scope(dir);

  CHECK(find_default_model("tiny-llm") == dir / "tiny-llm" / "tiny-llm.gguf");
  CHECK(find_default_model("tiny-sd") == dir / "tiny-sd");
  CHECK(find_default_model("tiny-voice") == dir / "tiny-voice" / "tiny-voice.safetensors");
  CHECK_FALSE(find_default_model("tiny-sd/unet").has_value());  // names only, no paths
  CHECK_FALSE(find_default_model("").has_value());
  CHECK_FALSE(find_default_model("..").has_value());
  CHECK_FALSE(find_default_model("no-such-model").has_value());
  CHECK(default_model_names() == std::vector<std::string>{"tiny-llm", "tiny-sd", "tiny-voice"});
  CHECK(default_model_dirs().front() == dir);

  // An existing path wins over a name; an unknown name lists what there is.
  const fs::path here = test::temp_dir("shipped_models_cwd") / "tiny-sd";
  fs::create_directories(here);
  CHECK(resolve_model_argument(here.string()) == here);
  CHECK(resolve_model_argument("tiny-sd") == dir / "tiny-sd");
  CHECK_THROWS_AS(resolve_model_argument("no-such-model"), Error);
  CHECK_THROWS_WITH(resolve_model_argument("no-such-model"),
                    Contains("no-such-model: model file not found") &&
                        Contains("default models: tiny-llm, tiny-sd, tiny-voice") &&
                        Contains(dir.string()));
}

TEST_CASE("The source tree's default models are found without configuration", "[core][shipped]") {
  // The build compiles in the source tree's models/ folder.
  const auto text = find_default_model("fortune-llama");
  REQUIRE(text.has_value());
  CHECK(text->filename() == "fortune-llama.gguf");
  const auto voice = find_default_model("espeak-vits");
  REQUIRE(voice.has_value());
  CHECK(voice->filename() == "espeak-vits.safetensors");
  const auto image = find_default_model("shapes-sd");  // a diffusers folder
  REQUIRE(image.has_value());
  CHECK(image->filename() == "shapes-sd");
  CHECK(std::filesystem::is_regular_file(*image / "model_index.json"));
}

}  // namespace mmgen
