// Golden kinds of the decoder-only language models (lm_logits, lm_greedy,
// lm_kv_cache); see docs/llm.md.
#pragma once

namespace mmgen::text {

// Registers the kinds with the golden runner (core/golden.h).
void register_llm_golden_kinds();

}  // namespace mmgen::text
