#include "text/tokenizer_loader.h"

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/model_file.h"
#include "text/bpe_tokenizer.h"
#include "text/pre_tokenizer.h"
#include "text/spm_tokenizer.h"
#include "text/unicode.h"

namespace mmgen::text {

namespace {

using nlohmann::json;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// ---- GGUF ----------------------------------------------------------------------

struct GgufReader {
  const json& metadata;
  const std::string& source;

  std::string where(const std::string& key) const { return source + ": metadata '" + key + "'"; }
  bool has(const std::string& key) const { return metadata.contains(key); }

  std::string string(const std::string& key) const {
    MMGEN_CHECK(has(key), where(key), " is missing");
    MMGEN_CHECK(metadata[key].is_string(), where(key), " is not a string");
    return metadata[key].get<std::string>();
  }
  const json& array(const std::string& key) const {
    MMGEN_CHECK(has(key), where(key), " is missing");
    MMGEN_CHECK(metadata[key].is_array(), where(key), " is not an array");
    return metadata[key];
  }
  std::vector<std::string> strings(const std::string& key) const {
    const json& values = array(key);
    std::vector<std::string> out;
    out.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      MMGEN_CHECK(values[i].is_string(), where(key), "[", i, "] is not a string");
      out.push_back(values[i].get<std::string>());
    }
    return out;
  }
  std::optional<int32_t> token_id(const std::string& key, size_t vocab_size) const {
    if (!has(key)) return std::nullopt;
    const json& value = metadata[key];
    MMGEN_CHECK(value.is_number_integer(), where(key), " is not an integer");
    const int64_t id = value.get<int64_t>();
    MMGEN_CHECK(id >= 0 && static_cast<size_t>(id) < vocab_size, where(key), " is ", id,
                ", outside the vocabulary of ", vocab_size, " tokens");
    return static_cast<int32_t>(id);
  }
  std::optional<bool> boolean(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    MMGEN_CHECK(metadata[key].is_boolean(), where(key), " is not a boolean");
    return metadata[key].get<bool>();
  }
};

Vocabulary gguf_vocabulary(const GgufReader& gguf, bool scores_required) {
  Vocabulary vocab;
  vocab.tokens = gguf.strings("tokenizer.ggml.tokens");
  const size_t n = vocab.tokens.size();
  MMGEN_CHECK(n > 0, gguf.where("tokenizer.ggml.tokens"), " is empty");

  vocab.types.assign(n, TokenType::kNormal);
  if (gguf.has("tokenizer.ggml.token_type")) {
    const json& types = gguf.array("tokenizer.ggml.token_type");
    MMGEN_CHECK(types.size() == n, gguf.where("tokenizer.ggml.token_type"), " has ", types.size(),
                " entries for ", n, " tokens");
    for (size_t i = 0; i < n; ++i) {
      MMGEN_CHECK(types[i].is_number_integer(), gguf.where("tokenizer.ggml.token_type"), "[", i,
                  "] is not an integer");
      const int64_t type = types[i].get<int64_t>();
      MMGEN_CHECK(type >= 0 && type <= 6, gguf.where("tokenizer.ggml.token_type"), "[", i, "] is ",
                  type, " (expected 0..6)");
      vocab.types[i] = static_cast<TokenType>(type);
    }
  }
  if (gguf.has("tokenizer.ggml.scores")) {
    const json& scores = gguf.array("tokenizer.ggml.scores");
    MMGEN_CHECK(scores.size() == n, gguf.where("tokenizer.ggml.scores"), " has ", scores.size(),
                " entries for ", n, " tokens");
    vocab.scores.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      MMGEN_CHECK(scores[i].is_number(), gguf.where("tokenizer.ggml.scores"), "[", i,
                  "] is not a number");
      vocab.scores.push_back(scores[i].get<float>());
    }
  } else if (scores_required) {
    vocab.scores.assign(n, 0.0f);  // every merge then ties; the leftmost pair goes first
  }
  return vocab;
}

std::unique_ptr<Tokenizer> gguf_spm(const GgufReader& gguf) {
  Vocabulary vocab = gguf_vocabulary(gguf, true);
  const size_t n = vocab.tokens.size();
  // LLaMA's ids where the file names none (only when they exist).
  const auto fallback = [&](int32_t id) -> std::optional<int32_t> {
    if (static_cast<size_t>(id) < n) return id;
    return std::nullopt;
  };
  vocab.bos_id = gguf.has("tokenizer.ggml.bos_token_id")
                     ? gguf.token_id("tokenizer.ggml.bos_token_id", n)
                     : fallback(1);
  vocab.eos_id = gguf.has("tokenizer.ggml.eos_token_id")
                     ? gguf.token_id("tokenizer.ggml.eos_token_id", n)
                     : fallback(2);
  vocab.unk_id = gguf.has("tokenizer.ggml.unknown_token_id")
                     ? gguf.token_id("tokenizer.ggml.unknown_token_id", n)
                     : fallback(0);
  vocab.pad_id = gguf.token_id("tokenizer.ggml.padding_token_id", n);
  vocab.add_bos = gguf.boolean("tokenizer.ggml.add_bos_token").value_or(true);
  vocab.add_eos = gguf.boolean("tokenizer.ggml.add_eos_token").value_or(false);
  MMGEN_CHECK(!vocab.add_bos || vocab.bos_id, gguf.where("tokenizer.ggml.add_bos_token"),
              " is true but there is no BOS token");
  const bool add_space_prefix = gguf.boolean("tokenizer.ggml.add_space_prefix").value_or(true);
  return std::make_unique<SpmTokenizer>(std::move(vocab), gguf.source, add_space_prefix);
}

std::unique_ptr<Tokenizer> gguf_bpe(const GgufReader& gguf) {
  Vocabulary vocab = gguf_vocabulary(gguf, false);
  const size_t n = vocab.tokens.size();

  std::string pre = "default";
  if (gguf.has("tokenizer.ggml.pre")) {
    pre = gguf.string("tokenizer.ggml.pre");
  } else {
    std::cerr << "mmgen: warning: " << gguf.source
              << ": no tokenizer.ggml.pre; using the 'default' pre-tokenizer\n";
  }
  const auto spec = find_pre_tokenizer(pre);
  MMGEN_CHECK(spec.has_value(), gguf.where("tokenizer.ggml.pre"), " names the pre-tokenizer '", pre,
              "', which is not supported (supported: ", join(pre_tokenizer_names()), ")");

  BpeOptions options;
  options.pre_name = spec->name;
  options.split_patterns = spec->patterns;
  options.ignore_merges = spec->ignore_merges;
  options.byte_level = true;
  const auto merges = gguf.strings("tokenizer.ggml.merges");
  options.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    // "left right": cut at the first space after the first byte.
    const size_t cut = merges[i].find(' ', 1);
    MMGEN_CHECK(cut != std::string::npos, gguf.where("tokenizer.ggml.merges"), "[", i, "] ('",
                merges[i], "') is not two tokens separated by a space");
    options.merges.emplace_back(merges[i].substr(0, cut), merges[i].substr(cut + 1));
  }

  vocab.bos_id = gguf.token_id("tokenizer.ggml.bos_token_id", n);
  vocab.eos_id = gguf.token_id("tokenizer.ggml.eos_token_id", n);
  vocab.unk_id = gguf.token_id("tokenizer.ggml.unknown_token_id", n);
  vocab.pad_id = gguf.token_id("tokenizer.ggml.padding_token_id", n);
  vocab.add_bos = gguf.boolean("tokenizer.ggml.add_bos_token").value_or(spec->add_bos_default);
  vocab.add_eos = gguf.boolean("tokenizer.ggml.add_eos_token").value_or(false);
  MMGEN_CHECK(!vocab.add_bos || vocab.bos_id, gguf.where("tokenizer.ggml.add_bos_token"),
              " is true but there is no tokenizer.ggml.bos_token_id");
  MMGEN_CHECK(!vocab.add_eos || vocab.eos_id, gguf.where("tokenizer.ggml.add_eos_token"),
              " is true but there is no tokenizer.ggml.eos_token_id");
  return std::make_unique<BpeTokenizer>(std::move(vocab), gguf.source, std::move(options));
}

// ---- Hugging Face tokenizer.json -----------------------------------------------

struct HfReader {
  const std::string& source;
  std::string where(const std::string& field) const { return source + ": " + field; }
};

// A token given as "text" or {"content": "text"} (tokenizer_config.json).
std::optional<std::string> config_token(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return std::nullopt;
}

std::string regex_literal(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Reads the pre-tokenizer (and normalizer) into BPE options.
void hf_pre_tokenizer(const HfReader& hf, const json& node, const std::string& field,
                      BpeOptions& options, bool& byte_level_seen) {
  if (node.is_null()) return;
  MMGEN_CHECK(node.is_object() && node.contains("type") && node["type"].is_string(),
              hf.where(field), " is not an object with a string 'type'");
  const std::string type = node["type"].get<std::string>();
  if (type == "Sequence") {
    const json& items = node.value("pretokenizers", json());
    MMGEN_CHECK(items.is_array(), hf.where(field + ".pretokenizers"), " is not an array");
    for (size_t i = 0; i < items.size(); ++i) {
      hf_pre_tokenizer(hf, items[i], field + ".pretokenizers[" + std::to_string(i) + "]", options,
                       byte_level_seen);
    }
  } else if (type == "ByteLevel") {
    byte_level_seen = true;
    if (node.value("use_regex", true)) options.split_patterns.emplace_back(kGpt2Pattern);
    if (node.value("add_prefix_space", false)) options.space_prefix = SpacePrefix::kAlways;
  } else if (type == "Split") {
    const json& pattern = node.value("pattern", json());
    std::string regex;
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
      regex = pattern["Regex"].get<std::string>();
    } else if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
      regex = regex_literal(pattern["String"].get<std::string>());
    } else {
      fail(hf.where(field + ".pattern"), " is not {\"Regex\": ...} or {\"String\": ...}");
    }
    const std::string behavior = node.value("behavior", std::string("Isolated"));
    MMGEN_CHECK(behavior == "Isolated", hf.where(field + ".behavior"), " is '", behavior,
                "'; only 'Isolated' splits are supported");
    MMGEN_CHECK(!node.value("invert", false), hf.where(field + ".invert"),
                " is true; inverted splits are not supported");
    options.split_patterns.push_back(regex);
  } else if (type == "Digits") {
    options.split_patterns.emplace_back(node.value("individual_digits", false) ? R"(\p{N})"
                                                                               : R"(\p{N}+)");
  } else if (type == "Metaspace") {
    const std::string replacement = node.value("replacement", std::string(kMetaspace));
    MMGEN_CHECK(replacement == kMetaspace, hf.where(field + ".replacement"),
                " is not U+2581; other replacements are not supported");
    MMGEN_CHECK(!node.value("split", false), hf.where(field + ".split"),
                " is true; splitting on U+2581 is not supported");
    options.metaspace = true;
    std::string scheme = node.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = node.value("add_prefix_space", true) ? "always" : "never";
    if (scheme == "always") {
      options.space_prefix = SpacePrefix::kAlways;
    } else if (scheme == "first") {
      options.space_prefix = SpacePrefix::kFirst;
    } else if (scheme == "never") {
      options.space_prefix = SpacePrefix::kNever;
    } else {
      fail(hf.where(field + ".prepend_scheme"), " is '", scheme,
           "' (expected always, first or never)");
    }
  } else {
    fail(hf.where(field), " has type '", type,
         "', which is not supported (ByteLevel, Split, Digits, Metaspace, Sequence)");
  }
}

void hf_normalizer(const HfReader& hf, const json& node, const std::string& field,
                   BpeOptions& options) {
  if (node.is_null()) return;
  MMGEN_CHECK(node.is_object() && node.contains("type") && node["type"].is_string(),
              hf.where(field), " is not an object with a string 'type'");
  const std::string type = node["type"].get<std::string>();
  if (type == "Sequence") {
    const json& items = node.value("normalizers", json());
    MMGEN_CHECK(items.is_array(), hf.where(field + ".normalizers"), " is not an array");
    for (size_t i = 0; i < items.size(); ++i) {
      hf_normalizer(hf, items[i], field + ".normalizers[" + std::to_string(i) + "]", options);
    }
  } else if (type == "Prepend") {
    MMGEN_CHECK(node.value("prepend", std::string()) == kMetaspace, hf.where(field + ".prepend"),
                " is not U+2581; only the SentencePiece space prefix is supported");
    options.space_prefix = SpacePrefix::kAlways;
  } else if (type == "Replace") {
    const json& pattern = node.value("pattern", json());
    const bool spaces = pattern.is_object() && pattern.value("String", std::string()) == " " &&
                        node.value("content", std::string()) == kMetaspace;
    MMGEN_CHECK(spaces, hf.where(field),
                " replaces something other than ' ' by U+2581, which is not supported");
    options.metaspace = true;
  } else if (type == "NFC") {
    // Text is taken as it comes; input in composed form (the usual case) is unaffected.
  } else {
    fail(hf.where(field), " has type '", type,
         "', which is not supported (Prepend, Replace, NFC, Sequence)");
  }
}

// BOS/EOS from a TemplateProcessing post-processor's "single" template.
void hf_post_processor(const HfReader& hf, const json& node, const std::string& field,
                       Vocabulary& vocab) {
  if (!node.is_object()) return;
  const std::string type = node.value("type", std::string());
  if (type == "Sequence" && node.contains("processors") && node["processors"].is_array()) {
    for (size_t i = 0; i < node["processors"].size(); ++i) {
      hf_post_processor(hf, node["processors"][i], field + ".processors[" + std::to_string(i) + "]",
                        vocab);
    }
    return;
  }
  if (type != "TemplateProcessing") return;
  const json& single = node.value("single", json());
  if (!single.is_array() || single.empty()) return;
  const auto special_id = [&](const json& item) -> std::optional<int32_t> {
    if (!item.is_object() || !item.contains("SpecialToken")) return std::nullopt;
    const std::string name = item["SpecialToken"].value("id", std::string());
    const json& specials = node.value("special_tokens", json::object());
    MMGEN_CHECK(specials.contains(name) && specials[name].contains("ids") &&
                    specials[name]["ids"].is_array() && specials[name]["ids"].size() == 1 &&
                    specials[name]["ids"][0].is_number_integer(),
                hf.where(field + ".special_tokens"), " has no single id for '", name, "'");
    const int64_t id = specials[name]["ids"][0].get<int64_t>();
    MMGEN_CHECK(id >= 0 && static_cast<size_t>(id) < vocab.tokens.size(),
                hf.where(field + ".special_tokens"), ": id ", id, " of '", name,
                "' is outside the vocabulary");
    return static_cast<int32_t>(id);
  };
  if (const auto bos = special_id(single.front())) {
    vocab.bos_id = bos;
    vocab.add_bos = true;
  }
  if (single.size() > 1) {
    if (const auto eos = special_id(single.back())) {
      vocab.eos_id = eos;
      vocab.add_eos = true;
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_gguf_metadata(const json& metadata,
                                                        const std::string& source) {
  MMGEN_CHECK(metadata.is_object(), source, ": the GGUF metadata is not a key/value object");
  const GgufReader gguf{metadata, source};
  const std::string model = gguf.string("tokenizer.ggml.model");
  if (model == "llama") return gguf_spm(gguf);
  if (model == "gpt2") return gguf_bpe(gguf);
  fail(gguf.where("tokenizer.ggml.model"), " is '", model,
       "'; supported tokenizers are 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)");
}

std::unique_ptr<Tokenizer> tokenizer_from_hf_json(const json& root, const std::string& source,
                                                  const json& config) {
  const HfReader hf{source};
  MMGEN_CHECK(root.is_object(), source, ": not a JSON object");
  MMGEN_CHECK(root.contains("model") && root["model"].is_object(), hf.where("model"),
              " is missing or not an object");
  const json& model = root["model"];
  const std::string type = model.value("type", std::string(model.contains("merges") ? "BPE" : ""));
  MMGEN_CHECK(type == "BPE", hf.where("model.type"), " is '", type,
              "'; only BPE tokenizers are supported");
  MMGEN_CHECK(model.contains("vocab") && model["vocab"].is_object(), hf.where("model.vocab"),
              " is missing or not an object of token -> id");
  MMGEN_CHECK(model.contains("merges") && model["merges"].is_array(), hf.where("model.merges"),
              " is missing or not an array");
  MMGEN_CHECK(model.value("dropout", json()).is_null(), hf.where("model.dropout"),
              " is set; BPE dropout is not supported");
  for (const char* field : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& value = model.value(field, json());
    MMGEN_CHECK(value.is_null() || value == "", hf.where(std::string("model.") + field),
                " is set, which is not supported");
  }

  // Ids -> texts from the vocabulary and the added tokens.
  std::map<int64_t, std::pair<std::string, TokenType>> entries;
  for (const auto& [text, id] : model["vocab"].items()) {
    MMGEN_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0,
                hf.where("model.vocab['" + text + "']"), " is not a non-negative integer id");
    entries[id.get<int64_t>()] = {text, TokenType::kNormal};
  }
  const json& added = root.value("added_tokens", json::array());
  MMGEN_CHECK(added.is_array(), hf.where("added_tokens"), " is not an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const json& token = added[i];
    MMGEN_CHECK(token.is_object() && token.contains("id") && token["id"].is_number_integer() &&
                    token["id"].get<int64_t>() >= 0 && token.contains("content") &&
                    token["content"].is_string(),
                hf.where(field), " needs a non-negative integer 'id' and a string 'content'");
    const bool special = token.value("special", false);
    entries[token["id"].get<int64_t>()] = {token["content"].get<std::string>(),
                                           special ? TokenType::kControl : TokenType::kUserDefined};
  }
  MMGEN_CHECK(!entries.empty(), hf.where("model.vocab"), " is empty");
  const int64_t n = entries.rbegin()->first + 1;
  MMGEN_CHECK(static_cast<int64_t>(entries.size()) == n, hf.where("model.vocab"), ": ids run to ",
              n - 1, " but only ", entries.size(), " are used (the ids must be contiguous)");

  BpeOptions options;
  options.byte_fallback = model.value("byte_fallback", false);
  options.ignore_merges = model.value("ignore_merges", false);
  options.fuse_unk = model.value("fuse_unk", false);
  bool byte_level = false;
  hf_normalizer(hf, root.value("normalizer", json()), "normalizer", options);
  hf_pre_tokenizer(hf, root.value("pre_tokenizer", json()), "pre_tokenizer", options, byte_level);
  options.byte_level = byte_level;
  options.pre_name = byte_level ? "byte-level" : (options.metaspace ? "metaspace" : "none");

  Vocabulary vocab;
  vocab.tokens.reserve(n);
  vocab.types.reserve(n);
  for (auto& [id, entry] : entries) {
    TokenType token_type = entry.second;
    if (token_type == TokenType::kNormal && options.byte_fallback && entry.first.size() == 6 &&
        entry.first.rfind("<0x", 0) == 0 && entry.first.back() == '>') {
      token_type = TokenType::kByte;
    }
    vocab.tokens.push_back(std::move(entry.first));
    vocab.types.push_back(token_type);
  }
  const auto find_id = [&](const std::string& text) -> std::optional<int32_t> {
    for (size_t i = vocab.tokens.size(); i-- > 0;) {
      if (vocab.tokens[i] == text) return static_cast<int32_t>(i);
    }
    return std::nullopt;
  };
  const json& unk = model.value("unk_token", json());
  if (unk.is_string()) {
    vocab.unk_id = find_id(unk.get<std::string>());
    MMGEN_CHECK(vocab.unk_id.has_value(), hf.where("model.unk_token"), " '", unk.get<std::string>(),
                "' is not a token of the vocabulary");
    vocab.types[*vocab.unk_id] = TokenType::kUnknown;
  }
  hf_post_processor(hf, root.value("post_processor", json()), "post_processor", vocab);

  if (config.is_object()) {
    const auto config_id = [&](const char* key) -> std::optional<int32_t> {
      if (!config.contains(key) || config[key].is_null()) return std::nullopt;
      const auto text = config_token(config[key]);
      MMGEN_CHECK(text.has_value(), source, ": tokenizer_config.json '", key,
                  "' is not a token string or {\"content\": ...}");
      const auto id = find_id(*text);
      MMGEN_CHECK(id.has_value(), source, ": tokenizer_config.json '", key, "' ('", *text,
                  "') is not a token of the vocabulary");
      return id;
    };
    if (const auto id = config_id("bos_token")) vocab.bos_id = id;
    if (const auto id = config_id("eos_token")) vocab.eos_id = id;
    if (const auto id = config_id("pad_token")) vocab.pad_id = id;
    if (const auto id = config_id("unk_token")) vocab.unk_id = id;
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
      vocab.add_bos = config["add_bos_token"].get<bool>();
    }
    if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
      vocab.add_eos = config["add_eos_token"].get<bool>();
    }
  }

  const json& merges = model["merges"];
  options.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& merge = merges[i];
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t cut = text.find(' ', 1);
      MMGEN_CHECK(cut != std::string::npos, hf.where(field), " ('", text,
                  "') is not two tokens separated by a space");
      options.merges.emplace_back(text.substr(0, cut), text.substr(cut + 1));
    } else {
      MMGEN_CHECK(
          merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string(),
          hf.where(field), " is neither \"left right\" nor [\"left\", \"right\"]");
      options.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    }
  }
  return std::make_unique<BpeTokenizer>(std::move(vocab), source, std::move(options));
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  fs::path file = path;
  if (fs::is_directory(file)) file /= "tokenizer.json";
  MMGEN_CHECK(fs::exists(file), file.string(), ": no such file");
  if (file.extension() != ".json") {
    const auto model_file = ModelFile::open(file);
    return tokenizer_from_gguf_metadata(model_file->metadata(), file.string());
  }
  const auto read_json = [](const fs::path& json_path) {
    std::ifstream in(json_path, std::ios::binary);
    MMGEN_CHECK(in.good(), json_path.string(), ": cannot be read");
    try {
      return json::parse(in);
    } catch (const json::parse_error& error) {
      fail(json_path.string(), ": invalid JSON: ", error.what());
    }
  };
  const json root = read_json(file);
  const fs::path config_path = file.parent_path() / "tokenizer_config.json";
  const json config = fs::exists(config_path) ? read_json(config_path) : json();
  return tokenizer_from_hf_json(root, file.string(), config);
}

}  // namespace mmgen::text
