// Measurements shared by the benchmarks: wall-clock timing and the machine's
// memory bandwidth, the bound of every memory-bound line.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace mmgen::bench {

// A fresh folder for a benchmark's generated model files, removed with everything in it
// when the benchmark ends (also when it ends by an exception).
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// STREAM-style triad a = b + s c over arrays far larger than the caches, on the
// thread pool; counts the bytes read and written (12 per element; the
// write-allocate read of a is not counted, as in STREAM). Best of several runs.
inline double measure_triad_bandwidth_gbs(bool quick) {
  const int64_t n = quick ? (int64_t{8} << 20) : (int64_t{64} << 20);  // floats per array
  std::vector<float> a(n), b(n), c(n);
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) a[i] = 0, b[i] = 1.0f, c[i] = 2.0f;
      },
      1 << 16);
  double best = 1e300;
  for (int run = 0; run < (quick ? 3 : 8); ++run) {
    const auto start = Clock::now();
    parallel_for(
        n,
        [&](int64_t begin, int64_t end) {
          float* __restrict pa = a.data();
          const float* __restrict pb = b.data();
          const float* __restrict pc = c.data();
          for (int64_t i = begin; i < end; ++i) pa[i] = pb[i] + 0.5f * pc[i];
        },
        1 << 16);
    best = std::min(best, seconds_since(start));
  }
  if (a[n / 2] != 2.0f) std::printf(" ");  // keeps the stores alive
  return 12.0 * static_cast<double>(n) / best / 1e9;
}

// Waits until `t`'s device has finished the work that produces it: a one-element
// copy to the host is ordered after every kernel before it. Nothing to do on the CPU.
inline void wait_for(const Tensor& t) {
  if (t.device().is_cuda() && t.numel() > 0) (void)t.reshape({-1}).narrow(0, 0, 1).cpu();
}

// A GPU's memory bandwidth: the best device-to-device copy of a buffer far larger
// than its caches, counting the bytes read and written (2 per byte copied).
inline double measure_device_copy_bandwidth_gbs(Device device, bool quick) {
  const int64_t floats = quick ? (int64_t{64} << 20) : (int64_t{256} << 20);
  const Tensor source = Tensor::empty({floats}, DType::kF32, device);  // contents do not matter
  wait_for(source.clone());  // warm-up: the allocator and the copy path
  double best = 1e300;
  for (int run = 0; run < (quick ? 3 : 10); ++run) {
    const auto start = Clock::now();
    wait_for(source.clone());
    best = std::min(best, seconds_since(start));
  }
  return 2.0 * static_cast<double>(source.nbytes()) / best / 1e9;
}

// The options every benchmark takes.
struct Options {
  int threads = 0;  // 0: all cores
  bool quick = false;
  std::string json_path;       // only where the benchmark writes JSON
  std::string device = "cpu";  // only where the benchmark takes --device
};

// Parses --threads N, --quick, --json FILE when `json` is true and --device D when
// `device` is true. Returns an exit code when the program should stop (--help, a bad
// argument), nothing to go on.
inline std::optional<int> parse_options(int argc, char** argv, const char* name,
                                        const char* quick_help, bool json, Options& options,
                                        bool device = false) {
  auto usage = [&](int code) {
    std::fprintf(
        code ? stderr : stdout,
        "usage: %s [--threads N] [--quick]%s%s\n"
        "  --threads N  CPU threads (default: all cores)\n"
        "  --quick      %s\n%s%s",
        argv[0], json ? " [--json FILE]" : "", device ? " [--device D]" : "", quick_help,
        json ? "  --json FILE  also write the results as JSON\n" : "",
        device ? "  --device D   where to compute: cpu, cuda or cuda:N (default: cpu)\n" : "");
    return code;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      options.quick = true;
    } else if ((arg == "--threads" || arg == "-t") && i + 1 < argc) {
      options.threads = std::atoi(argv[++i]);
      if (options.threads <= 0) return usage(2);
    } else if (json && arg == "--json" && i + 1 < argc) {
      options.json_path = argv[++i];
    } else if (device && arg == "--device" && i + 1 < argc) {
      options.device = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      return usage(0);
    } else {
      std::fprintf(stderr, "%s: unknown argument '%s'\n", name, arg.c_str());
      return usage(2);
    }
  }
  return std::nullopt;
}

// The CPU's model name from /proc/cpuinfo.
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

// A benchmark's main: runs `run`, and turns an exception into one line
// "<name>: error: ..." and exit code 1.
inline int run_main(const char* name, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace mmgen::bench
