// `mmgen generate` and `mmgen chat` run as a user runs them, on the tiny golden
// models: greedy ids equal the fixtures, seeds replay, errors are one clear line.
#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/model_file.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

using CliRun = test::CommandRun;
using test::shell_quoted;

// stderr is dropped unless with_stderr; stdin reads `input`.
CliRun run_mmgen(const std::string& command_line, bool with_stderr, const std::string& input = "") {
  return test::run_command("printf %s " + shell_quoted(input) + " | " +
                           shell_quoted(MMGEN_CLI_PATH) + " " + command_line +
                           (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

std::string ids_line(const std::string& model) {
  const auto file = ModelFile::open(test::golden_file("llm/cases/" + model + ".safetensors"));
  std::ostringstream out;
  const auto ids = file->tensor("en.greedy_ids").to_i64_vector();
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out.str() + "\n";
}

std::string model_arg(const std::string& relative) {
  return "-m " + shell_quoted(test::golden_file("llm/" + relative).string());
}

}  // namespace

TEST_CASE("mmgen generate --temp 0 --ids prints the golden greedy ids", "[cli][generate]") {
  // The prompts of the fixtures' tokenize cases; encode adds BOS where the vocabulary
  // asks (llama), which is how the fixtures' en.ids were made.
  const std::pair<const char*, const char*> cases[] = {
      {"llama_tiny", "The capital of France is Paris."},
      {"qwen2_tiny", "Hello, my name is Alice and I like tea."},
      {"gpt2_tiny", "In a hole in the ground there lived a hobbit."}};
  for (const auto& [model, prompt] : cases) {
    INFO(model);
    const CliRun run = run_mmgen("generate " + model_arg(std::string(model) + ".gguf") + " -p " +
                                     shell_quoted(prompt) + " -n 16 --temp 0 --ids",
                                 false);
    CHECK(run.exit_code == 0);
    CHECK(run.output == ids_line(model));
  }
}

TEST_CASE("mmgen generate reports speed on stderr and says when a folder has no tokenizer",
          "[cli][generate]") {
  const CliRun run = run_mmgen("generate " + model_arg("llama_tiny.gguf") +
                                   " -p 'The capital of France is Paris.' -n 4 --temp 0 --ids",
                               true);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("prefill: 8 tokens, ") && Contains("decode: 3 tokens, ") &&
                             Contains(" tok/s"));
  // The golden Hugging Face folder has weights but no tokenizer.json.
  REQUIRE_FALSE(std::filesystem::exists(test::golden_file("llm/llama_tiny") / "tokenizer.json"));
  const CliRun folder = run_mmgen(
      "generate " + model_arg("llama_tiny") + " -p 'The capital' -n 4 --temp 0 --ids", true);
  CHECK(folder.exit_code == 1);
  CHECK_THAT(folder.output, Contains("llama_tiny: the folder has no tokenizer"));
}

TEST_CASE("mmgen generate replays a seed", "[cli][generate]") {
  const std::string args = model_arg("llama_tiny.gguf") +
                           " -p 'Once upon a time' -n 12 --temp 1.5 --top-k 0 --min-p 0 --seed ";
  const CliRun a = run_mmgen("generate " + args + "11", false);
  const CliRun b = run_mmgen("generate " + args + "11", false);
  const CliRun c = run_mmgen("generate " + args + "12", false);
  CHECK(a.exit_code == 0);
  CHECK(a.output.size() > 1);
  CHECK(a.output == b.output);
  CHECK(a.output != c.output);
  // Without --seed, the seed chosen is printed.
  const CliRun random =
      run_mmgen("generate " + model_arg("llama_tiny.gguf") + " -p 'Once' -n 2", true);
  CHECK(random.exit_code == 0);
  CHECK_THAT(random.output, Contains("seed: "));
}

TEST_CASE("mmgen generate rejects bad requests with one clear error", "[cli][generate]") {
  const auto error = [](const std::string& args) {
    const CliRun run = run_mmgen("generate " + args, true);
    CHECK(run.exit_code == 1);
    return run.output;
  };
  const std::string model = model_arg("llama_tiny.gguf");
  CHECK(error(model + " -p ''") ==
        "mmgen: error: the prompt is empty; give the text to continue with -p\n");
  CHECK(error("-m /no/such/model.gguf -p hi") ==
        "mmgen: error: /no/such/model.gguf: model file not found\n");
  CHECK_THAT(error(model + " -p hi -n 0"), Contains("-n must be > 0"));
  CHECK_THAT(error(model + " -p hi --temp -1"), Contains("temperature must be >= 0"));
  CHECK_THAT(error(model + " -p hi --top-p 1.5"), Contains("top-p must be in (0, 1]"));
}

TEST_CASE("mmgen chat answers two turns from a pipe and exits at EOF", "[cli][chat]") {
  const CliRun run =
      run_mmgen("chat " + model_arg("qwen2_tiny.gguf") + " --system 'Be brief.' -n 6 --temp 0",
                false, "Hello there\nHow are you?\n");
  CHECK(run.exit_code == 0);
  // Two replies, one line each (the tiny model may emit newlines of its own, so
  // count at least two).
  CHECK(std::count(run.output.begin(), run.output.end(), '\n') >= 2);
  const CliRun plain =
      run_mmgen("chat " + model_arg("llama_tiny.gguf") + " -n 6 --seed 3", true, "Hi\nAnd again\n");
  CHECK(plain.exit_code == 0);
  CHECK_THAT(plain.output, Contains("chat format: plain"));
  const CliRun empty = run_mmgen("chat " + model_arg("llama_tiny.gguf") + " -n 6", false, "");
  CHECK(empty.exit_code == 0);
  CHECK(empty.output.empty());
}

TEST_CASE("mmgen generate without -m uses the default text model", "[cli][generate]") {
  const CliRun by_default = run_mmgen("generate -p 'The' -n 8 --temp 0 --ids", false);
  const CliRun by_name = run_mmgen("generate -m fortune-llama -p 'The' -n 8 --temp 0 --ids", false);
  REQUIRE(by_default.exit_code == 0);
  CHECK(by_default.output == by_name.output);
  CHECK(std::count(by_default.output.begin(), by_default.output.end(), ' ') == 7);  // 8 ids
  const CliRun unknown = run_mmgen("generate -m no-such-model -p 'The'", true);
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.output, Catch::Matchers::Contains("default models: ") &&
                                 Catch::Matchers::Contains("fortune-llama"));
}

}  // namespace mmgen
