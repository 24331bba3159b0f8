// Hugging Face checkpoints in bf16 and f32 (the golden folders are f16): the weights
// stay in their file dtype and compute the same function as their f32 values.
#include <catch2/catch.hpp>
#include <filesystem>

#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"
#include "text/llm.h"

namespace mmgen::text {
namespace {

namespace fs = std::filesystem;

// The golden llama_tiny folder rewritten with every tensor converted by `convert`.
fs::path rewrite_llama(const std::string& name,
                       const std::function<Tensor(const Tensor&)>& convert) {
  const fs::path source = test::golden_file("llm/llama_tiny");
  const fs::path dir = test::temp_dir(name);
  fs::copy_file(source / "config.json", dir / "config.json");
  const auto file = ModelFile::open(source / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const TensorInfo& info : file->tensors())
    tensors.emplace_back(info.name, convert(file->tensor(info.name)));
  write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

}  // namespace

TEST_CASE("llm bf16 safetensors weights run in bf16 and equal their f32 values", "[text][llm]") {
  const auto to_bf16 = [](const Tensor& t) {
    return t.dtype() == DType::kF16 ? t.to(DType::kF32).to(DType::kBF16) : t;
  };
  const auto bf16_as_f32 = [&](const Tensor& t) {
    return t.dtype() == DType::kF16 ? to_bf16(t).to(DType::kF32) : t;
  };
  const auto bf16 = load_llm(rewrite_llama("llm_bf16", to_bf16));
  const auto f32 = load_llm(rewrite_llama("llm_bf16_as_f32", bf16_as_f32));
  const auto f16 = load_llm(test::golden_file("llm/llama_tiny"));
  CHECK(bf16->weights().layers[0].q.dtype() == DType::kBF16);
  CHECK(f32->weights().layers[0].q.dtype() == DType::kF32);

  const std::vector<int32_t> ids = {1, 450, 7483, 310, 3444, 338};
  KvCache a = bf16->make_cache(), b = f32->make_cache(), c = f16->make_cache();
  const Tensor logits = bf16->forward(ids, a);
  const test::Difference same = test::compare(logits, f32->forward(ids, b));
  CHECK(same.max_abs < 1e-4);
  CHECK(same.rel_l2 < 1e-5);
  // bf16 keeps 8 bits of mantissa: close to the f16 original, not equal.
  const test::Difference rounded = test::compare(logits, f16->forward(ids, c));
  CHECK(rounded.rel_l2 > 0.0);
  CHECK(rounded.rel_l2 < 0.05);
}

}  // namespace mmgen::text
