// `mmgen chat -m MODEL`: a conversation on stdin/stdout in the model's chat
// format. The KV cache is kept between turns, so each turn prefills only its
// own new tokens; EOF ends the chat.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/shipped_files.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "examples/cli/sampling_options.h"
#include "text/chat_template.h"
#include "text/generation.h"

namespace mmgen::cli {
namespace {

struct ChatOptions {
  std::string model = "fortune-llama";  // a path, or the name of a default model (models/)
  std::string system;
  int64_t max_tokens = 512;
  int64_t n_ctx = 0;
  SamplingOptions sampling;
  std::string device = "cpu";
};

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

int run_chat(const ChatOptions& o) {
  MMGEN_CHECK(o.max_tokens > 0, "-n must be > 0 (the most tokens of one reply), got ",
              o.max_tokens);
  const Device device = resolve_device(o.device);
  const text::TextModel tm = text::load_text_model(resolve_model_argument(o.model), device);
  const text::SamplingParams params = resolve_sampling(o.sampling);
  const text::Tokenizer& tokenizer = *tm.tokenizer;
  const std::optional<std::string> jinja = text::find_chat_template(o.model);
  const text::ChatTemplate chat(text::choose_chat_format(jinja, tokenizer));
  std::fprintf(stderr, "chat format: %s%s\n",
               std::string(text::chat_format_name(chat.format())).c_str(),
               jinja ? "" : " (the model has no chat template)");

  text::GenerationOptions options;
  options.max_tokens = o.max_tokens;
  options.stop_strings = chat.stop_strings();
  for (const auto& token : chat.end_of_turn_tokens())
    if (const auto id = tokenizer.token_id(token)) options.stop_ids.push_back(*id);

  text::KvCache cache = tm.model->make_cache(o.n_ctx);
  text::Sampler sampler(params);
  const text::Generator generator(*tm.model, tokenizer);
  std::vector<text::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::string cached_text;     // the conversation text the cache holds
  std::vector<int32_t> unfed;  // generated ids not yet in the cache
  const bool interactive = ::isatty(STDIN_FILENO) != 0;

  for (std::string line;;) {
    if (interactive) {
      std::printf("> ");
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (trim(line).empty()) continue;
    messages.push_back({"user", line});
    const std::string full = chat.render(messages, /*add_generation_prompt=*/true);
    // Only the text after what the cache already holds is prefilled; if the
    // rendering no longer starts with it (a stop string cut the reply), start over.
    if (cached_text.empty() || full.compare(0, cached_text.size(), cached_text) != 0) {
      cache.clear();
      cached_text.clear();
      unfed.clear();
    }
    std::vector<int32_t> tokens = unfed;
    const std::vector<int32_t> fresh =
        tokenizer.encode(std::string_view(full).substr(cached_text.size()),
                         /*add_special=*/cached_text.empty() && !chat.renders_bos(),
                         /*parse_special=*/true);
    tokens.insert(tokens.end(), fresh.begin(), fresh.end());
    const int64_t needed = cache.length() + static_cast<int64_t>(tokens.size());
    MMGEN_CHECK(needed < cache.limit(), "the conversation no longer fits in the context (", needed,
                " tokens of ", cache.limit(),
                "); start a new chat, or give a larger --ctx if the model allows");

    const auto on_text = [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    const text::GenerationResult result =
        generator.generate(tokens, cache, sampler, options, on_text);
    std::printf("\n");
    std::fflush(stdout);
    MMGEN_CHECK(result.reason != text::StopReason::kContextFull, "the context is full (",
                cache.limit(),
                " tokens); the reply was cut. Start a new chat, or give a larger --ctx if the "
                "model allows");
    messages.push_back({"assistant", trim(result.text)});
    if (result.reason == text::StopReason::kStopString) {
      cached_text.clear();  // the cache holds the stop string too: re-prefill next turn
    } else {
      cached_text = full + result.text;
      unfed = result.unfed;
    }
  }
  return 0;
}

}  // namespace

Command make_chat_command() {
  auto o = std::make_shared<ChatOptions>();
  Command command;
  command.attach_fn = [o](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand(
        "chat", "Chat with a language model on stdin/stdout in its chat format (EOF ends it)");
    self.app
        ->add_option("-m,--model", o->model,
                     "GGUF file, Hugging Face folder, or the name of a default model")
        ->capture_default_str();
    self.app->add_option("--system", o->system, "System message that starts the conversation");
    self.app->add_option("-n,--n-predict", o->max_tokens, "Tokens of one reply at most")
        ->capture_default_str();
    self.app->add_option("--ctx", o->n_ctx, "Context size in tokens (default: the model's)");
    add_sampling_options(*self.app, o->sampling);
    add_device_option(*self.app, o->device);
  };
  command.run = [o] { return run_chat(*o); };
  return command;
}

}  // namespace mmgen::cli
