// Golden kinds of the language models. The manifest names a model ("llama_tiny");
// its weights map holds "<model>_hf" (the safetensors of a Hugging Face folder) and
// "<model>_gguf". Every case must hold for both forms: each kind runs both, checks
// the GGUF result against the reference itself (an Error naming the GGUF file when
// it deviates) and returns the Hugging Face result for the runner to compare.
#include "text/llm_golden.h"

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/golden.h"
#include "kernels/ops.h"
#include "text/llm.h"

namespace mmgen::text {

namespace {

std::vector<int32_t> token_ids(const GoldenContext& context) {
  const std::vector<int64_t> ids = context.tensor("token_ids").to_i64_vector();
  return std::vector<int32_t>(ids.begin(), ids.end());
}

using FormRunner = std::function<GoldenOutputs(const LanguageModel&)>;

// Runs `run` on the Hugging Face and the GGUF form of the case's model, both loaded
// onto the context's device (outputs may stay there: comparisons read them back).
GoldenOutputs run_both_forms(const GoldenContext& context, const FormRunner& run) {
  const std::string model = context.string("model");
  const auto hf = load_llm(context.weights_path(model + "_hf"), context.device());
  const auto gguf_path = context.weights_path(model + "_gguf");
  const auto gguf = load_llm(gguf_path, context.device());
  GoldenOutputs hf_out = run(*hf);
  const GoldenOutputs gguf_out = run(*gguf);

  const GoldenCase& golden_case = context.golden_case();
  for (const auto& [name, reference] : golden_case.outputs.items()) {
    MMGEN_CHECK(reference.is_string(), context.manifest().path.string(), ": case '",
                golden_case.name, "' output '", name, "' must be a tensor reference");
    const auto ref = parse_golden_reference(context.manifest_dir(), reference.get<std::string>());
    MMGEN_CHECK(ref.has_value(), context.manifest().path.string(), ": case '", golden_case.name,
                "' output '", name, "' is not a '<file>:<tensor>' reference");
    const Tensor expected = context.open(ref->file).tensor(ref->tensor);
    auto produced = gguf_out.values.find(name);
    MMGEN_CHECK(produced != gguf_out.values.end(), "no output '", name, "' produced");
    const GoldenOutputCheck check =
        compare_golden_output(name, produced->second, expected, golden_case.tolerances.at(name));
    MMGEN_CHECK(check.passed, "GGUF form (", gguf_path.string(), "): ", check.message);
  }
  return hf_out;
}

GoldenOutputs lm_logits(const GoldenContext& context) {
  const std::vector<int32_t> ids = token_ids(context);
  return run_both_forms(context, [&](const LanguageModel& model) {
    KvCache cache = model.make_cache();
    GoldenOutputs out;
    out.values["logits"] = model.forward(ids, cache);
    return out;
  });
}

GoldenOutputs lm_greedy(const GoldenContext& context) {
  const std::vector<int32_t> ids = token_ids(context);
  const int64_t n_new = context.integer("n_new");
  return run_both_forms(context, [&](const LanguageModel& model) {
    KvCache cache = model.make_cache();
    const std::vector<int32_t> generated = model.generate_greedy(ids, n_new, cache);
    GoldenOutputs out;
    out.values["new_ids"] =
        Tensor::from_vector(std::vector<int64_t>(generated.begin(), generated.end()),
                            {static_cast<int64_t>(generated.size())});
    return out;
  });
}

GoldenOutputs lm_kv_cache(const GoldenContext& context) {
  const std::vector<int32_t> ids = token_ids(context);
  const int64_t n_prefill = context.integer("n_prefill");
  MMGEN_CHECK(n_prefill >= 1 && n_prefill < static_cast<int64_t>(ids.size()),
              context.manifest().path.string(), ": case '", context.golden_case().name,
              "': n_prefill ", n_prefill, " must be in [1, ", ids.size(), ")");
  return run_both_forms(context, [&](const LanguageModel& model) {
    KvCache cache = model.make_cache();
    model.forward(std::vector<int32_t>(ids.begin(), ids.begin() + n_prefill), cache);
    std::vector<Tensor> rows;
    for (size_t i = static_cast<size_t>(n_prefill); i < ids.size(); ++i)
      rows.push_back(model.forward({ids[i]}, cache));
    GoldenOutputs out;
    out.values["decode_logits"] = kernels::concat(rows, 0);
    return out;
  });
}

}  // namespace

void register_llm_golden_kinds() {
  register_golden_kind("lm_logits", lm_logits);
  register_golden_kind("lm_greedy", lm_greedy);
  register_golden_kind("lm_kv_cache", lm_kv_cache);
}

}  // namespace mmgen::text
