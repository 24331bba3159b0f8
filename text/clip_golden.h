// Golden kinds of the CLIP text side of Stable Diffusion (docs/clip.md):
// "clip_tokenize" (text -> 77 framed ids) and "clip_text" (ids -> hidden states).
#pragma once

#include <nlohmann/json.hpp>

#include "text/clip_text_model.h"
#include "text/clip_tokenizer.h"

namespace mmgen::text {

// Registers the kinds with the golden runner (core/golden.h).
void register_clip_golden_kinds();

// The encoder options of a manifest's config.clip_text (num_attention_heads,
// layer_norm_eps, hidden_act); absent fields keep their defaults.
ClipTextOptions clip_text_options_from_json(const nlohmann::json& clip_text);

// The framing of a manifest's config.tokenizer (context_length, pad id).
ClipFraming clip_framing_from_json(const nlohmann::json& tokenizer);

}  // namespace mmgen::text
