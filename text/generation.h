// The generation loop: prefill a prompt into a KV cache, then sample one token
// at a time, streaming the text as it grows. Text is released in complete UTF-8
// characters, and any tail that could be the start of a stop string is held back
// until it is known not to be one, so a stop string is never printed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/kv_cache.h"
#include "text/llm.h"
#include "text/sampling.h"
#include "text/tokenizer.h"

namespace mmgen::text {

struct GenerationOptions {
  int64_t max_tokens = 128;               // new tokens at most (> 0)
  std::vector<std::string> stop_strings;  // stop when the new text contains one
  std::vector<int32_t> stop_ids;          // stop on these ids (besides EOS); not part of the text
  bool stop_at_eos = true;                // the tokenizer's EOS and the model's eos ids
};

enum class StopReason {
  kMaxTokens,
  kEndOfSequence,  // an EOS or stop id was sampled
  kStopString,
  kContextFull,  // the cache reached its limit
  kCancelled,    // the callback returned false
};
std::string_view stop_reason_name(StopReason reason);

struct GenerationStats {
  int64_t prompt_tokens = 0;   // prefilled in one batch
  double prefill_seconds = 0;  // that forward pass
  int64_t decode_tokens = 0;   // single-token forward passes
  double decode_seconds = 0;   // their forward passes and sampling
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

struct GenerationResult {
  std::vector<int32_t> ids;  // the tokens generated (an ending EOS / stop id left out)
  std::string text;          // their text up to any stop string
  StopReason reason = StopReason::kMaxTokens;
  GenerationStats stats;
  // Ids of `ids` not yet run through the model (the last one, unless generation
  // ended on an EOS); a conversation that goes on feeds them first.
  std::vector<int32_t> unfed;
};

// Receives each new piece of text as it becomes final; returning false stops.
using TextCallback = std::function<bool(std::string_view text)>;
// Receives each generated id (before its text); returning false stops.
using TokenCallback = std::function<bool(int32_t id)>;

class Generator {
 public:
  Generator(const LanguageModel& model, const Tokenizer& tokenizer);

  // Prefills `prompt` (appended to whatever `cache` holds; not empty) and
  // generates. `sampler` sees the prompt through accept(). Throws Error for bad
  // options or when the prompt itself does not fit in the cache.
  GenerationResult generate(const std::vector<int32_t>& prompt, KvCache& cache, Sampler& sampler,
                            const GenerationOptions& options, const TextCallback& on_text = {},
                            const TokenCallback& on_token = {}) const;

 private:
  const LanguageModel& model_;
  const Tokenizer& tokenizer_;
};

// A language model with its tokenizer, from a GGUF file (the tokenizer from its
// metadata) or a Hugging Face folder (its tokenizer.json). A missing path, or a
// folder without tokenizer.json, is an Error that says so. The model computes on
// `device` (see load_llm).
struct TextModel {
  std::unique_ptr<LanguageModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};
TextModel load_text_model(const std::filesystem::path& path, Device device = Device::cpu());

// Releases streamed text while holding back what might begin a stop string.
class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops);
  // Adds text; returns what is now final. Once a stop string appears, returns
  // the text before it and stopped() becomes true (later input is ignored).
  std::string push(std::string_view text);
  // The text still held back (no stop string followed).
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace mmgen::text
