// llm_bench: prefill and decode speed of a llama on the CPU or a CUDA device, next
// to the decode bound that memory bandwidth sets.
//
// It writes a llama with random weights (about 100M parameters: hidden 768,
// 12 layers, 12 heads, feed-forward 1792, vocabulary 32000, tied head) as GGUF in
// F32, F16 and Q8_0 into a temporary folder, loads each with load_llm, and times
// a prefill of 128 tokens and 64 decode steps after it. A decode step reads every
// weight once, so it cannot beat
//   bound = memory bandwidth (measured here) / weight bytes.
// The bandwidth is the STREAM triad on the CPU, and on a GPU the best large
// device-to-device copy (bytes read + written). Token ids are fed directly: the files
// carry no tokenizer. On a GPU the work is asynchronous, so the timed work ends by
// reading a result back: the prefill's greedy next token, and in the decode loop
// each step's greedy token, which is fed to the next step (as generation does).
//
//   llm_bench [--threads N] [--quick] [--device cpu|cuda|cuda:N]

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "benchmarks/bench_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/gguf.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/ops.h"
#include "text/llm.h"

namespace mmgen::bench {
namespace {

namespace fs = std::filesystem;
using bench::Clock;
using bench::cpu_model;
using bench::Options;
using bench::seconds_since;

struct ModelShape {
  int64_t hidden, layers, heads, ffn, vocab;
  int64_t parameters() const {
    return vocab * hidden + layers * (4 * hidden * hidden + 3 * hidden * ffn + 2 * hidden) + hidden;
  }
};

// A normal(0, scale) f32 tensor from Philox stream (seed, stream).
Tensor random_weight(Shape shape, uint64_t stream, float scale) {
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  float* data = t.typed_data<float>();
  fill_normal(data, t.numel(), 2024, stream);
  for (int64_t i = 0; i < t.numel(); ++i) data[i] *= scale;
  return t;
}

// Writes the model with its matrices in `dtype` (norms stay f32, as llama.cpp
// keeps them); returns the bytes of all weights.
size_t write_model(const ModelShape& m, DType dtype, const fs::path& path) {
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  writer.add_string("general.name", "llm_bench random llama");
  writer.add_uint32("llama.context_length", 2048);
  writer.add_uint32("llama.embedding_length", static_cast<uint32_t>(m.hidden));
  writer.add_uint32("llama.block_count", static_cast<uint32_t>(m.layers));
  writer.add_uint32("llama.feed_forward_length", static_cast<uint32_t>(m.ffn));
  writer.add_uint32("llama.attention.head_count", static_cast<uint32_t>(m.heads));
  writer.add_uint32("llama.attention.head_count_kv", static_cast<uint32_t>(m.heads));
  writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  writer.add_float32("llama.rope.freq_base", 10000.0f);
  size_t bytes = 0;
  uint64_t stream = 0;
  const auto matrix = [&](const std::string& name, Shape shape) {
    const Tensor t = random_weight(std::move(shape), stream++, 0.02f).to(dtype);
    bytes += t.nbytes();
    writer.add_tensor(name, t);
  };
  const auto norm = [&](const std::string& name) {
    const Tensor t = Tensor::full({m.hidden}, 1.0f);
    bytes += t.nbytes();
    writer.add_tensor(name, t);
  };
  matrix("token_embd.weight", {m.vocab, m.hidden});  // also the (tied) head
  norm("output_norm.weight");
  for (int64_t l = 0; l < m.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight");
    matrix(p + "attn_q.weight", {m.hidden, m.hidden});
    matrix(p + "attn_k.weight", {m.hidden, m.hidden});
    matrix(p + "attn_v.weight", {m.hidden, m.hidden});
    matrix(p + "attn_output.weight", {m.hidden, m.hidden});
    norm(p + "ffn_norm.weight");
    matrix(p + "ffn_gate.weight", {m.ffn, m.hidden});
    matrix(p + "ffn_up.weight", {m.ffn, m.hidden});
    matrix(p + "ffn_down.weight", {m.hidden, m.ffn});
  }
  writer.write(path);
  return bytes;
}

struct Speed {
  double prefill_tps = 0, decode_tps = 0;
};

// The greedy next token after the last row of `logits`, read back to the host: on a
// GPU this waits for every kernel that produced the logits.
int32_t greedy_token(const Tensor& logits) {
  const Tensor last = logits.narrow(0, logits.dim(0) - 1, 1);
  return static_cast<int32_t>(kernels::argmax(last).cpu().to_i64_vector()[0]);
}

// Best of `runs`: a prefill of n_prefill ids, then n_decode single-token steps.
Speed measure(const text::LanguageModel& model, int64_t n_prefill, int64_t n_decode, int runs) {
  const bool on_gpu = model.device().is_cuda();
  std::vector<int32_t> prompt(static_cast<size_t>(n_prefill));
  const auto vocab = static_cast<uint64_t>(model.config().vocab_size);
  for (size_t i = 0; i < prompt.size(); ++i)
    prompt[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
  text::KvCache cache = model.make_cache(n_prefill + n_decode + 1);
  if (on_gpu) {  // untimed warm-up: library handles, kernel loading, the allocator
    greedy_token(model.forward({greedy_token(model.forward(prompt, cache))}, cache));
  }
  Speed best;
  for (int run = 0; run < runs; ++run) {
    cache.clear();
    auto start = Clock::now();
    Tensor logits = model.forward(prompt, cache);
    int32_t next = on_gpu ? greedy_token(logits) : 0;
    best.prefill_tps =
        std::max(best.prefill_tps, static_cast<double>(n_prefill) / seconds_since(start));
    start = Clock::now();
    for (int64_t i = 0; i < n_decode; ++i) {
      if (on_gpu) {
        next = greedy_token(model.forward({next}, cache));
      } else {
        logits = model.forward({static_cast<int32_t>((i * 31 + 5) % vocab)}, cache);
      }
    }
    best.decode_tps =
        std::max(best.decode_tps, static_cast<double>(n_decode) / seconds_since(start));
  }
  return best;
}

int run(int argc, char** argv) {
  Options options;
  if (const auto exit_code =
          bench::parse_options(argc, argv, "llm_bench", "a ~10M-parameter model, for a smoke run",
                               false, options, /*device=*/true))
    return *exit_code;
  if (options.threads > 0) set_num_threads(options.threads);
  const Device device = resolve_device(options.device, "--device");
  const ModelShape shape =
      options.quick ? ModelShape{320, 6, 5, 864, 8000} : ModelShape{768, 12, 12, 1792, 32000};
  const int64_t n_prefill = options.quick ? 32 : 128;
  const int64_t n_decode = options.quick ? 16 : 64;
  const int runs = options.quick ? 1 : 2;
  if (device.is_cpu())
    std::printf("llm_bench: %s, %d threads%s\n", cpu_model().c_str(), num_threads(),
                options.quick ? " (quick sizes)" : "");
  else
    std::printf("llm_bench: %s (host %s)%s\n", device.str().c_str(), cpu_model().c_str(),
                options.quick ? " (quick sizes)" : "");
  std::printf(
      "model: llama, random weights, %.1fM parameters (hidden %lld, %lld layers, %lld "
      "heads, ffn %lld, vocab %lld, tied head)\n",
      static_cast<double>(shape.parameters()) / 1e6, static_cast<long long>(shape.hidden),
      static_cast<long long>(shape.layers), static_cast<long long>(shape.heads),
      static_cast<long long>(shape.ffn), static_cast<long long>(shape.vocab));
  const double bandwidth = device.is_cpu()
                               ? bench::measure_triad_bandwidth_gbs(options.quick)
                               : bench::measure_device_copy_bandwidth_gbs(device, options.quick);
  std::printf(device.is_cpu() ? "memory bandwidth (triad): %.1f GB/s\n"
                              : "gpu memory bandwidth (device copy, read + write): %.1f GB/s\n",
              bandwidth);
  std::printf("prefill %lld tokens, then %lld decode steps; best of %d\n\n",
              static_cast<long long>(n_prefill), static_cast<long long>(n_decode), runs);
  std::printf("%-6s %10s %14s %13s %16s %9s\n", "dtype", "weights", "prefill tok/s", "decode tok/s",
              "decode bound", "of bound");
  std::fflush(stdout);

  const ScratchDir scratch("mmgen_llm_bench");
  const fs::path& dir = scratch.path();

  // LLM_BENCH_ONLY=<dtype> in the environment measures only that dtype (for profiling).
  const char* only = std::getenv("LLM_BENCH_ONLY");
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    if (only != nullptr && std::string_view(only) != dtype_name(dtype)) continue;
    const fs::path path = dir / ("llama_" + std::string(dtype_name(dtype)) + ".gguf");
    const size_t bytes = write_model(shape, dtype, path);
    const auto model = text::load_llm(path, device);
    const Speed speed = measure(*model, n_prefill, n_decode, runs);
    const double bound = bandwidth * 1e9 / static_cast<double>(bytes);
    char weights[32], bound_text[32];
    std::snprintf(weights, sizeof weights, "%.1f MB", static_cast<double>(bytes) / 1e6);
    std::snprintf(bound_text, sizeof bound_text, "%.1f tok/s", bound);
    std::printf("%-6s %10s %14.1f %13.1f %16s %8.0f%%\n", std::string(dtype_name(dtype)).c_str(),
                weights, speed.prefill_tps, speed.decode_tps, bound_text,
                100.0 * speed.decode_tps / bound);
    std::fflush(stdout);
    std::error_code ec;
    fs::remove(path, ec);
  }
  return 0;
}

}  // namespace
}  // namespace mmgen::bench

int main(int argc, char** argv) {
  return mmgen::bench::run_main("llm_bench", mmgen::bench::run, argc, argv);
}
