// The golden runner: reads a fixture manifest (docs/golden.md, ../shared/golden),
// runs each case through the function its model family registered for the
// case's kind, and compares the outputs with the reference tensors.
//
// Families register kinds with register_golden_kind(); the program (CLI, tests)
// calls register_all_golden_kinds() first, which is defined outside core (in
// pipelines/golden_kinds.cpp) so that registration never depends on static
// initialisers in object files the linker may drop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_file.h"
#include "core/tensor.h"

namespace mmgen {

// ---- manifest ----------------------------------------------------------------

struct GoldenTolerance {
  bool exact = false;  // integer equality (values and shape)
  double max_abs = 0;  // max |out - ref|
  double rel_l2 = 0;   // ||out - ref|| / ||ref|| (||out - ref|| when ref is all zeros)
};

struct GoldenCase {
  std::string name;
  std::string kind;
  nlohmann::json json;  // the whole case object as written
  nlohmann::json inputs = nlohmann::json::object();
  nlohmann::json outputs = nlohmann::json::object();
  // The tolerance of each output (tolerance_per_output over tolerance).
  std::map<std::string, GoldenTolerance> tolerances;
};

struct GoldenManifest {
  std::filesystem::path path;  // the manifest.json
  std::filesystem::path dir;   // its folder: references are relative to it
  std::string family;
  nlohmann::json weights = nlohmann::json::object();  // name -> file
  nlohmann::json config = nlohmann::json::object();
  std::vector<GoldenCase> cases;
};

// Reads and validates a manifest (a manifest.json, or a folder holding one).
// Throws Error naming the file and the field for malformed JSON, missing or
// mistyped fields, duplicate case names and unknown tolerance_per_output names.
GoldenManifest load_golden_manifest(const std::filesystem::path& path);

// A string in "inputs" / "outputs" is a tensor reference "<file>:<tensor>" when
// the part before the first ':' has no whitespace and names an existing file
// under `dir` or ends in a weight-file extension (.safetensors, .gguf, .ckpt,
// .pt, .pth, .bin). Other strings are literals (text) or, when they name an
// existing file, paths.
struct GoldenReference {
  std::filesystem::path file;  // resolved against the manifest folder
  std::string tensor;
};
std::optional<GoldenReference> parse_golden_reference(const std::filesystem::path& dir,
                                                      const std::string& text);

// ---- kinds ---------------------------------------------------------------------

// Model files opened during one run, shared by its cases.
class GoldenFiles {
 public:
  const ModelFile& open(const std::filesystem::path& path);
  Tensor tensor(const GoldenReference& reference);

 private:
  std::map<std::filesystem::path, std::unique_ptr<ModelFile>> files_;
};

// What a kind's function sees of the manifest and its case.
class GoldenContext {
 public:
  GoldenContext(const GoldenManifest& manifest, const GoldenCase& golden_case, GoldenFiles& files,
                Device device = Device::cpu());

  const std::filesystem::path& manifest_dir() const { return manifest_.dir; }
  const GoldenManifest& manifest() const { return manifest_; }
  const nlohmann::json& weights() const { return manifest_.weights; }
  const nlohmann::json& config() const { return manifest_.config; }
  const GoldenCase& golden_case() const { return case_; }
  const nlohmann::json& case_json() const { return case_.json; }
  // Where the case computes: kinds load their models onto it and may return outputs
  // that live there (the runner compares on the host).
  Device device() const { return device_; }

  bool has_input(const std::string& name) const;
  // The input's JSON value as written; throws naming the case and argument when absent.
  const nlohmann::json& input(const std::string& name) const;
  // An input tensor: a "<file>:<tensor>" reference loaded through ModelFile::open,
  // or a numeric literal (number or nested list: i64 when all integers, else f32).
  Tensor tensor(const std::string& name) const;
  // An input naming a file (resolved against the manifest folder); throws when missing.
  std::filesystem::path path(const std::string& name) const;
  // Every input given as a plain existing file path, resolved.
  const std::map<std::string, std::filesystem::path>& files() const { return input_files_; }
  // Literal inputs; throw naming the argument when absent or of another JSON type.
  std::string string(const std::string& name) const;
  double number(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  bool boolean(const std::string& name) const;

  // A "weights" entry of the manifest, resolved; throws when absent or missing.
  std::filesystem::path weights_path(const std::string& name) const;
  // A path relative to the manifest folder.
  std::filesystem::path resolve(const std::string& relative) const;
  // An output whose expected value is a plain file (not "<file>:<tensor>"): its
  // path, for kinds that know that file's format (e.g. token-id text files).
  std::filesystem::path expected_file(const std::string& output) const;
  // Model files opened through the run's shared cache.
  const ModelFile& open(const std::filesystem::path& path) const { return files_.open(path); }

 private:
  std::string where(const std::string& name) const;  // "<manifest>: case 'x' input 'y'"

  const GoldenManifest& manifest_;
  const GoldenCase& case_;
  GoldenFiles& files_;
  Device device_;
  std::map<std::string, std::filesystem::path> input_files_;
};

struct GoldenOutputs {
  // The computed outputs by name (every name in the case's "outputs"). Exact
  // outputs are integer tensors (i64).
  std::map<std::string, Tensor> values;
  // Expected values of outputs the manifest gives as plain files, which only
  // the kind can read (see GoldenContext::expected_file).
  std::map<std::string, Tensor> expected;
};

using GoldenKindFn = std::function<GoldenOutputs(const GoldenContext&)>;

// Registers (or replaces) the function of a kind. Thread-safe.
void register_golden_kind(std::string kind, GoldenKindFn fn);
// Removes a kind; returns whether it was registered.
bool unregister_golden_kind(const std::string& kind);
bool golden_kind_registered(const std::string& kind);
std::vector<std::string> registered_golden_kinds();  // sorted

// Registers every kind the linked model families implement. Idempotent. Defined
// by the layer that sees all families (pipelines/golden_kinds.cpp), not by core.
void register_all_golden_kinds();

// ---- running and comparing -------------------------------------------------------

enum class GoldenStatus { kPassed, kFailed, kNotImplemented, kError };
// "PASS", "FAIL", "NOT IMPLEMENTED", "ERROR".
std::string_view golden_status_label(GoldenStatus status);

struct GoldenOutputCheck {
  std::string name;
  GoldenTolerance tolerance;
  double max_abs = 0;
  double rel_l2 = 0;
  bool passed = false;
  std::string message;  // why it failed; empty when it passed
};

// Compares one output with its expected value (any plain dtypes, any device).
// Shapes must be equal; exact tolerances compare values exactly.
GoldenOutputCheck compare_golden_output(const std::string& name, const Tensor& actual,
                                        const Tensor& expected, const GoldenTolerance& tolerance);

struct GoldenCaseResult {
  std::string name;
  std::string kind;
  GoldenStatus status = GoldenStatus::kError;
  // The output with the largest max_abs relative to its tolerance, and the
  // largest rel_l2 likewise, with those outputs' tolerances.
  double max_abs = 0;
  double rel_l2 = 0;
  GoldenTolerance max_abs_tolerance;
  GoldenTolerance rel_l2_tolerance;
  bool exact = false;   // every output is compared exactly
  std::string message;  // error text, or the failing outputs
  std::vector<GoldenOutputCheck> outputs;
  double seconds = 0;
};

// Runs one case. Never throws: exceptions become status kError with their message.
// A kind nobody registered gives kNotImplemented after checking that the case's
// references resolve (a broken reference is kError).
GoldenCaseResult run_golden_case(const GoldenManifest& manifest, const GoldenCase& golden_case,
                                 GoldenFiles& files, Device device = Device::cpu());

struct GoldenRunOptions {
  std::vector<std::string> case_names;  // only these (error when one is absent); empty: all
  std::function<void(const GoldenCaseResult&)> on_result;  // after each case
  Device device = Device::cpu();                           // where the kinds compute
};
std::vector<GoldenCaseResult> run_golden_manifest(const GoldenManifest& manifest,
                                                  const GoldenRunOptions& options = {});

struct GoldenSummary {
  int passed = 0, failed = 0, not_implemented = 0, errors = 0;
  bool all_passed() const { return failed == 0 && not_implemented == 0 && errors == 0; }
};
GoldenSummary summarize_golden(const std::vector<GoldenCaseResult>& results);

// "PASS  <case>  kind=<kind>  max_abs=<v> (tol <t>)  rel_l2=<v> (tol <t>)", or
// "NOT IMPLEMENTED  <case>  kind=<kind>", or "ERROR  <case>  kind=<kind>  <message>".
std::string format_golden_result(const GoldenCaseResult& result);
// "N passed, M failed, K not implemented" (", E errors" when there are errors).
std::string format_golden_summary(const GoldenSummary& summary);

}  // namespace mmgen
