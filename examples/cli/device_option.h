// The --device option every compute command shares.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/device.h"

namespace mmgen::cli {

inline void add_device_option(CLI::App& app, std::string& device) {
  app.add_option("--device", device,
                 "Where to compute: cpu, cuda or cuda:N (default: cpu; cuda needs a build with "
                 "CUDA and a device)")
      ->capture_default_str();
}

// Parses the option's text and checks the device can run here; throws Error otherwise.
inline Device resolve_device(const std::string& text) {
  return mmgen::resolve_device(text, "--device");
}

}  // namespace mmgen::cli
