// Chat formats: recognition from Jinja templates, the fallback for models without
// one, the rendered prompts, and where the template is found in model files.
#include "text/chat_template.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "core/error.h"
#include "core/gguf.h"
#include "core/tensor.h"
#include "tests/support/test_support.h"
#include "text/tokenizer_loader.h"

namespace mmgen::text {
namespace {

using Catch::Matchers::Contains;

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Name?"}};

}  // namespace

TEST_CASE("chat formats are recognised from their Jinja markers", "[chat_template]") {
  const std::string qwen =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const std::string llama3 =
      "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
      "message['content'] | trim + '<|eot_id|>' %}";
  const std::string llama2 =
      "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
      "' [/INST]' }}{% endif %}";
  CHECK(chat_format_from_template(qwen) == ChatFormat::kChatMl);
  CHECK(chat_format_from_template(llama3) == ChatFormat::kLlama3);
  CHECK(chat_format_from_template(llama2) == ChatFormat::kLlama2);
  CHECK_FALSE(chat_format_from_template("{{ messages[0]['content'] }}").has_value());
  CHECK_FALSE(chat_format_from_template("").has_value());
}

TEST_CASE("ChatML renders Qwen's format", "[chat_template]") {
  const ChatTemplate chat(ChatFormat::kChatMl);
  CHECK(chat.render(kConversation, true) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nName?<|im_end|>\n"
        "<|im_start|>assistant\n");
  CHECK(chat.render({{"user", "Hi"}}, false) == "<|im_start|>user\nHi<|im_end|>\n");
  CHECK_FALSE(chat.renders_bos());
  CHECK(chat.end_of_turn_tokens().front() == "<|im_end|>");
  CHECK(chat.stop_strings().empty());
}

TEST_CASE("Llama 3 renders headers and end-of-turn tokens", "[chat_template]") {
  const ChatTemplate chat(ChatFormat::kLlama3);
  CHECK(chat.render(kConversation, true) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nName?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(chat.renders_bos());
  CHECK(chat.end_of_turn_tokens().front() == "<|eot_id|>");
}

TEST_CASE("Llama 2 puts the system prompt inside the first instruction", "[chat_template]") {
  const ChatTemplate chat(ChatFormat::kLlama2);
  CHECK(chat.render(kConversation, true) ==
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
        "<s>[INST] Name? [/INST]");
  CHECK(chat.render({{"user", "Hi"}}, true) == "<s>[INST] Hi [/INST]");
  CHECK_THROWS_WITH(chat.render({{"user", "a"}, {"user", "b"}}, true),
                    Contains("user and assistant messages in turn"));
  CHECK_THROWS_WITH(chat.render({{"user", "a"}, {"system", "b"}}, true),
                    Contains("system message only first"));
}

TEST_CASE("the plain format labels each turn", "[chat_template]") {
  const ChatTemplate chat(ChatFormat::kPlain);
  CHECK(chat.render(kConversation, true) ==
        "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Name?\n\nAssistant:");
  CHECK(chat.stop_strings() == std::vector<std::string>{"\nUser:", "\nSystem:"});
  CHECK(chat.end_of_turn_tokens().empty());
}

TEST_CASE("unknown roles are rejected", "[chat_template]") {
  for (const auto format :
       {ChatFormat::kChatMl, ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kPlain})
    CHECK_THROWS_WITH(ChatTemplate(format).render({{"tool", "x"}}, true), Contains("'tool'"));
}

TEST_CASE("the format falls back on the vocabulary when no template is recognised",
          "[chat_template]") {
  const auto tokenizer = load_tokenizer(test::golden_file("llm/llama_tiny.gguf"));
  CHECK(choose_chat_format(std::nullopt, *tokenizer) == ChatFormat::kPlain);
  CHECK(choose_chat_format(std::string("{{ nothing known }}"), *tokenizer) == ChatFormat::kPlain);
  CHECK(choose_chat_format(std::string("<|im_start|>"), *tokenizer) == ChatFormat::kChatMl);
}

TEST_CASE("chat templates are found in GGUF metadata and tokenizer_config.json",
          "[chat_template]") {
  CHECK_FALSE(find_chat_template(test::golden_file("llm/llama_tiny.gguf").string()).has_value());
  CHECK_FALSE(find_chat_template(test::golden_file("llm/llama_tiny").string()).has_value());

  const auto dir = test::temp_dir("chat_template_test");
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  writer.add_string("tokenizer.chat_template", "{{ '<|im_start|>' }}");
  writer.add_tensor("x", Tensor::zeros({2}));
  writer.write(dir / "model.gguf");
  CHECK(find_chat_template((dir / "model.gguf").string()) == "{{ '<|im_start|>' }}");

  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "[INST] [/INST]"})";
  CHECK(find_chat_template(dir.string()) == "[INST] [/INST]");
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": [{"name": "tool_use", "template": "a"},
                               {"name": "default", "template": "b"}]})";
  CHECK(find_chat_template(dir.string()) == "b");
  std::ofstream(dir / "tokenizer_config.json") << "{not json";
  CHECK_THROWS_WITH(find_chat_template(dir.string()), Contains("tokenizer_config.json"));
}

}  // namespace mmgen::text
