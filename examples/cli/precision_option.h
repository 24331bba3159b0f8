// The --precision option of the commands that run a vocoder (tts, vocode, avatar).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/precision.h"

namespace mmgen::cli {

inline void add_precision_option(CLI::App& app, std::string& precision) {
  app.add_option("--precision", precision,
                 "Vocoder arithmetic: f32 (the reference's) or bf16 (bf16 weights and "
                 "products, f32 sums: about five times faster on CPUs with AMX; docs/tts.md)")
      ->capture_default_str();
}

// Parses the option's text; throws Error naming --precision otherwise.
inline Precision resolve_precision(const std::string& text) {
  return parse_precision(text, "--precision");
}

}  // namespace mmgen::cli
