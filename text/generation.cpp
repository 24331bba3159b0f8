#include "text/generation.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string_view>

#include "core/error.h"
#include "text/tokenizer_loader.h"

namespace mmgen::text {

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max tokens";
    case StopReason::kEndOfSequence:
      return "end of sequence";
    case StopReason::kStopString:
      return "stop string";
    case StopReason::kContextFull:
      return "context full";
    case StopReason::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

double GenerationStats::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0.0;
}
double GenerationStats::decode_tokens_per_second() const {
  return decode_seconds > 0 ? static_cast<double>(decode_tokens) / decode_seconds : 0.0;
}

StopStringFilter::StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string StopStringFilter::push(std::string_view text) {
  if (stopped_) return {};
  held_ += text;
  // The earliest stop string wins.
  size_t first = std::string::npos;
  for (const auto& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of a stop string.
  size_t keep = 0;
  for (const auto& stop : stops_)
    for (size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStringFilter::finish() {
  std::string out;
  out.swap(held_);
  return out;
}

namespace {

bool is_gguf_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

}  // namespace

TextModel load_text_model(const std::filesystem::path& path, Device device) {
  namespace fs = std::filesystem;
  MMGEN_CHECK(fs::exists(path), path.string(), ": no such file or folder");
  TextModel out;
  if (fs::is_regular_file(path) && is_gguf_file(path)) {
    out.model = load_llm(path, device);
    out.tokenizer = load_tokenizer(path);
    return out;
  }
  // A Hugging Face folder, or a file inside one.
  const fs::path folder = fs::is_directory(path) ? path : path.parent_path();
  MMGEN_CHECK(fs::exists(folder / "tokenizer.json"), folder.string(),
              ": the folder has no tokenizer (tokenizer.json is missing); use the model's "
              "GGUF file, or add its tokenizer.json to the folder");
  out.model = load_llm(path, device);
  out.tokenizer = load_tokenizer(folder);
  return out;
}

Generator::Generator(const LanguageModel& model, const Tokenizer& tokenizer)
    : model_(model), tokenizer_(tokenizer) {
  // Embedding tables are often padded past the tokenizer (Qwen2), never shorter.
  MMGEN_CHECK(tokenizer.vocab_size() <= model.config().vocab_size, "the tokenizer of ",
              tokenizer.source(), " has ", tokenizer.vocab_size(), " tokens but the model ",
              model.source().string(), " embeds only ", model.config().vocab_size,
              ": they do not belong together");
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The last row of logits [n, vocab] as floats on the host. Reading it waits for the
// device to finish the forward pass, so the timings below measure the device's work.
std::vector<float> last_row(const Tensor& logits) {
  const Tensor row = logits.narrow(0, logits.dim(0) - 1, 1);
  return row.cpu().to_f32_vector();
}

}  // namespace

GenerationResult Generator::generate(const std::vector<int32_t>& prompt, KvCache& cache,
                                     Sampler& sampler, const GenerationOptions& options,
                                     const TextCallback& on_text,
                                     const TokenCallback& on_token) const {
  MMGEN_CHECK(!prompt.empty(), "generation needs a prompt of at least one token");
  MMGEN_CHECK(options.max_tokens > 0, "the number of tokens to generate must be > 0, got ",
              options.max_tokens);
  std::vector<int32_t> stop_ids = options.stop_ids;
  if (options.stop_at_eos) {
    if (tokenizer_.eos_id()) stop_ids.push_back(*tokenizer_.eos_id());
    for (const int64_t id : model_.config().eos_token_ids)
      stop_ids.push_back(static_cast<int32_t>(id));
  }
  const auto is_stop = [&](int32_t id) {
    return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
  };

  GenerationResult result;
  StreamingDecoder decoder(tokenizer_, /*skip_special=*/true, /*at_text_start=*/false);
  StopStringFilter filter(options.stop_strings);
  bool cancelled = false;
  const auto emit = [&](const std::string& text) {
    if (text.empty() || cancelled) return;
    result.text += text;
    if (on_text && !on_text(text)) cancelled = true;
  };

  sampler.accept(prompt);
  const auto prefill_start = Clock::now();
  std::vector<float> row = last_row(model_.forward(prompt, cache));
  result.stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  result.stats.prefill_seconds = seconds_since(prefill_start);

  const auto decode_start = Clock::now();
  for (;;) {
    const int32_t id = sampler.sample(row);
    if (is_stop(id)) {
      result.reason = StopReason::kEndOfSequence;
      break;
    }
    result.ids.push_back(id);
    sampler.accept(id);
    if (on_token && !on_token(id)) cancelled = true;
    emit(filter.push(decoder.push(id)));
    if (filter.stopped()) {
      result.reason = StopReason::kStopString;
      break;
    }
    if (cancelled) {
      result.reason = StopReason::kCancelled;
      break;
    }
    if (static_cast<int64_t>(result.ids.size()) >= options.max_tokens) {
      result.reason = StopReason::kMaxTokens;
      break;
    }
    if (cache.length() >= cache.limit()) {
      result.reason = StopReason::kContextFull;
      break;
    }
    row = last_row(model_.forward({id}, cache));
    ++result.stats.decode_tokens;
  }
  result.stats.decode_seconds = result.stats.decode_tokens > 0 ? seconds_since(decode_start) : 0;
  if (!filter.stopped()) emit(filter.push(decoder.finish()) + filter.finish());
  if (result.reason != StopReason::kEndOfSequence && !result.ids.empty())
    result.unfed.push_back(result.ids.back());
  return result;
}

}  // namespace mmgen::text
