#include "text/chat_template.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/model_file.h"
#include "text/tokenizer.h"

namespace mmgen::text {

std::string_view chat_format_name(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatMl:
      return "chatml";
    case ChatFormat::kLlama2:
      return "llama2";
    case ChatFormat::kLlama3:
      return "llama3";
    case ChatFormat::kPlain:
      return "plain";
  }
  return "unknown";
}

std::optional<ChatFormat> chat_format_from_template(std::string_view jinja) {
  const auto has = [&](std::string_view marker) { return jinja.find(marker) != jinja.npos; };
  if (has("<|im_start|>")) return ChatFormat::kChatMl;
  if (has("<|start_header_id|>") && has("<|eot_id|>")) return ChatFormat::kLlama3;
  if (has("[INST]") && has("[/INST]")) return ChatFormat::kLlama2;
  return std::nullopt;
}

ChatFormat choose_chat_format(const std::optional<std::string>& jinja, const Tokenizer& tokenizer) {
  if (jinja)
    if (const auto format = chat_format_from_template(*jinja)) return *format;
  const auto has = [&](std::string_view text) { return tokenizer.token_id(text).has_value(); };
  if (has("<|im_start|>") && has("<|im_end|>")) return ChatFormat::kChatMl;
  if (has("<|start_header_id|>") && has("<|eot_id|>")) return ChatFormat::kLlama3;
  return ChatFormat::kPlain;
}

namespace {

void check_role(const ChatMessage& m) {
  MMGEN_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant",
              "chat message role '", m.role, "' is not one of system, user, assistant");
}

std::string render_chatml(const std::vector<ChatMessage>& messages, bool generation_prompt) {
  std::string out;
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_llama3(const std::vector<ChatMessage>& messages, bool generation_prompt) {
  std::string out = "<|begin_of_text|>";
  for (const auto& m : messages)
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  if (generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Llama 2: the system prompt goes inside the first [INST]; every exchange is
// "<s>[INST] user [/INST] assistant </s>".
std::string render_llama2(const std::vector<ChatMessage>& messages) {
  std::string out, system;
  size_t first = 0;
  if (!messages.empty() && messages[0].role == "system") {
    system = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n";
    first = 1;
  }
  bool expect_user = true;
  for (size_t i = first; i < messages.size(); ++i) {
    const auto& m = messages[i];
    MMGEN_CHECK(m.role != "system", "the Llama 2 chat format takes a system message only first");
    MMGEN_CHECK((m.role == "user") == expect_user,
                "the Llama 2 chat format needs user and assistant messages in turn; message ",
                i + 1, " is '", m.role, "'");
    if (expect_user) {
      out += "<s>[INST] " + (i == first ? system : std::string()) + m.content + " [/INST]";
    } else {
      out += " " + m.content + " </s>";
    }
    expect_user = !expect_user;
  }
  return out;
}

std::string render_plain(const std::vector<ChatMessage>& messages, bool generation_prompt) {
  std::string out;
  for (const auto& m : messages) {
    const std::string label = m.role == "system" ? "System"
                              : m.role == "user" ? "User"
                                                 : "Assistant";
    out += label + ": " + m.content + "\n\n";
  }
  if (generation_prompt) out += "Assistant:";
  return out;
}

}  // namespace

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) const {
  for (const auto& m : messages) check_role(m);
  switch (format_) {
    case ChatFormat::kChatMl:
      return render_chatml(messages, add_generation_prompt);
    case ChatFormat::kLlama3:
      return render_llama3(messages, add_generation_prompt);
    case ChatFormat::kLlama2:
      return render_llama2(messages);  // ends with [/INST] already
    case ChatFormat::kPlain:
      return render_plain(messages, add_generation_prompt);
  }
  return {};
}

bool ChatTemplate::renders_bos() const {
  return format_ == ChatFormat::kLlama2 || format_ == ChatFormat::kLlama3;
}

std::vector<std::string> ChatTemplate::end_of_turn_tokens() const {
  switch (format_) {
    case ChatFormat::kChatMl:
      return {"<|im_end|>", "<|endoftext|>"};
    case ChatFormat::kLlama3:
      return {"<|eot_id|>", "<|end_of_text|>"};
    default:
      return {};
  }
}

std::vector<std::string> ChatTemplate::stop_strings() const {
  if (format_ == ChatFormat::kPlain) return {"\nUser:", "\nSystem:"};
  return {};
}

namespace {

std::optional<std::string> template_from_json(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {  // [{"name": "default", "template": "..."}, ...]
    for (const auto& item : value)
      if (item.is_object() && item.value("name", "") == "default" && item.contains("template") &&
          item["template"].is_string())
        return item["template"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> find_chat_template(const std::string& model_path) {
  namespace fs = std::filesystem;
  const fs::path path(model_path);
  fs::path folder = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config = folder / "tokenizer_config.json";
  if (fs::is_directory(path) || path.extension() == ".json" || path.extension() == ".safetensors") {
    if (!fs::exists(config)) return std::nullopt;
    std::ifstream in(config);
    nlohmann::json json;
    try {
      in >> json;
    } catch (const nlohmann::json::exception& e) {
      fail(config.string(), ": not valid JSON: ", e.what());
    }
    if (json.is_object() && json.contains("chat_template"))
      return template_from_json(json["chat_template"]);
    return std::nullopt;
  }
  const auto file = ModelFile::open(path);
  const auto& metadata = file->metadata();
  if (metadata.is_object() && metadata.contains("tokenizer.chat_template"))
    return template_from_json(metadata["tokenizer.chat_template"]);
  return std::nullopt;
}

}  // namespace mmgen::text
