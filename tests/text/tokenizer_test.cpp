// Tokenizers: llama.cpp's test vectors for the LLaMA (SentencePiece) and GPT-2
// (byte-level BPE) vocabularies, decoding and streaming, special tokens, BOS,
// the Hugging Face tokenizer.json loader against the GGUF one, and errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/model_file.h"
#include "tests/support/test_support.h"
#include "text/bpe_tokenizer.h"
#include "text/pre_tokenizer.h"
#include "text/spm_tokenizer.h"
#include "text/tokenizer_golden.h"
#include "text/tokenizer_loader.h"
#include "text/unicode.h"

namespace mmgen::text {
namespace {

using nlohmann::json;

const std::string kSpmVocab = "llm/tokenizers/ggml-vocab-llama-spm.gguf";
const std::string kGpt2Vocab = "llm/tokenizers/ggml-vocab-gpt-2.gguf";

// Loading the vocabularies once keeps the tests fast.
const Tokenizer& vocab_tokenizer(const std::string& relative) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& entry = cache[relative];
  if (!entry) entry = load_tokenizer(test::golden_file(relative));
  return *entry;
}

struct Vectors {
  std::vector<std::string> inputs;
  std::vector<std::vector<int64_t>> ids;
};

Vectors vectors(const std::string& relative) {
  Vectors v;
  v.inputs = read_vocab_test_inputs(test::golden_file(relative + ".inp"));
  v.ids = read_vocab_test_outputs(test::golden_file(relative + ".out"));
  REQUIRE(v.inputs.size() == v.ids.size());
  return v;
}

std::vector<int64_t> widen(const std::vector<int32_t>& ids) { return {ids.begin(), ids.end()}; }

void check_vectors(const Tokenizer& tokenizer, const std::string& relative) {
  const Vectors v = vectors(relative);
  CHECK(v.inputs.size() == 46);
  for (size_t i = 0; i < v.inputs.size(); ++i) {
    INFO(relative << " string " << i << ": '" << v.inputs[i] << "'");
    CHECK(widen(tokenizer.encode(v.inputs[i], false, false)) == v.ids[i]);
  }
}

bool valid_utf8(const std::string& text) { return sanitize_utf8(text) == text; }

void write_json(const std::filesystem::path& path, const json& value) {
  std::ofstream out(path, std::ios::binary);
  out << value.dump();
}

// A tokenizer.json of GPT-2 built from the GGUF vocabulary's data.
json gpt2_tokenizer_json(const json& metadata) {
  json vocab = json::object();
  const auto& tokens = metadata["tokenizer.ggml.tokens"];
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i].get<std::string>()] = i;
  json merges = json::array();
  for (const auto& merge : metadata["tokenizer.ggml.merges"]) merges.push_back(merge);
  return {
      {"version", "1.0"},
      {"added_tokens",
       json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"vocab", vocab}, {"merges", merges}}},
  };
}

// A LLaMA 2 style tokenizer.json (BPE with byte fallback) built from the GGUF
// SentencePiece vocabulary: merges are every split of a token into two tokens,
// ordered by the joined token's score (highest first), as the usual conversion
// from a SentencePiece model does.
json llama_tokenizer_json(const json& metadata) {
  const auto& tokens = metadata["tokenizer.ggml.tokens"];
  const auto& scores = metadata["tokenizer.ggml.scores"];
  std::unordered_map<std::string, int64_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) ids[tokens[i].get<std::string>()] = i;
  struct Candidate {
    int64_t left, right;
    float score;
  };
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string text = tokens[i].get<std::string>();
    std::vector<Candidate> local;
    for (size_t cut = utf8_sequence_length(static_cast<uint8_t>(text[0])); cut < text.size();
         cut += utf8_sequence_length(static_cast<uint8_t>(text[cut]))) {
      const auto left = ids.find(text.substr(0, cut));
      const auto right = ids.find(text.substr(cut));
      if (left != ids.end() && right != ids.end()) {
        local.push_back({left->second, right->second, scores[i].get<float>()});
      }
    }
    std::sort(local.begin(), local.end(), [](const Candidate& a, const Candidate& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    candidates.insert(candidates.end(), local.begin(), local.end());
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  json merges = json::array();
  for (const auto& c : candidates) {
    merges.push_back(json::array({tokens[c.left], tokens[c.right]}));
  }
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i].get<std::string>()] = i;
  const std::string metaspace = "\xE2\x96\x81";
  return {
      {"added_tokens", json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                    {{"id", 1}, {"content", "<s>"}, {"special", true}},
                                    {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         json::array(
             {{{"type", "Prepend"}, {"prepend", metaspace}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", metaspace}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merges}}},
  };
}

// A small byte-level vocabulary: the 256 byte characters, a few merges and a
// control token, as GGUF metadata.
json tiny_bpe_metadata() {
  std::vector<std::string> tokens;
  for (int byte = 0; byte < 256; ++byte) {
    tokens.push_back(byte_to_unicode(static_cast<uint8_t>(byte)));
  }
  const std::string space = byte_to_unicode(' ');  // GPT-2's 'Ġ'
  const std::string space_w = space + "w";
  tokens.insert(tokens.end(), {"he", "hello", "ll", "llo", space_w, "<|end|>", "<|user|>"});
  std::vector<int> types(tokens.size(), 1);  // 256..262: the words, then the added tokens
  types[261] = 3;                            // control
  types[262] = 4;                            // user-defined
  return {{"tokenizer.ggml.model", "gpt2"},
          {"tokenizer.ggml.pre", "gpt-2"},
          {"tokenizer.ggml.tokens", tokens},
          {"tokenizer.ggml.token_type", types},
          {"tokenizer.ggml.merges", {"h e", "l l", "ll o", "he llo", space + std::string(" w")}},
          {"tokenizer.ggml.eos_token_id", 261}};
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("SentencePiece vocabulary reproduces every llama.cpp test vector", "[text][tokenizer]") {
  const Tokenizer& tokenizer = vocab_tokenizer(kSpmVocab);
  CHECK(tokenizer.kind() == "spm");
  CHECK(tokenizer.vocab_size() == 32000);
  check_vectors(tokenizer, kSpmVocab);
}

TEST_CASE("GPT-2 byte-level BPE vocabulary reproduces every llama.cpp test vector",
          "[text][tokenizer]") {
  const Tokenizer& tokenizer = vocab_tokenizer(kGpt2Vocab);
  CHECK(tokenizer.kind() == "bpe");
  CHECK(tokenizer.vocab_size() == 50257);
  check_vectors(tokenizer, kGpt2Vocab);
}

TEST_CASE("BOS and EOS follow the vocabulary's flags", "[text][tokenizer]") {
  const Tokenizer& spm = vocab_tokenizer(kSpmVocab);
  CHECK(spm.bos_id() == 1);
  CHECK(spm.eos_id() == 2);
  CHECK(spm.unk_id() == 0);
  CHECK_FALSE(spm.pad_id().has_value());
  CHECK(spm.add_bos());
  CHECK_FALSE(spm.add_eos());
  CHECK(spm.encode("Hello world", true) == std::vector<int32_t>{1, 15043, 3186});
  CHECK(spm.encode("Hello world", false) == std::vector<int32_t>{15043, 3186});
  CHECK(spm.encode("", true) == std::vector<int32_t>{1});
  CHECK(spm.encode("", false).empty());

  const Tokenizer& gpt2 = vocab_tokenizer(kGpt2Vocab);
  CHECK(gpt2.bos_id() == 50256);
  CHECK(gpt2.eos_id() == 50256);
  CHECK_FALSE(gpt2.add_bos());
  CHECK(gpt2.encode("Hello world", true) == std::vector<int32_t>{15496, 995});
}

TEST_CASE("special tokens are parsed only when asked", "[text][tokenizer]") {
  const Tokenizer& spm = vocab_tokenizer(kSpmVocab);
  CHECK(spm.is_special(1));
  CHECK(spm.is_special(0));
  CHECK_FALSE(spm.is_special(15043));
  CHECK(spm.token_type(3) == TokenType::kByte);
  // Parsed: the control tokens, and a space prefix after each of them.
  CHECK(spm.encode("<s>Hello</s>", false, true) == std::vector<int32_t>{1, 15043, 2});
  // Not parsed: "<s>" is plain text.
  const auto plain = spm.encode("<s>Hello</s>", false, false);
  CHECK(std::find(plain.begin(), plain.end(), 1) == plain.end());
  CHECK(std::find(plain.begin(), plain.end(), 2) == plain.end());
  CHECK(spm.decode(plain) == "<s>Hello</s>");

  const Tokenizer& gpt2 = vocab_tokenizer(kGpt2Vocab);
  CHECK(gpt2.encode("a<|endoftext|>b", false, true) == std::vector<int32_t>{64, 50256, 65});
  const auto text = gpt2.encode("a<|endoftext|>b", false, false);
  CHECK(text.size() > 3);
  CHECK(std::find(text.begin(), text.end(), 50256) == text.end());
  CHECK(gpt2.decode(text) == "a<|endoftext|>b");
  CHECK(gpt2.decode(std::vector<int32_t>{64, 50256, 65}) == "a<|endoftext|>b");
  CHECK(gpt2.decode(std::vector<int32_t>{64, 50256, 65}, true) == "ab");
}

TEST_CASE("decoding round-trips every test string", "[text][tokenizer]") {
  for (const auto& relative : {kSpmVocab, kGpt2Vocab}) {
    const Tokenizer& tokenizer = vocab_tokenizer(relative);
    for (const auto& text : vectors(relative).inputs) {
      INFO(relative << ": '" << text << "'");
      CHECK(tokenizer.decode(tokenizer.encode(text, false, false)) == text);
      // With BOS the special token is skipped or shown as its text.
      const auto with_bos = tokenizer.encode(text, true, false);
      CHECK(tokenizer.decode(with_bos, true) == text);
    }
  }
  const Tokenizer& spm = vocab_tokenizer(kSpmVocab);
  CHECK(spm.decode(spm.encode("Hi", true)) == "<s>Hi");
  CHECK(spm.token_to_piece(15043) == " Hello");
  CHECK(spm.token_to_piece(1) == "<s>");
  CHECK(spm.token_to_piece(3 + 0xE4) == "\xE4");
}

TEST_CASE("streaming decode holds back characters split across tokens", "[text][tokenizer]") {
  const std::string text = "今天天气很好。 🦙 Füße, 我想在apple工作 😁!";
  for (const auto& relative : {kSpmVocab, kGpt2Vocab}) {
    const Tokenizer& tokenizer = vocab_tokenizer(relative);
    const auto ids = tokenizer.encode(text, false, false);
    StreamingDecoder decoder(tokenizer);
    std::string streamed;
    for (const int32_t id : ids) {
      const std::string chunk = decoder.push(id);
      INFO(relative << ": token " << id);
      CHECK(valid_utf8(chunk));
      streamed += chunk;
    }
    streamed += decoder.finish();
    CHECK(streamed == text);
    CHECK(tokenizer.decode(ids) == text);
  }

  // LLaMA has no token for the llama emoji: it falls back to its four bytes.
  const Tokenizer& spm = vocab_tokenizer(kSpmVocab);
  const auto llama = spm.encode("🦙", false, false);
  REQUIRE(llama == std::vector<int32_t>{29871, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99});
  StreamingDecoder decoder(spm);
  CHECK(decoder.push(llama[0]) == "");  // the space prefix, stripped at the start
  CHECK(decoder.push(llama[1]) == "");
  CHECK(decoder.push(llama[2]) == "");
  CHECK(decoder.push(llama[3]) == "");
  CHECK(decoder.push(llama[4]) == "🦙");
  CHECK(decoder.finish().empty());

  // Every byte of a mixed text as its own byte token: output appears exactly
  // when a character completes.
  const std::string mixed = "aé中🦙b";
  StreamingDecoder bytes(spm, false, false);
  std::vector<std::string> chunks;
  for (char c : mixed) chunks.push_back(bytes.push(3 + static_cast<uint8_t>(c)));
  CHECK(chunks == std::vector<std::string>{"a", "", "é", "", "", "中", "", "", "", "🦙", "b"});

  // An unfinished character is returned by finish().
  StreamingDecoder partial(spm, false, false);
  CHECK(partial.push(3 + 0xE4) == "");
  CHECK(partial.finish() == "\xE4");
}

TEST_CASE("a tokenizer.json built from the GPT-2 vocabulary gives the same ids",
          "[text][tokenizer]") {
  const auto file = ModelFile::open(test::golden_file(kGpt2Vocab));
  const auto dir = test::temp_dir("tokenizer-gpt2");
  write_json(dir / "tokenizer.json", gpt2_tokenizer_json(file->metadata()));
  write_json(dir / "tokenizer_config.json",
             {{"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}});
  const auto hf = load_tokenizer(dir);
  const Tokenizer& gguf = vocab_tokenizer(kGpt2Vocab);
  CHECK(hf->vocab_size() == gguf.vocab_size());
  CHECK(hf->eos_id() == 50256);
  CHECK_FALSE(hf->add_bos());
  CHECK(hf->is_special(50256));
  check_vectors(*hf, kGpt2Vocab);
  const std::string text = "Hello, y'all! 🦙 <|endoftext|> 我想在apple工作";
  CHECK(hf->encode(text, true, true) == gguf.encode(text, true, true));
  CHECK(hf->decode(hf->encode(text, false, false)) == text);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a Split pre-tokenizer in tokenizer.json matches the GGUF 'qwen2' pre-tokenizer",
          "[text][tokenizer]") {
  const auto file = ModelFile::open(test::golden_file(kGpt2Vocab));
  json metadata = file->metadata();
  metadata["tokenizer.ggml.pre"] = "qwen2";
  const auto gguf = tokenizer_from_gguf_metadata(metadata, "qwen2-pre.gguf");
  json tokenizer_json = gpt2_tokenizer_json(metadata);
  // Qwen2's tokenizer.json: its own pattern (with a case-insensitive group),
  // then the byte-level mapping without GPT-2's pattern.
  tokenizer_json["normalizer"] = {{"type", "NFC"}};
  tokenizer_json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array(
           {{{"type", "Split"},
             {"pattern",
              {{"Regex",
                R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  const auto hf = tokenizer_from_hf_json(tokenizer_json, "qwen2/tokenizer.json");
  const Vectors v = vectors(kGpt2Vocab);
  size_t differs_from_gpt2 = 0;
  for (const auto& text : v.inputs) {
    INFO("'" << text << "'");
    const auto ids = gguf->encode(text, false, false);
    CHECK(hf->encode(text, false, false) == ids);
    differs_from_gpt2 += ids != vocab_tokenizer(kGpt2Vocab).encode(text, false, false);
  }
  // Digits one at a time and newline handling make the two pre-tokenizers differ.
  CHECK(differs_from_gpt2 > 5);
  CHECK(gguf->encode("333", false) == std::vector<int32_t>{18, 18, 18});
}

TEST_CASE("a LLaMA-style tokenizer.json with byte fallback gives the same ids",
          "[text][tokenizer]") {
  const auto file = ModelFile::open(test::golden_file(kSpmVocab));
  const auto dir = test::temp_dir("tokenizer-llama");
  write_json(dir / "tokenizer.json", llama_tokenizer_json(file->metadata()));
  const auto hf = load_tokenizer(dir / "tokenizer.json");
  const Tokenizer& gguf = vocab_tokenizer(kSpmVocab);
  CHECK(hf->kind() == "bpe");
  CHECK(hf->bos_id() == 1);
  CHECK(hf->add_bos());
  CHECK(hf->unk_id() == 0);
  CHECK(hf->token_type(3) == TokenType::kByte);
  check_vectors(*hf, kSpmVocab);
  for (const std::string text :
       {"The capital of France is Paris.", "今天天气很好。", "<s>Hi</s> 🦙"}) {
    INFO(text);
    CHECK(hf->encode(text, true, false) == gguf.encode(text, true, false));
    CHECK(hf->encode(text, true, true) == gguf.encode(text, true, true));
    CHECK(hf->decode(hf->encode(text, false, false)) == text);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a small byte-level vocabulary merges by rank", "[text][tokenizer]") {
  const auto tokenizer = tokenizer_from_gguf_metadata(tiny_bpe_metadata(), "tiny.gguf");
  // "hello" -> h e l l o -> he l l o -> he ll o -> he llo -> hello.
  CHECK(tokenizer->encode("hello world", false) ==
        std::vector<int32_t>{257, 260, 'o', 'r', 'l', 'd'});
  CHECK(tokenizer->encode("<|end|>", false, true) == std::vector<int32_t>{261});
  CHECK(tokenizer->encode("<|end|>", false, false).size() == 7);
  // User-defined tokens are split out even when special tokens are not parsed.
  CHECK(tokenizer->encode("a<|user|>b", false, false) == std::vector<int32_t>{'a', 262, 'b'});
  CHECK_FALSE(tokenizer->is_special(262));
  CHECK(tokenizer->is_special(261));
  CHECK(tokenizer->decode(std::vector<int32_t>{'a', 262, 261, 'b'}, true) == "a<|user|>b");
  CHECK(tokenizer->eos_id() == 261);
  CHECK_FALSE(tokenizer->bos_id().has_value());
  CHECK(tokenizer->decode(tokenizer->encode("hello world", false)) == "hello world");
}

TEST_CASE("the byte-level alphabet and UTF-8 helpers", "[text][tokenizer]") {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string text(1, static_cast<char>(byte));
    CHECK(byte_level_decode(byte_level_encode(text)) == text);
  }
  CHECK(byte_to_unicode(' ') == "\xC4\xA0");   // U+0120, GPT-2's 'Ġ'
  CHECK(byte_to_unicode('\n') == "\xC4\x8A");  // U+010A, 'Ċ'
  CHECK(byte_to_unicode('A') == "A");
  CHECK(sanitize_utf8("a\xFF"
                      "b\xE4\xBD") ==
        "a\xEF\xBF\xBD"
        "b\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sanitize_utf8("中文") == "中文");
  CHECK(utf8_incomplete_tail("ab\xE4\xBD") == 2);
  CHECK(utf8_incomplete_tail("ab\xE4\xBD\xA0") == 0);
  CHECK(utf8_incomplete_tail("\xF0\x9F\xA6") == 3);
  CHECK(utf8_incomplete_tail("abc") == 0);
  CHECK(utf8_incomplete_tail("a\xF8\x80") == 0);
  CHECK(utf8_incomplete_tail("a\x80\x80") == 0);
}

TEST_CASE("the GPT-2 pattern splits words, numbers, punctuation and spaces", "[text][tokenizer]") {
  const RegexSplitter gpt2(std::vector<std::string>{std::string(kGpt2Pattern)});
  CHECK(
      gpt2.split("Hello world's  3.14!!\n\n x") ==
      std::vector<std::string>{"Hello", " world", "'s", " ", " 3", ".", "14", "!!", "\n\n", " x"});
  CHECK(gpt2.split("a   b") == std::vector<std::string>{"a", "  ", " b"});
  CHECK(gpt2.split("über 中文") == std::vector<std::string>{"über", " 中文"});
  // U+0085 (NEL) is white space, as in Unicode's White_Space property.
  CHECK(gpt2.split("a\xC2\x85\xC2\x85"
                   "b") == std::vector<std::string>{"a", "\xC2\x85", "\xC2\x85", "b"});
  const auto qwen2 = find_pre_tokenizer("qwen2");
  REQUIRE(qwen2.has_value());
  CHECK(RegexSplitter(qwen2->patterns).split("abc 123") ==
        std::vector<std::string>{"abc", " ", "1", "2", "3"});
  const auto llama3 = find_pre_tokenizer("llama-bpe");
  REQUIRE(llama3.has_value());
  CHECK(llama3->ignore_merges);
  CHECK(RegexSplitter(llama3->patterns).split("12345 I'M") ==
        std::vector<std::string>{"123", "45", " I", "'M"});
  CHECK_FALSE(find_pre_tokenizer("no-such-pre").has_value());
}

TEST_CASE("malformed tokenizer data gives errors naming the file and field", "[text][tokenizer]") {
  json missing_tokens = tiny_bpe_metadata();
  missing_tokens.erase("tokenizer.ggml.tokens");
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(missing_tokens, "x.gguf"); }),
             Catch::Contains("x.gguf: metadata 'tokenizer.ggml.tokens' is missing"));

  json bad_merge = tiny_bpe_metadata();
  bad_merge["tokenizer.ggml.merges"].push_back("h zz");
  CHECK_THAT(
      error_of([&] { tokenizer_from_gguf_metadata(bad_merge, "x.gguf"); }),
      Catch::Contains("x.gguf: merge 5 ('h zz') refers to 'zz'") && Catch::Contains("not a token"));

  json unjoinable = tiny_bpe_metadata();
  unjoinable["tokenizer.ggml.merges"].push_back("w o");
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(unjoinable, "x.gguf"); }),
             Catch::Contains("makes 'wo'"));

  json no_separator = tiny_bpe_metadata();
  no_separator["tokenizer.ggml.merges"].push_back("hello");
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(no_separator, "x.gguf"); }),
             Catch::Contains("tokenizer.ggml.merges'[5]"));

  json unknown_pre = tiny_bpe_metadata();
  unknown_pre["tokenizer.ggml.pre"] = "martian";
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(unknown_pre, "x.gguf"); }),
             Catch::Contains("pre-tokenizer 'martian'") && Catch::Contains("gpt-2"));

  json unknown_model = tiny_bpe_metadata();
  unknown_model["tokenizer.ggml.model"] = "bert";
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(unknown_model, "x.gguf"); }),
             Catch::Contains("'tokenizer.ggml.model' is 'bert'"));

  json bad_id = tiny_bpe_metadata();
  bad_id["tokenizer.ggml.eos_token_id"] = 99999;
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(bad_id, "x.gguf"); }),
             Catch::Contains("'tokenizer.ggml.eos_token_id' is 99999"));

  json bad_types = tiny_bpe_metadata();
  bad_types["tokenizer.ggml.token_type"] = json::array({1, 1});
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(bad_types, "x.gguf"); }),
             Catch::Contains("'tokenizer.ggml.token_type' has 2 entries for 263 tokens"));

  json bad_token = tiny_bpe_metadata();
  bad_token["tokenizer.ggml.tokens"][3] = 7;
  CHECK_THAT(error_of([&] { tokenizer_from_gguf_metadata(bad_token, "x.gguf"); }),
             Catch::Contains("'tokenizer.ggml.tokens'[3] is not a string"));

  const auto tokenizer = tokenizer_from_gguf_metadata(tiny_bpe_metadata(), "x.gguf");
  CHECK_THAT(error_of([&] {
               tokenizer->decode(std::vector<int32_t>{5, 263});
             }),
             Catch::Contains("token id 263 is outside the vocabulary of 263 tokens"));

  const auto dir = test::temp_dir("tokenizer-errors");
  write_json(dir / "tokenizer.json", {{"model", {{"type", "BPE"}, {"merges", json::array()}}}});
  CHECK_THAT(error_of([&] { load_tokenizer(dir); }),
             Catch::Contains("tokenizer.json: model.vocab is missing"));
  write_json(dir / "tokenizer.json", {{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}});
  CHECK_THAT(error_of([&] { load_tokenizer(dir); }), Catch::Contains("model.type is 'Unigram'"));
  write_json(dir / "tokenizer.json",
             {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", {"a c"}}}}});
  CHECK_THAT(error_of([&] { load_tokenizer(dir); }), Catch::Contains("refers to 'c'"));
  write_json(
      dir / "tokenizer.json",
      {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 2}}}, {"merges", json::array()}}}});
  CHECK_THAT(error_of([&] { load_tokenizer(dir); }), Catch::Contains("contiguous"));
  write_json(dir / "tokenizer.json",
             {{"pre_tokenizer", {{"type", "Whitespace"}}},
              {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", json::array()}}}});
  CHECK_THAT(error_of([&] { load_tokenizer(dir); }),
             Catch::Contains("pre_tokenizer has type 'Whitespace'"));
  {
    std::ofstream out(dir / "tokenizer.json");
    out << "{\"model\": ";
  }
  CHECK_THAT(error_of([&] { load_tokenizer(dir); }), Catch::Contains("invalid JSON"));
  std::filesystem::remove_all(dir);
  CHECK_THAT(error_of([&] { load_tokenizer(dir / "tokenizer.json"); }),
             Catch::Contains("no such file"));
}

}  // namespace mmgen::text
