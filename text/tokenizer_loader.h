// Builds tokenizers from the files users have: GGUF metadata (tokenizer.ggml.*,
// as llama.cpp writes it) and Hugging Face tokenizer.json (with the optional
// tokenizer_config.json beside it). Every error names the file and the field.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "text/tokenizer.h"

namespace mmgen::text {

// From GGUF key/value metadata (ModelFile::metadata() of a GGUF file).
// tokenizer.ggml.model "llama" gives an SpmTokenizer, "gpt2" a byte-level
// BpeTokenizer whose pre-tokenizer tokenizer.ggml.pre selects (a missing pre
// means "default", as in llama.cpp; an unknown one is an error). `source` names
// the file in messages.
std::unique_ptr<Tokenizer> tokenizer_from_gguf_metadata(const nlohmann::json& metadata,
                                                        const std::string& source);

// From a parsed tokenizer.json (model.type "BPE": byte-level, or SentencePiece-style
// with byte_fallback). `config` is tokenizer_config.json's content or null; its
// bos/eos/pad/unk tokens and add_bos_token/add_eos_token override what
// tokenizer.json's post-processor implies.
std::unique_ptr<Tokenizer> tokenizer_from_hf_json(const nlohmann::json& tokenizer_json,
                                                  const std::string& source,
                                                  const nlohmann::json& config = nullptr);

// Opens a tokenizer from a path: a folder (its tokenizer.json), a *.json file
// (Hugging Face; tokenizer_config.json next to it is read when present), or a
// model file (GGUF, opened with ModelFile::open).
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

}  // namespace mmgen::text
