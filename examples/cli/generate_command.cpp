// `mmgen generate -m MODEL -p PROMPT`: continues a prompt with a language model,
// streaming the text (or the token ids) to stdout as it is generated.
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/shipped_files.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "examples/cli/sampling_options.h"
#include "text/generation.h"

namespace mmgen::cli {
namespace {

struct GenerateOptions {
  std::string model = "fortune-llama";  // a path, or the name of a default model (models/)
  std::string prompt;
  int64_t max_tokens = 128;
  std::vector<std::string> stops;
  bool ids = false;
  SamplingOptions sampling;
  std::string device = "cpu";
};

int run_generate(const GenerateOptions& o) {
  MMGEN_CHECK(!o.prompt.empty(), "the prompt is empty; give the text to continue with -p");
  MMGEN_CHECK(o.max_tokens > 0, "-n must be > 0 (the number of tokens to generate), got ",
              o.max_tokens);
  const Device device = resolve_device(o.device);
  const text::TextModel tm = text::load_text_model(resolve_model_argument(o.model), device);
  const text::SamplingParams params = resolve_sampling(o.sampling);
  const std::vector<int32_t> prompt = tm.tokenizer->encode(o.prompt, /*add_special=*/true);
  MMGEN_CHECK(!prompt.empty(), "the prompt encodes to no tokens");

  text::KvCache cache = tm.model->make_cache();
  MMGEN_CHECK(static_cast<int64_t>(prompt.size()) < cache.limit(), "the prompt has ", prompt.size(),
              " tokens; the model's context holds ", cache.limit());
  text::Sampler sampler(params);
  text::GenerationOptions options;
  options.max_tokens = o.max_tokens;
  options.stop_strings = o.stops;

  bool first = true;
  const auto on_text = [&](std::string_view piece) {
    if (!o.ids) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  const auto on_token = [&](int32_t id) {
    if (o.ids) {
      std::printf(first ? "%d" : " %d", id);
      std::fflush(stdout);
      first = false;
    }
    return true;
  };
  const text::GenerationResult result =
      text::Generator(*tm.model, *tm.tokenizer)
          .generate(prompt, cache, sampler, options, on_text, on_token);
  std::printf("\n");
  std::fflush(stdout);
  if (result.reason == text::StopReason::kContextFull)
    std::fprintf(stderr, "mmgen: warning: stopped at the context limit of %lld tokens\n",
                 static_cast<long long>(cache.limit()));
  const auto& s = result.stats;
  std::fprintf(stderr, "prefill: %lld tokens, %.1f tok/s; decode: %lld tokens, %.1f tok/s\n",
               static_cast<long long>(s.prompt_tokens), s.prefill_tokens_per_second(),
               static_cast<long long>(s.decode_tokens), s.decode_tokens_per_second());
  return 0;
}

}  // namespace

Command make_generate_command() {
  auto o = std::make_shared<GenerateOptions>();
  Command command;
  command.attach_fn = [o](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand(
        "generate", "Continue a prompt with a language model (GGUF file or Hugging Face folder)");
    self.app
        ->add_option("-m,--model", o->model,
                     "GGUF file, Hugging Face folder, or the name of a default model")
        ->capture_default_str();
    self.app->add_option("-p,--prompt", o->prompt, "Text to continue")->required();
    self.app->add_option("-n,--n-predict", o->max_tokens, "Tokens to generate at most")
        ->capture_default_str();
    self.app->add_option("--stop", o->stops,
                         "Stop when the text contains this string (not printed; repeatable)");
    self.app->add_flag("--ids", o->ids, "Print the generated token ids instead of the text");
    add_sampling_options(*self.app, o->sampling);
    add_device_option(*self.app, o->device);
  };
  command.run = [o] { return run_generate(*o); };
  return command;
}

}  // namespace mmgen::cli
