// The golden kinds of the tokenizers (docs/golden.md): "tokenizer_vectors"
// (llama.cpp's .inp/.out test vectors) and "tokenize" (one literal text).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mmgen::text {

void register_tokenizer_golden_kinds();

// The strings of a llama.cpp .inp file: raw bytes cut at every
// "\n__ggml_vocab_test__\n" (the file ends with one). Throws Error naming the file.
std::vector<std::string> read_vocab_test_inputs(const std::filesystem::path& path);
// The id lines of a .out file, one vector per line ("" = no tokens).
std::vector<std::vector<int64_t>> read_vocab_test_outputs(const std::filesystem::path& path);

}  // namespace mmgen::text
