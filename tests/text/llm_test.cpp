// Decoder-only language models: configuration from config.json and GGUF, loading
// errors, the KV cache and the agreement of the Hugging Face and GGUF forms, on the
// tiny golden models (../shared/golden/llm).
#include "text/llm.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/gguf.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen::text {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

const char* const kModels[] = {"llama_tiny", "qwen2_tiny", "gpt2_tiny"};

fs::path hf_dir(const std::string& model) { return test::golden_file("llm/" + model); }
fs::path gguf_file(const std::string& model) { return test::golden_file("llm/" + model + ".gguf"); }

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A prompt of in-vocabulary ids that differs per model.
std::vector<int32_t> prompt_of(int64_t length, int32_t seed) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < length; ++i)
    ids.push_back(static_cast<int32_t>((seed + 977 * i) % 30000));
  return ids;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_CASE("llm config is read from config.json", "[text][llm]") {
  const LlmConfig llama = llm_config_from_hf(read_json(hf_dir("llama_tiny") / "config.json"), "x");
  CHECK(llama.arch == LlmArch::kLlama);
  CHECK(llama.vocab_size == 32000);
  CHECK(llama.hidden_size == 64);
  CHECK(llama.intermediate_size == 172);
  CHECK(llama.num_layers == 2);
  CHECK(llama.num_heads == 4);
  CHECK(llama.num_kv_heads == 2);
  CHECK(llama.head_dim == 16);
  CHECK(llama.rotary_dims == 16);
  CHECK(llama.max_positions == 2048);
  CHECK(llama.norm_eps == Approx(1e-5));
  CHECK(llama.rope_theta == Approx(10000.0));
  CHECK(llama.rope_scaling.type == RopeScalingType::kNone);
  CHECK_FALSE(llama.tie_word_embeddings);
  CHECK_FALSE(llama.qkv_bias);
  CHECK(llama.bos_token_id == 1);
  CHECK(llama.eos_token_ids == std::vector<int64_t>{2});

  const LlmConfig qwen = llm_config_from_hf(read_json(hf_dir("qwen2_tiny") / "config.json"), "x");
  CHECK(qwen.arch == LlmArch::kQwen2);
  CHECK(qwen.vocab_size == 50257);
  CHECK(qwen.rope_theta == Approx(1e6));
  CHECK(qwen.norm_eps == Approx(1e-6));
  CHECK(qwen.qkv_bias);
  CHECK_FALSE(qwen.o_bias);
  CHECK(qwen.tie_word_embeddings);

  const LlmConfig gpt2 = llm_config_from_hf(read_json(hf_dir("gpt2_tiny") / "config.json"), "x");
  CHECK(gpt2.arch == LlmArch::kGpt2);
  CHECK(gpt2.hidden_size == 64);
  CHECK(gpt2.intermediate_size == 256);  // n_inner null: 4 * n_embd
  CHECK(gpt2.num_heads == 4);
  CHECK(gpt2.num_kv_heads == 4);
  CHECK(gpt2.head_dim == 16);
  CHECK(gpt2.max_positions == 128);
  CHECK(gpt2.norm_eps == Approx(1e-5));
  CHECK(gpt2.tie_word_embeddings);
  CHECK(gpt2.eos_token_ids == std::vector<int64_t>{50256});
}

TEST_CASE("llm config is read from GGUF metadata", "[text][llm]") {
  const auto llama_file = ModelFile::open(gguf_file("llama_tiny"));
  const LlmConfig llama = llm_config_from_gguf(llama_file->metadata(), "x");
  CHECK(llama.arch == LlmArch::kLlama);
  CHECK(llama.vocab_size == 32000);
  CHECK(llama.hidden_size == 64);
  CHECK(llama.intermediate_size == 172);
  CHECK(llama.num_layers == 2);
  CHECK(llama.num_heads == 4);
  CHECK(llama.num_kv_heads == 2);
  CHECK(llama.head_dim == 16);
  CHECK(llama.rotary_dims == 16);
  CHECK(llama.max_positions == 2048);
  CHECK(llama.norm_eps == Approx(1e-5));
  CHECK(llama.rope_theta == Approx(10000.0));
  CHECK(llama.bos_token_id == 1);
  CHECK(llama.eos_token_ids == std::vector<int64_t>{2});

  // qwen2's GGUF has no vocab_size key and no output.weight: the loader completes both.
  const LoadedLlm qwen = load_llm_weights(gguf_file("qwen2_tiny"));
  CHECK(qwen.config.arch == LlmArch::kQwen2);
  CHECK(qwen.config.vocab_size == 50257);
  CHECK(qwen.config.rope_theta == Approx(1e6));
  CHECK(qwen.config.norm_eps == Approx(1e-6));
  CHECK(qwen.config.qkv_bias);
  CHECK(qwen.config.tie_word_embeddings);
  CHECK(qwen.weights.rope_style == kernels::RopeStyle::kRotateHalf);
  CHECK(qwen.weights.lm_head.data() == qwen.weights.token_embd.data());

  const LoadedLlm llama_loaded = load_llm_weights(gguf_file("llama_tiny"));
  CHECK(llama_loaded.weights.rope_style == kernels::RopeStyle::kInterleaved);
  CHECK(llama_loaded.weights.layers[0].q.dtype() == DType::kF16);  // a view in the file dtype

  const auto gpt2_file = ModelFile::open(gguf_file("gpt2_tiny"));
  const LlmConfig gpt2 = llm_config_from_gguf(gpt2_file->metadata(), "x");
  CHECK(gpt2.arch == LlmArch::kGpt2);
  CHECK(gpt2.intermediate_size == 256);
  CHECK(gpt2.max_positions == 128);
  CHECK(gpt2.norm_eps == Approx(1e-5));
}

TEST_CASE("llm LLaMA 3 rope scaling rescales the rotary frequencies", "[text][llm]") {
  json config = read_json(hf_dir("llama_tiny") / "config.json");
  config["hidden_size"] = 4096;
  config["num_attention_heads"] = 32;
  config["head_dim"] = 128;
  config["rope_theta"] = 500000.0;
  config["rope_scaling"] = {{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 8192}};
  const LlmConfig c = llm_config_from_hf(config, "x");
  REQUIRE(c.rope_scaling.type == RopeScalingType::kLlama3);
  const std::vector<float> inv_freq = rope_inv_freq(c);
  REQUIRE(inv_freq.size() == 64);
  CHECK(inv_freq[0] == Approx(1.0));                      // short wavelengths kept
  CHECK(inv_freq[20] == Approx(0.016560440080994446));    // still high frequency
  CHECK(inv_freq[30] == Approx(0.0013718935677611381));   // blended band
  CHECK(inv_freq[33] == Approx(0.00031269375038406517));  // blended band
  CHECK(inv_freq[40] == Approx(3.428102195952591e-05));   // long wavelengths / factor
  CHECK(inv_freq[63] == Approx(3.068925988914511e-07));

  config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
  const std::vector<float> linear = rope_inv_freq(llm_config_from_hf(config, "x"));
  CHECK(linear[40] == Approx(0.0002742481756762073 / 2));

  config["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0}};
  CHECK_THROWS_WITH(llm_config_from_hf(config, "cfg.json"),
                    Contains("cfg.json") && Contains("'yarn'"));
}

TEST_CASE("llm unsupported architectures are named in the error", "[text][llm]") {
  json config = read_json(hf_dir("llama_tiny") / "config.json");
  config["architectures"] = {"FalconForCausalLM"};
  CHECK_THROWS_WITH(llm_config_from_hf(config, "cfg.json"),
                    Contains("cfg.json") && Contains("'FalconForCausalLM'"));

  const fs::path dir = test::temp_dir("llm_arch");
  write_text(dir / "config.json", config.dump());
  CHECK_THROWS_WITH(load_llm(dir), Contains("FalconForCausalLM"));

  GgufWriter writer;
  writer.add_string("general.architecture", "falcon");
  writer.add_tensor("token_embd.weight", Tensor::zeros({4, 2}));
  writer.write(dir / "falcon.gguf");
  CHECK_THROWS_WITH(load_llm(dir / "falcon.gguf"), Contains("falcon.gguf") && Contains("'falcon'"));

  CHECK_THROWS_WITH(load_llm(dir / "absent"), Contains("absent"));
}

TEST_CASE("llm a missing tensor is named with its file", "[text][llm]") {
  const fs::path dir = test::temp_dir("llm_missing");
  fs::copy_file(hf_dir("llama_tiny") / "config.json", dir / "config.json");
  const auto source = ModelFile::open(hf_dir("llama_tiny") / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const TensorInfo& info : source->tensors())
    if (info.name != "model.layers.1.mlp.down_proj.weight")
      tensors.emplace_back(info.name, source->tensor(info.name));
  write_safetensors(dir / "model.safetensors", tensors);
  const std::string message = error_of([&] { load_llm(dir); });
  CHECK_THAT(message, Contains("model.layers.1.mlp.down_proj.weight") &&
                          Contains((dir / "model.safetensors").string()));

  // A tensor of the wrong shape is named too, with both shapes.
  tensors.emplace_back("model.layers.1.mlp.down_proj.weight", Tensor::zeros({64, 64}));
  write_safetensors(dir / "model.safetensors", tensors);
  CHECK_THROWS_WITH(load_llm(dir), Contains("model.layers.1.mlp.down_proj.weight") &&
                                       Contains("[64, 64]") && Contains("[64, 172]"));
}

TEST_CASE("llm sharded safetensors folders load like a single file", "[text][llm]") {
  const fs::path dir = test::temp_dir("llm_sharded");
  fs::copy_file(hf_dir("llama_tiny") / "config.json", dir / "config.json");
  const auto source = ModelFile::open(hf_dir("llama_tiny") / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> shards[2];
  json weight_map = json::object();
  size_t i = 0;
  for (const TensorInfo& info : source->tensors()) {
    const size_t shard = i++ % 2;
    shards[shard].emplace_back(info.name, source->tensor(info.name));
    weight_map[info.name] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  write_safetensors(dir / "model-00001-of-00002.safetensors", shards[0]);
  write_safetensors(dir / "model-00002-of-00002.safetensors", shards[1]);
  write_text(dir / "model.safetensors.index.json", json{{"weight_map", weight_map}}.dump());

  const std::vector<int32_t> ids = prompt_of(6, 11);
  const auto sharded = load_llm(dir);
  const auto single = load_llm(hf_dir("llama_tiny"));
  KvCache a = sharded->make_cache(), b = single->make_cache();
  const test::Difference diff = test::compare(sharded->forward(ids, a), single->forward(ids, b));
  CHECK(diff.max_abs == 0.0);

  // A tensor the index does not list is reported against the index.
  weight_map.erase("model.norm.weight");
  write_text(dir / "model.safetensors.index.json", json{{"weight_map", weight_map}}.dump());
  CHECK_THROWS_WITH(load_llm(dir),
                    Contains("model.safetensors.index.json") && Contains("'model.norm.weight'"));
}

TEST_CASE("llm KV-cache decoding equals one full prefill", "[text][llm]") {
  for (const char* model_name : kModels) {
    for (const fs::path& path : {hf_dir(model_name), gguf_file(model_name)}) {
      INFO(path.string());
      const auto model = load_llm(path);
      const std::vector<int32_t> ids = prompt_of(9, 5);
      KvCache full_cache = model->make_cache();
      const Tensor full = model->forward(ids, full_cache);
      CHECK(full_cache.length() == 9);

      KvCache cache = model->make_cache();
      std::vector<Tensor> rows = {
          model->forward(std::vector<int32_t>(ids.begin(), ids.begin() + 4), cache)};
      rows.push_back(model->forward({ids[4], ids[5]}, cache));  // a small batch mid-stream
      for (size_t i = 6; i < ids.size(); ++i) rows.push_back(model->forward({ids[i]}, cache));
      CHECK(cache.length() == 9);
      const test::Difference diff = test::compare(kernels::concat(rows, 0), full);
      CHECK(diff.max_abs < 1e-4);
      CHECK(diff.rel_l2 < 1e-5);
    }
  }
}

TEST_CASE("llm exceeding the context limit is an error", "[text][llm]") {
  const auto model = load_llm(gguf_file("llama_tiny"));
  KvCache cache = model->make_cache(6);
  CHECK(cache.limit() == 6);
  model->forward(prompt_of(5, 1), cache);
  CHECK_THROWS_WITH(model->forward(prompt_of(2, 3), cache),
                    Contains("context limit") && Contains("6 positions"));
  CHECK(cache.length() == 5);  // the failed call left the cache as it was
  CHECK(model->forward({7}, cache).shape() == Shape{1, 32000});
  CHECK_THROWS_WITH(model->forward({7}, cache), Contains("context limit"));

  CHECK_THROWS_WITH(model->make_cache(4096), Contains("4096") && Contains("2048"));

  // GPT-2's learned positions end at n_positions (128).
  const auto gpt2 = load_llm(hf_dir("gpt2_tiny"));
  KvCache gpt2_cache = gpt2->make_cache();
  CHECK(gpt2_cache.limit() == 128);
  CHECK_THROWS_WITH(gpt2->forward(prompt_of(129, 2), gpt2_cache), Contains("128 positions"));

  KvCache greedy_cache = model->make_cache(8);
  CHECK_THROWS_WITH(model->generate_greedy(prompt_of(5, 1), 5, greedy_cache),
                    Contains("context limit"));
  CHECK(model->generate_greedy(prompt_of(5, 1), 4, greedy_cache).size() == 4);
}

TEST_CASE("llm bad tokens are errors naming the id", "[text][llm]") {
  const auto model = load_llm(hf_dir("qwen2_tiny"));
  KvCache cache = model->make_cache();
  CHECK_THROWS_WITH(model->forward({1, 50257}, cache), Contains("50257") && Contains("[0, 50257)"));
  CHECK_THROWS_WITH(model->forward({}, cache), Contains("at least one token"));
  CHECK(cache.length() == 0);
}

TEST_CASE("llm Hugging Face and GGUF forms agree", "[text][llm]") {
  for (const char* model_name : kModels) {
    INFO(model_name);
    const auto hf = load_llm(hf_dir(model_name));
    const auto gguf = load_llm(gguf_file(model_name));
    CHECK(hf->format() == ModelFormat::kSafetensors);
    CHECK(gguf->format() == ModelFormat::kGguf);
    const std::vector<int32_t> ids = prompt_of(7, 42);
    KvCache a = hf->make_cache(), b = gguf->make_cache();
    const Tensor hf_logits = hf->forward(ids, a);
    CHECK(hf_logits.shape() == Shape{7, hf->config().vocab_size});
    const test::Difference diff = test::compare(gguf->forward(ids, b), hf_logits);
    CHECK(diff.max_abs < 1e-4);

    KvCache c = hf->make_cache(), d = gguf->make_cache();
    CHECK(hf->generate_greedy(ids, 6, c) == gguf->generate_greedy(ids, 6, d));
  }

  // The llama GGUF q/k rows are permuted for interleaved RoPE: rotate-half on them
  // gives other logits, which is why the loader picks the style per file.
  LoadedLlm loaded = load_llm_weights(gguf_file("llama_tiny"));
  loaded.weights.rope_style = kernels::RopeStyle::kRotateHalf;
  const LanguageModel wrong(std::move(loaded));
  const auto hf = load_llm(hf_dir("llama_tiny"));
  KvCache a = hf->make_cache(), b = wrong.make_cache();
  const std::vector<int32_t> ids = prompt_of(7, 42);
  CHECK(test::compare(wrong.forward(ids, b), hf->forward(ids, a)).max_abs > 1e-3);
}

// The llama tiny GGUF rewritten to `path`: each tensor passed through `convert`, and
// `extra` tensors added.
void rewrite_llama_gguf(const fs::path& path, const std::function<Tensor(const Tensor&)>& convert,
                        const std::vector<std::pair<std::string, Tensor>>& extra = {}) {
  const auto source = ModelFile::open(gguf_file("llama_tiny"));
  const json& meta = source->metadata();
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  for (const char* key : {"block_count", "context_length", "embedding_length",
                          "feed_forward_length", "attention.head_count", "attention.head_count_kv"})
    writer.add_uint32(std::string("llama.") + key,
                      meta.at(std::string("llama.") + key).get<uint32_t>());
  for (const char* key : {"rope.freq_base", "attention.layer_norm_rms_epsilon"})
    writer.add_float32(std::string("llama.") + key,
                       meta.at(std::string("llama.") + key).get<float>());
  for (const TensorInfo& info : source->tensors())
    writer.add_tensor(info.name, convert(source->tensor(info.name)));
  for (const auto& [name, tensor] : extra) writer.add_tensor(name, tensor);
  writer.write(path);
}

// The llama tiny GGUF with its matrices in a block-quantised type (those whose rows
// fill whole blocks; the others stay f16). With `dequantized`, the same values are
// stored back as f32 instead.
fs::path write_quantized_llama(DType dtype, const fs::path& dir, bool dequantized = false) {
  const fs::path path =
      dir / (std::string(dtype_name(dtype)) + (dequantized ? "_f32.gguf" : ".gguf"));
  rewrite_llama_gguf(path, [&](const Tensor& t) {
    const bool whole_blocks = t.ndim() == 2 && t.dim(1) % block_size(dtype) == 0;
    const Tensor quantized = whole_blocks ? t.to(DType::kF32).to(dtype) : t;
    return dequantized ? quantized.to(DType::kF32) : quantized;
  });
  return path;
}

TEST_CASE("llm GGUF block-quantised weights run in their file dtype", "[text][llm]") {
  const fs::path dir = test::temp_dir("llm_quantized");
  const auto hf = load_llm(hf_dir("llama_tiny"));
  const std::vector<int32_t> ids = prompt_of(6, 8);
  KvCache hf_cache = hf->make_cache();
  const Tensor reference = hf->forward(ids, hf_cache);
  const std::pair<DType, double> cases[] = {{DType::kQ8_0, 0.05}, {DType::kQ4_0, 0.5}};
  for (const auto& [dtype, tolerance] : cases) {
    INFO(dtype_name(dtype));
    const auto model = load_llm(write_quantized_llama(dtype, dir));
    CHECK(model->weights().layers[0].q.dtype() == dtype);
    CHECK(model->weights().token_embd.dtype() == dtype);
    CHECK(model->weights().layers[0].down.dtype() == DType::kF16);  // 172 columns
    KvCache cache = model->make_cache();
    const test::Difference diff = test::compare(model->forward(ids, cache), reference);
    CHECK(diff.rel_l2 < tolerance);
    CHECK(diff.rel_l2 > 0.0);

    // The same values dequantised to f32: the quantised path computes the same function.
    const auto twin = load_llm(write_quantized_llama(dtype, dir, true));
    KvCache twin_cache = twin->make_cache();
    KvCache cache2 = model->make_cache();
    const test::Difference exact =
        test::compare(model->forward(ids, cache2), twin->forward(ids, twin_cache));
    CHECK(exact.max_abs < 1e-3);
    CHECK(exact.rel_l2 < 1e-4);
  }
}

TEST_CASE("llm LLaMA 3 rope scaling agrees between config.json and GGUF rope_freqs",
          "[text][llm]") {
  const fs::path dir = test::temp_dir("llm_rope_scaling");
  // A small original context puts the tiny model's 8 frequencies in all three bands.
  json config = read_json(hf_dir("llama_tiny") / "config.json");
  config["rope_scaling"] = {{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 256}};
  fs::create_directory(dir / "hf");
  write_text(dir / "hf" / "config.json", config.dump());
  fs::create_symlink(hf_dir("llama_tiny") / "model.safetensors", dir / "hf" / "model.safetensors");
  const auto hf = load_llm(dir / "hf");

  // llama.cpp's converter stores the scaling as divisors of the default frequencies.
  const LlmConfig scaled = hf->config();
  LlmConfig plain = scaled;
  plain.rope_scaling = {};
  const std::vector<float> base = rope_inv_freq(plain), llama3 = rope_inv_freq(scaled);
  std::vector<float> factors;
  for (size_t i = 0; i < base.size(); ++i) factors.push_back(base[i] / llama3[i]);
  CHECK(factors.front() == Approx(1.0f));
  CHECK(factors.back() == Approx(8.0f));
  rewrite_llama_gguf(dir / "llama3.gguf", [](const Tensor& t) { return t; },
                     {{"rope_freqs.weight", Tensor::from_vector(factors, {8})}});
  const auto gguf = load_llm(dir / "llama3.gguf");
  REQUIRE(gguf->weights().rope_freq_factors.defined());

  const std::vector<int32_t> ids = prompt_of(12, 4);
  KvCache a = hf->make_cache(), b = gguf->make_cache();
  const Tensor hf_logits = hf->forward(ids, a);
  CHECK(test::compare(gguf->forward(ids, b), hf_logits).max_abs < 1e-4);
  // ... and the scaling changes the result.
  const auto unscaled = load_llm(hf_dir("llama_tiny"));
  KvCache c = unscaled->make_cache();
  CHECK(test::compare(unscaled->forward(ids, c), hf_logits).max_abs > 1e-3);
}

TEST_CASE("llm greedy generation stops at a stop id", "[text][llm]") {
  const auto model = load_llm(hf_dir("gpt2_tiny"));
  const std::vector<int32_t> ids = prompt_of(4, 9);
  KvCache cache = model->make_cache();
  const std::vector<int32_t> all = model->generate_greedy(ids, 5, cache);
  REQUIRE(all.size() == 5);
  CHECK(cache.length() == 4 + 4);  // the last new token is never fed back

  KvCache stop_cache = model->make_cache();
  const std::vector<int32_t> stopped = model->generate_greedy(ids, 5, stop_cache, {all[1]});
  const auto first = std::find(all.begin(), all.end(), all[1]);  // all[0] may equal it
  CHECK(stopped == std::vector<int32_t>(all.begin(), first + 1));
  KvCache none_cache = model->make_cache();
  CHECK(model->generate_greedy(ids, 0, none_cache).empty());
  CHECK(none_cache.length() == 0);
}

}  // namespace
}  // namespace mmgen::text
