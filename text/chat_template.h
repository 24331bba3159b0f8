// Chat prompts: the conversation rendered in the text format a chat model was
// trained on. The formats in use are few, so instead of running the model's
// Jinja template, mmgen recognises which one it is from its markers and renders
// that format itself (docs/generation.md lists the rules and the fallback).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmgen::text {

class Tokenizer;

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFormat {
  kChatMl,  // <|im_start|>role\n...<|im_end|>\n (Qwen and others)
  kLlama2,  // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>
  kLlama3,  // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  kPlain,   // "System: ...\n\nUser: ...\n\nAssistant: ..." for models without a template
};
std::string_view chat_format_name(ChatFormat format);  // "chatml", "llama2", "llama3", "plain"

// The format a Jinja chat template implements, from its markers; nullopt when
// none is recognised.
std::optional<ChatFormat> chat_format_from_template(std::string_view jinja);

// The format for a model: its template when recognised; otherwise ChatML when
// the vocabulary has <|im_start|> and <|im_end|>, Llama 3 when it has
// <|start_header_id|> and <|eot_id|>, else plain.
ChatFormat choose_chat_format(const std::optional<std::string>& jinja, const Tokenizer& tokenizer);

class ChatTemplate {
 public:
  explicit ChatTemplate(ChatFormat format) : format_(format) {}
  ChatFormat format() const { return format_; }

  // The conversation as text, with the special tokens written out (encode it with
  // parse_special). add_generation_prompt ends it with the opening of an
  // assistant turn. Roles other than system/user/assistant are an Error; Llama 2
  // accepts a system message only first.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  // Whether render() writes the BOS token itself (Llama 2 and 3); otherwise the
  // tokenizer's add_special adds it where the vocabulary wants one.
  bool renders_bos() const;

  // Texts of the tokens that end an assistant turn besides EOS (<|im_end|>,
  // <|eot_id|>), and strings that mean the model started the next turn (plain).
  std::vector<std::string> end_of_turn_tokens() const;
  std::vector<std::string> stop_strings() const;

 private:
  ChatFormat format_;
};

// The chat template a model file carries: GGUF metadata tokenizer.chat_template,
// or chat_template in tokenizer_config.json of a Hugging Face folder (a string, or
// the "default" entry of a list of named templates). nullopt when there is none.
std::optional<std::string> find_chat_template(const std::string& model_path);

}  // namespace mmgen::text
