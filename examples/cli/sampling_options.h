// The sampling options that `mmgen generate` and `mmgen chat` share.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>

#include "core/error.h"
#include "core/thread_pool.h"
#include "text/sampling.h"

namespace mmgen::cli {

struct SamplingOptions {
  text::SamplingParams params;
  std::optional<uint64_t> seed;
  int threads = 0;
};

inline void add_sampling_options(CLI::App& app, SamplingOptions& o) {
  app.add_option("--temp", o.params.temperature, "Temperature; 0 picks the most likely token")
      ->capture_default_str();
  app.add_option("--top-k", o.params.top_k, "Keep the K most likely tokens (0: all)")
      ->capture_default_str();
  app.add_option("--top-p", o.params.top_p,
                 "Keep the most likely tokens up to this probability mass (1: all)")
      ->capture_default_str();
  app.add_option("--min-p", o.params.min_p,
                 "Drop tokens less likely than P times the most likely one (0: off)")
      ->capture_default_str();
  app.add_option("--repeat-penalty", o.params.repeat_penalty,
                 "Penalty for tokens among the last --repeat-last-n (1: off)")
      ->capture_default_str();
  app.add_option("--repeat-last-n", o.params.repeat_last_n,
                 "How many recent tokens the repeat penalty looks at")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (default: a random one, printed on stderr)");
  app.add_option("--threads", o.threads, "CPU threads (default: all cores)");
}

// Validated parameters with the seed filled in; applies --threads.
inline text::SamplingParams resolve_sampling(const SamplingOptions& o) {
  MMGEN_CHECK(o.threads >= 0, "--threads must be >= 0, got ", o.threads);
  if (o.threads > 0) set_num_threads(o.threads);
  text::SamplingParams params = o.params;
  text::validate_sampling_params(params);
  if (o.seed) {
    params.seed = *o.seed;
  } else {
    std::random_device device;
    params.seed = (static_cast<uint64_t>(device()) << 32) | device();
    if (params.temperature > 0)
      std::fprintf(stderr, "seed: %llu\n", static_cast<unsigned long long>(params.seed));
  }
  return params;
}

}  // namespace mmgen::cli
