// `mmgen inspect` run as a user runs it, on every weight file of the golden fixtures.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/model_file.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

using RunResult = test::CommandRun;

std::string quoted(const std::string& s) { return test::shell_quoted(s); }

RunResult run_cli(const std::string& args, bool with_stderr = true) {
  return test::run_command(quoted(MMGEN_CLI_PATH) + " " + args +
                           (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

std::vector<std::filesystem::path> golden_weight_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(test::golden_dir())) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".safetensors" || ext == ".gguf"))
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("mmgen inspect lists every golden weight file", "[cli][inspect]") {
  const auto files = golden_weight_files();
  REQUIRE(files.size() >= 20);
  for (const auto& path : files) {
    INFO(path);
    const auto model = ModelFile::open(path);
    const RunResult text = run_cli("inspect " + quoted(path.string()));
    REQUIRE(text.exit_code == 0);
    CHECK_THAT(text.output,
               Contains("format:     " + std::string(model_format_name(model->format()))));
    CHECK_THAT(text.output, Contains("tensors:    " + std::to_string(model->tensors().size())));
    int64_t total = 0;
    for (const TensorInfo& info : model->tensors()) {
      CHECK_THAT(text.output, Contains(info.name));
      total += shape_numel(info.shape);
    }
    CHECK_THAT(text.output, Contains("parameters: " + std::to_string(total)));

    const RunResult js = run_cli("inspect --json " + quoted(path.string()), false);
    REQUIRE(js.exit_code == 0);
    const auto out = nlohmann::json::parse(js.output);
    CHECK(out["format"] == std::string(model_format_name(model->format())));
    CHECK(out["size"] == std::filesystem::file_size(path));
    CHECK(out["parameters"] == total);
    CHECK(out["metadata"] == model->metadata());
    REQUIRE(out["tensors"].size() == model->tensors().size());
    for (size_t i = 0; i < model->tensors().size(); ++i) {
      const TensorInfo& info = model->tensors()[i];
      CHECK(out["tensors"][i]["name"] == info.name);
      CHECK(out["tensors"][i]["dtype"] == std::string(dtype_name(info.dtype)));
      CHECK(out["tensors"][i]["shape"] == info.shape);
    }
  }
}

TEST_CASE("mmgen inspect shows known tensors, dtypes and abbreviated metadata", "[cli][inspect]") {
  const auto gguf = run_cli("inspect " + quoted(test::golden_file("llm/gpt2_tiny.gguf").string()));
  REQUIRE(gguf.exit_code == 0);
  CHECK_THAT(gguf.output, Contains("format:     gguf v3"));
  CHECK_THAT(gguf.output, Contains("size:       14.2 MiB (14870880 bytes)"));
  CHECK_THAT(gguf.output, Contains("general.architecture"));
  CHECK_THAT(gguf.output, Contains("\"gpt2\""));
  CHECK_THAT(gguf.output, Contains("[\"!\", \"\\\"\", \"#\", \"$\", \"%\", ...] (50257 items)"));
  CHECK_THAT(gguf.output, Contains("metadata:   19 entries"));
  CHECK_THAT(gguf.output, Contains("token_embd.weight"));
  CHECK_THAT(gguf.output, Contains("f16  [50257, 64]"));
  CHECK_THAT(gguf.output, Contains("output_norm.bias"));
  CHECK(gguf.output.size() < 20000);  // 100k tokens and merges stay abbreviated

  const auto vae = run_cli("inspect " + quoted(test::golden_file("sd1/vae.safetensors").string()));
  REQUIRE(vae.exit_code == 0);
  CHECK_THAT(vae.output, Contains("format:     safetensors"));
  CHECK_THAT(vae.output, Contains("moments  f32  [1, 8, 8, 8]"));
  CHECK_THAT(vae.output, Contains("parameters: 25856"));

  const auto hf = run_cli("inspect --no-metadata " +
                          quoted(test::golden_file("llm/llama_tiny/model.safetensors").string()));
  REQUIRE(hf.exit_code == 0);
  CHECK_THAT(hf.output, !Contains("metadata:"));
  CHECK_THAT(hf.output, Contains("model.embed_tokens.weight"));
  CHECK_THAT(hf.output, Contains("f16"));

  const auto js = run_cli("inspect --json --no-metadata " +
                          quoted(test::golden_file("llm/qwen2_tiny.gguf").string()));
  REQUIRE(js.exit_code == 0);
  const auto out = nlohmann::json::parse(js.output);
  CHECK_FALSE(out.contains("metadata"));
  CHECK(out["version"] == 3);
  CHECK(out["alignment"] == 32);
  CHECK(out["tensors"][0]["name"] == "token_embd.weight");
  CHECK(out["tensors"][0]["parameters"] == 50257 * 64);
}

TEST_CASE("mmgen inspect reports a corrupt or missing file in one line", "[cli][inspect]") {
  const auto dir = test::temp_dir("cli-inspect");
  const auto vae = test::golden_file("sd1/vae.safetensors");
  std::ifstream in(vae, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  const auto corrupt = dir / "corrupt weights.safetensors";
  std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 2);

  const auto bad = run_cli("inspect " + quoted(corrupt.string()));
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, StartsWith("mmgen: error: "));
  CHECK_THAT(bad.output, Contains(corrupt.string()));
  CHECK(std::count(bad.output.begin(), bad.output.end(), '\n') == 1);

  const auto missing = run_cli("inspect " + quoted((dir / "missing.gguf").string()));
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.output, StartsWith("mmgen: error: ") && Contains("missing.gguf"));
  CHECK(std::count(missing.output.begin(), missing.output.end(), '\n') == 1);

  const auto usage = run_cli("inspect");
  CHECK(usage.exit_code != 0);
  std::filesystem::remove_all(dir);
}

}  // namespace mmgen
