// `mmgen golden MANIFEST`: runs the golden fixture cases of a manifest through
// the registered model-family kinds and reports each case against its tolerance.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/golden.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"

namespace mmgen::cli {
namespace {

struct GoldenOptions {
  std::string manifest;
  std::vector<std::string> cases;
  bool verbose = false;
  int threads = 0;
  std::string device = "cpu";
};

std::string format_check(const GoldenOutputCheck& check) {
  char line[256];
  if (check.tolerance.exact)
    std::snprintf(line, sizeof line, "    %s %s  max_abs=%.3g (exact)",
                  check.passed ? "ok  " : "FAIL", check.name.c_str(), check.max_abs);
  else
    std::snprintf(line, sizeof line, "    %s %s  max_abs=%.3g (tol %.3g)  rel_l2=%.3g (tol %.3g)",
                  check.passed ? "ok  " : "FAIL", check.name.c_str(), check.max_abs,
                  check.tolerance.max_abs, check.rel_l2, check.tolerance.rel_l2);
  return line;
}

void print_result(const GoldenCaseResult& result, bool verbose) {
  std::printf("%s\n", format_golden_result(result).c_str());
  if (result.status == GoldenStatus::kFailed) {
    for (const GoldenOutputCheck& check : result.outputs)
      if (!check.passed) std::printf("    %s\n", check.message.c_str());
  }
  if (verbose) {
    for (const GoldenOutputCheck& check : result.outputs)
      std::printf("%s\n", format_check(check).c_str());
    std::printf("    (%.2fs)\n", result.seconds);
  }
  std::fflush(stdout);
}

int run_golden(const GoldenOptions& options) {
  if (options.verbose) set_log_level(LogLevel::kInfo);
  if (options.threads > 0) set_num_threads(options.threads);
  const Device device = resolve_device(options.device);
  register_all_golden_kinds();
  const GoldenManifest manifest = load_golden_manifest(options.manifest);
  log_info("golden: ", manifest.path.string(), ": ", manifest.cases.size(),
           " cases; kinds implemented: ", registered_golden_kinds().size());
  GoldenRunOptions run_options;
  run_options.case_names = options.cases;
  run_options.device = device;
  run_options.on_result = [&](const GoldenCaseResult& result) {
    print_result(result, options.verbose);
  };
  const auto results = run_golden_manifest(manifest, run_options);
  const GoldenSummary summary = summarize_golden(results);
  std::printf("%s\n", format_golden_summary(summary).c_str());
  return summary.all_passed() ? 0 : 1;
}

}  // namespace

Command make_golden_command() {
  auto options = std::make_shared<GoldenOptions>();
  Command command;
  command.attach_fn = [options](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand(
        "golden",
        "Check the implementation against golden fixtures: run every case of a manifest and "
        "compare its outputs with the reference within the case's tolerance (exit 0 only when "
        "every case passes)");
    self.app
        ->add_option("manifest", options->manifest,
                     "The manifest.json (or the folder holding it), e.g. ../shared/golden/sd1")
        ->required();
    self.app->add_option("--case", options->cases, "Run only this case (repeatable)");
    self.app->add_flag("-v,--verbose", options->verbose,
                       "Show every output's numbers and each case's time");
    add_device_option(*self.app, options->device);
    self.app->add_option("-t,--threads", options->threads, "CPU threads (default: all cores)")
        ->check(CLI::PositiveNumber);
  };
  command.run = [options] { return run_golden(*options); };
  return command;
}

}  // namespace mmgen::cli
