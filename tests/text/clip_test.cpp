// The CLIP tokenizer (text cleaning, BPE, SD1.x framing and chunking) and the
// CLIP text encoder (config inference, prefixes, clip skip, errors). Fixtures:
// ../shared/golden/sd1 (sd1_tiny.safetensors, clip_text.safetensors,
// tokenizer_cases.safetensors); the vocabulary is the project's data/clip copy.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"
#include "text/clip_text_model.h"
#include "text/clip_tokenizer.h"

namespace mmgen::text {
namespace {

using Catch::Matchers::Contains;

std::filesystem::path project_vocab() {
  return test::test_data_dir().parent_path().parent_path() / "data" / "clip" /
         "bpe_simple_vocab_16e6.txt.gz";
}

const ClipTokenizer& tokenizer() {
  static const std::unique_ptr<ClipTokenizer> instance = ClipTokenizer::load(project_vocab());
  return *instance;
}

std::vector<int32_t> row_of(const Tensor& ids, int64_t row) {
  std::vector<int32_t> out;
  const auto values = ids.to_i64_vector();
  const int64_t width = ids.dim(1);
  for (int64_t i = 0; i < width; ++i) out.push_back(static_cast<int32_t>(values[row * width + i]));
  return out;
}

std::string repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// The encoder's tensors of sd1_tiny renamed from `from` to `to` (and some left out).
std::vector<std::pair<std::string, Tensor>> renamed_encoder(const ModelFile& file,
                                                            const std::string& from,
                                                            const std::string& to,
                                                            const std::string& skip = "") {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& info : file.tensors()) {
    if (info.name.rfind(from, 0) != 0 || info.name == skip) continue;
    tensors.emplace_back(to + info.name.substr(from.size()), file.tensor(info.name));
  }
  return tensors;
}

const std::string kSd1Prefix = "cond_stage_model.transformer.text_model.";

}  // namespace

TEST_CASE("clip vocabulary is built like the reference", "[text][clip]") {
  const ClipTokenizer& t = tokenizer();
  CHECK(t.vocab_size() == 49408);
  CHECK(t.start_id() == 49406);
  CHECK(t.end_id() == 49407);
  CHECK(t.token_text(0) == "!");
  CHECK(t.token_text(256) == "!</w>");
  CHECK(t.token_text(49406) == "<|startoftext|>");
  CHECK(t.token_id("cat</w>") == 2368);
  CHECK(t.token_id("no such token") == -1);
  CHECK_THROWS_WITH(t.token_text(49408), Contains("49408") && Contains("bpe_simple_vocab"));
}

TEST_CASE("clip tokenizer encodes a prompt with SD1 framing", "[text][clip]") {
  const ClipTokenizer& t = tokenizer();
  const std::vector<int32_t> bpe = t.encode("a photo of an astronaut riding a horse on mars");
  CHECK(bpe == std::vector<int32_t>{320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496});

  const auto row = t.encode_framed("a photo of an astronaut riding a horse on mars");
  REQUIRE(row.size() == 77);
  CHECK(row[0] == 49406);
  CHECK(std::vector<int32_t>(row.begin() + 1, row.begin() + 11) == bpe);
  for (size_t i = 11; i < 77; ++i) CHECK(row[i] == 49407);

  ClipFraming zero_pad;
  zero_pad.pad_id = 0;
  zero_pad.context_length = 16;
  const auto short_row =
      t.encode_framed("a photo of an astronaut riding a horse on mars", zero_pad);
  REQUIRE(short_row.size() == 16);
  CHECK(short_row[11] == 49407);
  CHECK(short_row[12] == 0);
  CHECK(short_row[15] == 0);

  CHECK(t.decode(bpe) == "a photo of an astronaut riding a horse on mars ");
}

TEST_CASE("clip tokenizer matches the reference ids of the fixture prompts", "[text][clip]") {
  const auto file = ModelFile::open(test::golden_file("sd1/tokenizer_cases.safetensors"));
  const ClipTokenizer& t = tokenizer();
  CHECK(t.encode_framed("café naïve résumé über señor") ==
        row_of(file->tensor("accents.input_ids"), 0));
  CHECK(t.encode_framed("rocket 🚀 and cat 🐱 emoji") == row_of(file->tensor("emoji.input_ids"), 0));
  CHECK(t.encode_framed("") == row_of(file->tensor("empty.input_ids"), 0));
}

TEST_CASE("clip tokenizer truncates to 75 tokens and chunks long prompts", "[text][clip]") {
  const ClipTokenizer& t = tokenizer();
  // 100 x "cat," is 200 BPE tokens: chunks of 75, 75 and 50.
  const std::string prompt = repeat("cat, ", 100);
  const auto ids = t.encode(prompt);
  REQUIRE(ids.size() == 200);
  const int32_t cat = t.token_id("cat</w>");
  const int32_t comma = t.token_id(",</w>");
  CHECK(ids[0] == cat);
  CHECK(ids[1] == comma);

  const auto chunks = t.encode_chunked(prompt);
  REQUIRE(chunks.size() == 3);
  for (const auto& chunk : chunks) {
    REQUIRE(chunk.size() == 77);
    CHECK(chunk.front() == 49406);
  }
  CHECK(std::vector<int32_t>(chunks[0].begin() + 1, chunks[0].begin() + 76) ==
        std::vector<int32_t>(ids.begin(), ids.begin() + 75));
  CHECK(chunks[0][76] == 49407);
  CHECK(std::vector<int32_t>(chunks[1].begin() + 1, chunks[1].begin() + 76) ==
        std::vector<int32_t>(ids.begin() + 75, ids.begin() + 150));
  CHECK(chunks[1][1] == comma);  // token 75 is a comma: chunks cut at token counts only
  CHECK(chunks[1][76] == 49407);
  CHECK(std::vector<int32_t>(chunks[2].begin() + 1, chunks[2].begin() + 51) ==
        std::vector<int32_t>(ids.begin() + 150, ids.end()));
  for (size_t i = 51; i < 77; ++i) CHECK(chunks[2][i] == 49407);

  // One row truncates: the first chunk.
  CHECK(t.encode_framed(prompt) == chunks[0]);
  // Exactly 75 tokens stay one chunk; an empty prompt is one row.
  CHECK(t.encode_chunked(repeat("cat ", 75)).size() == 1);
  CHECK(t.encode_chunked(repeat("cat ", 76)).size() == 2);
  const auto empty = t.encode_chunked("");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0][0] == 49406);
  CHECK(empty[0][1] == 49407);

  ClipFraming bad;
  bad.context_length = 2;
  CHECK_THROWS_WITH(t.encode_chunked("cat", bad), Contains("context_length"));
}

TEST_CASE("clip text cleaning unescapes html entities", "[text][clip]") {
  CHECK(html_unescape("Tom &amp; Jerry") == "Tom & Jerry");
  CHECK(html_unescape("&lt;b&gt; &quot;x&quot; &apos;y&#39; &#x27;") == "<b> \"x\" 'y' '");
  CHECK(html_unescape("&amp;lt;") == "&lt;");  // one level per call
  CHECK(html_unescape("caf&eacute; &copy 2024 &ampfoo") == "café © 2024 &foo");
  CHECK(html_unescape("&hellip;&mdash;&euro;&trade;") == "…—€™");
  CHECK(html_unescape("&#128; &#0; &#xD800; &#1; &#x1F680;") == "€ \xEF\xBF\xBD \xEF\xBF\xBD  🚀");
  CHECK(html_unescape("&unknown; & &#; &#x;") == "&unknown; & &#; &#x;");
  CHECK(html_unescape("&apos") == "&apos");  // only legacy entities work without ';'

  CHECK(clip_clean_text("&amp;lt;b&amp;gt;") == "<b>");  // twice, as the reference does
  CHECK(clip_clean_text("  Multiple \t spaces\n\u00a0and\u3000more  ") ==
        "multiple spaces and more");
  const ClipTokenizer& t = tokenizer();
  CHECK(t.encode("Tom &amp; Jerry") == t.encode("tom & jerry"));
  CHECK(t.encode("it&#39;s") == t.encode("it's"));
}

TEST_CASE("clip text cleaning lower-cases beyond ASCII", "[text][clip]") {
  CHECK(unicode_lower("HELLO World") == "hello world");
  CHECK(unicode_lower("ÀÉÎÕÜÇÑ ÆØÞ ×") == "àéîõüçñ æøþ ×");
  CHECK(unicode_lower("ŁÓDŹ ŒŸ Ǆǅǆ ẞ Ấ") == "łódź œÿ ǆǆǆ ß ấ");
  CHECK(unicode_lower("ΑΘΗΝΑ ΆΈΏ") == "αθηνα άέώ");
  CHECK(unicode_lower("ΟΔΟΣ Σ ΣΑ") ==
        "\u03bf\u03b4\u03bf\u03c2 \u03c3 \u03c3\u03b1");  // final sigma only after a letter
  CHECK(unicode_lower("ПРИВЕТ ЁЖ Ѣ") == "привет ёж ѣ");
  CHECK(unicode_lower("İ") == "i\u0307");
  CHECK(unicode_lower("ἈΘῆΝΑΙ ᾈ Ὰ Ʀ") == "ἀθῆναι ᾀ ὰ ʀ");  // Greek Extended, irregular Latin
  CHECK(unicode_lower("ＡＢＣ 一只猫") == "ａｂｃ 一只猫");

  const ClipTokenizer& t = tokenizer();
  CHECK(t.encode("A BEAUTIFUL Sunset") == t.encode("a beautiful sunset"));
  CHECK(t.encode("ÉCOLE") == t.encode("école"));
  CHECK(t.encode("<|startoftext|>hi<|ENDOFTEXT|>") ==
        std::vector<int32_t>{49406, t.token_id("hi</w>"), 49407});
}

TEST_CASE("clip tokenizer reports unreadable vocabularies", "[text][clip]") {
  CHECK_THROWS_WITH(ClipTokenizer::load("/nonexistent/vocab.txt.gz"),
                    Contains("/nonexistent/vocab.txt.gz"));
  CHECK_THROWS_WITH(ClipTokenizer("header\na b\nc d\n", "short.txt"),
                    Contains("short.txt") && Contains("2 merges"));
  CHECK_THROWS_WITH(ClipTokenizer("header\nab\n", "bad.txt"),
                    Contains("bad.txt") && Contains("line 2"));
}

TEST_CASE("clip text encoder infers its config from the checkpoint", "[text][clip]") {
  const auto file = ModelFile::open(test::golden_file("sd1/sd1_tiny.safetensors"));
  const ClipTextConfig c = infer_clip_text_config(*file);
  CHECK(c.prefix == kSd1Prefix);
  CHECK(c.vocab_size == 49408);
  CHECK(c.hidden_size == 64);
  CHECK(c.max_positions == 77);
  CHECK(c.num_layers == 2);
  CHECK(c.intermediate_size == 256);
  CHECK(c.num_heads == 1);  // 64 / 64 without an explicit head count
  CHECK(c.hidden_act == "quick_gelu");

  ClipTextOptions options;
  options.num_heads = 4;
  options.hidden_act = "gelu";
  const ClipTextConfig c4 = infer_clip_text_config(*file, options);
  CHECK(c4.num_heads == 4);
  CHECK(c4.hidden_act == "gelu");

  options.num_heads = 5;
  CHECK_THROWS_WITH(infer_clip_text_config(*file, options), Contains("5 attention heads"));
  options.num_heads = 4;
  options.hidden_act = "swish";
  CHECK_THROWS_WITH(infer_clip_text_config(*file, options), Contains("swish"));
}

TEST_CASE("clip text encoder reproduces the reference hidden states", "[text][clip]") {
  const auto fixture = ModelFile::open(test::golden_file("sd1/clip_text.safetensors"));
  ClipTextOptions options;
  options.num_heads = 4;
  const auto model = ClipTextModel::load(test::golden_file("sd1/sd1_tiny.safetensors"), options);
  const Tensor ids = fixture->tensor("input_ids");
  const ClipTextOutput out = model->forward(ids);
  REQUIRE(out.hidden_states.size() == 3);
  CHECK(out.last_hidden_state.shape() == Shape{2, 77, 64});

  const auto last = test::compare(out.last_hidden_state, fixture->tensor("last_hidden_state"));
  CHECK(last.max_abs < 4e-4);
  CHECK(last.rel_l2 < 1e-4);
  const auto penultimate =
      test::compare(out.hidden_states[1], fixture->tensor("penultimate_hidden_state"));
  CHECK(penultimate.max_abs < 2e-4);
  CHECK(penultimate.rel_l2 < 1e-4);

  // clip skip 1 is the last layer; 2 is the penultimate layer through the final LayerNorm.
  CHECK(test::compare(model->encode(ids, 1), out.last_hidden_state).max_abs == 0.0);
  const auto skip2 = test::compare(model->encode(ids, 2), fixture->tensor("penultimate_final_ln"));
  CHECK(skip2.max_abs < 4e-4);
  CHECK(skip2.rel_l2 < 1e-4);
  CHECK_THROWS_WITH(model->encode(ids, 3), Contains("clip_skip 3"));
  CHECK_THROWS_WITH(model->encode(ids, 0), Contains("clip_skip 0"));

  // Shorter rows run too (positions 0..L-1); longer ones than the table do not.
  CHECK(model->forward(ids.narrow(1, 0, 5).contiguous()).last_hidden_state.shape() ==
        Shape{2, 5, 64});
  const Tensor too_long = Tensor::zeros({1, 78}, DType::kI64);
  CHECK_THROWS_WITH(model->forward(too_long), Contains("78 tokens"));
}

TEST_CASE("clip text encoder reads a standalone text_model file", "[text][clip]") {
  const auto sd1 = ModelFile::open(test::golden_file("sd1/sd1_tiny.safetensors"));
  const auto path = test::temp_dir("clip_standalone") / "text_encoder.safetensors";
  write_safetensors(path, renamed_encoder(*sd1, kSd1Prefix, "text_model."));

  ClipTextOptions options;
  options.num_heads = 4;
  const auto model = ClipTextModel::load(path, options);
  CHECK(model->config().prefix == "text_model.");
  CHECK(model->config().num_layers == 2);

  const auto fixture = ModelFile::open(test::golden_file("sd1/clip_text.safetensors"));
  const auto diff = test::compare(model->forward(fixture->tensor("input_ids")).last_hidden_state,
                                  fixture->tensor("last_hidden_state"));
  CHECK(diff.max_abs < 4e-4);
}

TEST_CASE("clip text encoder names a missing tensor and its file", "[text][clip]") {
  const auto sd1 = ModelFile::open(test::golden_file("sd1/sd1_tiny.safetensors"));
  const auto dir = test::temp_dir("clip_missing");

  const auto missing_bias = dir / "missing_bias.safetensors";
  write_safetensors(missing_bias, renamed_encoder(*sd1, kSd1Prefix, "text_model.",
                                                  kSd1Prefix + "encoder.layers.1.mlp.fc2.bias"));
  CHECK_THROWS_WITH(ClipTextModel::load(missing_bias),
                    Contains("text_model.encoder.layers.1.mlp.fc2.bias") &&
                        Contains("missing_bias.safetensors") && Contains("missing"));

  const auto no_encoder = dir / "no_encoder.safetensors";
  write_safetensors(no_encoder, {{"unrelated.weight", Tensor::zeros({2, 2})}});
  CHECK_THROWS_WITH(
      ClipTextModel::load(no_encoder),
      Contains("no_encoder.safetensors") && Contains("embeddings.token_embedding.weight"));
}

}  // namespace mmgen::text
