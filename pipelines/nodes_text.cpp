// text.template (fills {name} placeholders) and text.generate (a language model
// continues or answers a prompt).
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "text/chat_template.h"
#include "text/generation.h"
#include "text/sampling.h"

namespace mmgen::pipelines {
namespace {

// The template's parts: literal text and placeholder names, in order. "{{" and
// "}}" write a brace; an unclosed "{" is an error.
struct TemplatePart {
  bool placeholder = false;
  std::string text;
};

std::vector<TemplatePart> split_template(const std::string& t) {
  std::vector<TemplatePart> parts(1);
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if ((c == '{' || c == '}') && i + 1 < t.size() && t[i + 1] == c) {
      parts.back().text += c;
      ++i;
    } else if (c == '{') {
      const size_t end = t.find('}', i);
      if (end == std::string::npos)
        field_fail("template", "has a '{' at offset ", i, " with no '}'");
      const std::string name = t.substr(i + 1, end - i - 1);
      if (name.empty() || name.find_first_of("{ ") != std::string::npos)
        field_fail("template", "has a bad placeholder \"{", name,
                   "}\"; write {name}, or {{ for a brace");
      parts.push_back({true, name});
      parts.push_back({});
      i = end;
    } else if (c == '}') {
      field_fail("template", "has a '}' at offset ", i, " with no '{'; write }} for a brace");
    } else {
      parts.back().text += c;
    }
  }
  return parts;
}

void check_template(const NodeContext& known) {
  if (!known.has("template")) return;
  for (const auto& part : split_template(known.text("template")))
    if (part.placeholder &&
        (part.text == "template" || (!known.has(part.text) && !known.connected(part.text))))
      field_fail("template", "uses {", part.text, "} but the node has no field \"", part.text,
                 "\"");
}

NodeSpec template_node() {
  NodeSpec s;
  s.type = "text.template";
  s.help = "Text with {name} placeholders filled from the node's other fields";
  FieldSpec t = text_field("template", "text with {name} placeholders");
  s.fields = {t};
  s.extra_fields = PortType::kText;
  s.outputs = {{"text", PortType::kText, "the filled text"}};
  s.check = check_template;
  s.run = [](NodeContext& c) {
    std::string out;
    for (const auto& part : split_template(c.text("template"))) {
      if (!part.placeholder) {
        out += part.text;
        continue;
      }
      if (!c.has(part.text) || part.text == "template")
        field_fail("template", "uses {", part.text, "} but the node has no field \"", part.text,
                   "\"");
      out += c.text(part.text);
    }
    c.set_output("text", Value::of_text(std::move(out)));
  };
  return s;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

void run_generate(NodeContext& c) {
  const std::filesystem::path path = c.file("model");
  const auto tm = c.models().get<text::TextModel>(ModelCache::key("llm", path, c.device()), [&] {
    return std::make_shared<const text::TextModel>(text::load_text_model(path, c.device()));
  });
  text::SamplingParams params;
  params.temperature = static_cast<float>(c.number("temperature"));
  params.top_k = static_cast<int32_t>(c.integer("top_k"));
  params.top_p = static_cast<float>(c.number("top_p"));
  params.min_p = static_cast<float>(c.number("min_p"));
  params.repeat_penalty = static_cast<float>(c.number("repeat_penalty"));
  params.seed = c.seed("seed");
  text::validate_sampling_params(params);

  text::GenerationOptions options;
  options.max_tokens = c.integer("max_tokens");
  if (!c.text("stop").empty()) options.stop_strings.push_back(c.text("stop"));
  std::vector<int32_t> prompt;
  if (c.boolean("chat")) {
    const text::ChatTemplate chat(
        text::choose_chat_format(text::find_chat_template(path.string()), *tm->tokenizer));
    std::vector<text::ChatMessage> messages;
    if (!c.text("system").empty()) messages.push_back({"system", c.text("system")});
    messages.push_back({"user", c.text("prompt")});
    const std::string rendered = chat.render(messages, /*add_generation_prompt=*/true);
    prompt = tm->tokenizer->encode(rendered, /*add_special=*/!chat.renders_bos(),
                                   /*parse_special=*/true);
    for (const auto& s : chat.stop_strings()) options.stop_strings.push_back(s);
    for (const auto& token : chat.end_of_turn_tokens())
      if (const auto id = tm->tokenizer->token_id(token)) options.stop_ids.push_back(*id);
  } else {
    const std::string text =
        c.text("system").empty() ? c.text("prompt") : c.text("system") + "\n\n" + c.text("prompt");
    prompt = tm->tokenizer->encode(text, /*add_special=*/true);
  }
  MMGEN_CHECK(!prompt.empty(), "the prompt encodes to no tokens");
  text::KvCache cache = tm->model->make_cache();
  MMGEN_CHECK(static_cast<int64_t>(prompt.size()) < cache.limit(), "the prompt has ", prompt.size(),
              " tokens; the model's context holds ", cache.limit());

  text::Sampler sampler(params);
  ProgressCallback progress = c.step_progress();
  const auto started = std::chrono::steady_clock::now();
  int64_t step = 0;
  const auto on_token = [&](int32_t) {
    ProgressEvent e;
    e.stage = "generating";
    e.step = ++step;
    e.total = options.max_tokens;
    e.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return progress(e);
  };
  const auto on_text = [&](std::string_view piece) { return c.emit_text(piece); };
  const text::GenerationResult result =
      text::Generator(*tm->model, *tm->tokenizer)
          .generate(prompt, cache, sampler, options, on_text, on_token);
  c.check_cancelled();
  Metadata meta = {{"seed", std::to_string(params.seed)},
                   {"stop reason", std::string(text::stop_reason_name(result.reason))}};
  Value text_out = Value::of_text(trim(result.text));
  text_out.metadata = meta;
  c.set_output("text", std::move(text_out));
  c.set_output("tokens", Value::of_tokens({result.ids, result.text}, meta));
}

NodeSpec generate_node() {
  NodeSpec s;
  s.type = "text.generate";
  s.help = "A language model (GGUF file or Hugging Face folder) answers or continues a prompt";
  FieldSpec prompt = text_field("prompt", "the prompt");
  prompt.non_empty = true;
  FieldSpec chat;
  chat.name = "chat";
  chat.type = PortType::kBoolean;
  chat.help = "wrap the prompt in the model's chat format (false: continue it as plain text)";
  chat.default_value = true;
  FieldSpec top_p = number_field("top_p", "nucleus mass (1: all)", 0.95, 0.0, 1.0);
  top_p.exclusive_min = true;
  FieldSpec penalty = number_field("repeat_penalty", "repetition penalty (1: off)", 1.0, 0.0);
  penalty.exclusive_min = true;
  s.fields = {file_field("model", "GGUF file or Hugging Face folder"),
              prompt,
              text_field("system", "system message (chat) or preamble", ""),
              chat,
              int_field("max_tokens", "new tokens at most", 128, 1, 1 << 20),
              number_field("temperature", "sampling temperature (0: greedy)", 0.8, 0.0),
              int_field("top_k", "keep the K most likely tokens (0: all)", 40, 0),
              top_p,
              number_field("min_p", "drop tokens below min_p times the best", 0.05, 0.0, 1.0),
              penalty,
              text_field("stop", "stop at this text (empty: none)", ""),
              seed_field()};
  s.outputs = {{"text", PortType::kText, "the generated text, trimmed"},
               {"tokens", PortType::kTokens, "the generated token ids and their text"}};
  s.run = run_generate;
  return s;
}

}  // namespace

void add_text_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(template_node());
  specs.push_back(generate_node());
}

}  // namespace mmgen::pipelines
