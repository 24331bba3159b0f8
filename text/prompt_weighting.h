// Attention-weight ("emphasis") syntax of prompts and their split into CLIP
// chunks, as the AUTOMATIC1111 web UI reads them (docs/txt2img.md):
//   (word) x1.1, ((word)) x1.21, [word] / 1.1, (word:1.3) an explicit weight,
//   \( \) \[ \] literal brackets, BREAK starts a new 75-token chunk.
// Unbalanced brackets: an unclosed bracket applies its factor to everything
// after it; a closing bracket with no opener is literal text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/clip_tokenizer.h"

namespace mmgen::text {

// One run of prompt text sharing a weight. A BREAK keyword outside brackets is
// its own entry with is_break set (text "BREAK", weight -1, as the web UI marks it).
struct WeightedText {
  std::string text;
  double weight = 1.0;
  bool is_break = false;
};

// The prompt as runs of equal weight (neighbouring runs always differ). An empty
// prompt gives one empty run of weight 1. Numbers that are not valid decimals
// ("(a:1.2.3)") are kept as literal text.
std::vector<WeightedText> parse_prompt_attention(std::string_view prompt);

// One CLIP row: [start] + up to chunk_length ids + padding + [end], and the
// weight of each position (1 for start, end and padding).
struct PromptChunk {
  std::vector<int32_t> ids;
  std::vector<float> weights;
  bool all_weights_one() const;
};

struct PromptChunking {
  int chunk_length = 75;  // prompt ids per chunk (the row is this + 2)
  // A chunk that fills up within this many tokens after a comma ends at the
  // comma instead; the rest moves to the next chunk (0: never).
  int comma_backtrack = 20;
};

// The weighted prompt cut into chunks (at least one). Each run is tokenized on
// its own; padding uses the end id (SD 1.x).
std::vector<PromptChunk> chunk_weighted_prompt(const ClipTokenizer& tokenizer,
                                               std::string_view prompt,
                                               const PromptChunking& chunking = {});

// The chunk of an empty prompt: start, then end ids; all weights 1.
PromptChunk empty_prompt_chunk(const ClipTokenizer& tokenizer, int chunk_length = 75);

}  // namespace mmgen::text
