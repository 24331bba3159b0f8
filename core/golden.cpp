#include "core/golden.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/log.h"

namespace mmgen {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// ---- manifest parsing ----------------------------------------------------------

[[noreturn]] void manifest_error(const fs::path& path, const std::string& where,
                                 const std::string& message) {
  fail(path.string(), ": ", where, ": ", message);
}

std::string json_type(const json& value) { return value.type_name(); }

GoldenTolerance parse_tolerance(const fs::path& path, const std::string& where, const json& value) {
  if (!value.is_object())
    manifest_error(path, where,
                   "must be an object like {\"max_abs\": 1e-4, \"rel_l2\": 1e-4} or "
                   "{\"exact\": true}, not " +
                       json_type(value));
  GoldenTolerance tolerance;
  if (value.contains("exact")) {
    if (!value["exact"].is_boolean())
      manifest_error(path, where + ".exact",
                     "must be true or false, not " + json_type(value["exact"]));
    tolerance.exact = value["exact"].get<bool>();
    if (tolerance.exact) return tolerance;
  }
  for (const char* key : {"max_abs", "rel_l2"}) {
    if (!value.contains(key))
      manifest_error(path, where, std::string("field '") + key + "' is missing");
    const json& number = value[key];
    if (!number.is_number() || !(number.get<double>() >= 0))
      manifest_error(path, where + "." + key,
                     "must be a non-negative number, not " + number.dump());
  }
  tolerance.max_abs = value["max_abs"].get<double>();
  tolerance.rel_l2 = value["rel_l2"].get<double>();
  return tolerance;
}

GoldenCase parse_case(const fs::path& path, size_t index, const json& value) {
  std::string where = "cases[" + std::to_string(index) + "]";
  if (!value.is_object()) manifest_error(path, where, "must be an object, not " + json_type(value));
  GoldenCase golden_case;
  golden_case.json = value;
  for (const char* key : {"name", "kind"}) {
    if (!value.contains(key))
      manifest_error(path, where, std::string("field '") + key + "' is missing");
    if (!value[key].is_string() || value[key].get<std::string>().empty())
      manifest_error(path, where + "." + key,
                     "must be a non-empty string, not " + value[key].dump());
  }
  golden_case.name = value["name"].get<std::string>();
  golden_case.kind = value["kind"].get<std::string>();
  where += " ('" + golden_case.name + "')";

  if (value.contains("inputs")) {
    if (!value["inputs"].is_object())
      manifest_error(path, where + ".inputs",
                     "must be an object, not " + json_type(value["inputs"]));
    golden_case.inputs = value["inputs"];
  }
  if (!value.contains("outputs")) manifest_error(path, where, "field 'outputs' is missing");
  const json& outputs = value["outputs"];
  if (!outputs.is_object() || outputs.empty())
    manifest_error(path, where + ".outputs",
                   "must be a non-empty object of name -> \"<file>:<tensor>\"");
  for (const auto& [name, reference] : outputs.items()) {
    if (!reference.is_string() && !reference.is_number() && !reference.is_array())
      manifest_error(path, where + ".outputs." + name,
                     "must be a \"<file>:<tensor>\" reference, a file or a numeric literal, not " +
                         json_type(reference));
  }
  golden_case.outputs = outputs;

  std::optional<GoldenTolerance> tolerance;
  if (value.contains("tolerance"))
    tolerance = parse_tolerance(path, where + ".tolerance", value["tolerance"]);
  std::map<std::string, GoldenTolerance> per_output;
  if (value.contains("tolerance_per_output")) {
    const json& overrides = value["tolerance_per_output"];
    if (!overrides.is_object())
      manifest_error(path, where + ".tolerance_per_output",
                     "must be an object of output name -> tolerance, not " + json_type(overrides));
    for (const auto& [name, override_value] : overrides.items()) {
      if (!outputs.contains(name))
        manifest_error(path, where + ".tolerance_per_output." + name,
                       "names no output of the case");
      per_output[name] =
          parse_tolerance(path, where + ".tolerance_per_output." + name, override_value);
    }
  }
  for (const auto& [name, reference] : outputs.items()) {
    if (auto it = per_output.find(name); it != per_output.end())
      golden_case.tolerances[name] = it->second;
    else if (tolerance)
      golden_case.tolerances[name] = *tolerance;
    else
      manifest_error(path, where,
                     "field 'tolerance' is missing (output '" + name +
                         "' has no tolerance_per_output entry either)");
  }
  return golden_case;
}

// ---- tensors from JSON literals ------------------------------------------------

void literal_shape(const json& value, size_t depth, Shape& shape, const std::string& where) {
  if (!value.is_array()) {
    if (depth != shape.size()) fail(where, ": ragged numeric list");
    return;
  }
  if (depth == shape.size()) {
    shape.push_back(static_cast<int64_t>(value.size()));
  } else if (shape[depth] != static_cast<int64_t>(value.size())) {
    fail(where, ": ragged numeric list (", value.size(), " items where ", shape[depth],
         " were expected)");
  }
  for (const json& item : value) literal_shape(item, depth + 1, shape, where);
}

void literal_values(const json& value, std::vector<double>& reals, std::vector<int64_t>& ints,
                    bool& all_integers, const std::string& where) {
  if (value.is_array()) {
    for (const json& item : value) literal_values(item, reals, ints, all_integers, where);
  } else if (value.is_boolean()) {
    reals.push_back(value.get<bool>() ? 1.0 : 0.0);
    ints.push_back(value.get<bool>() ? 1 : 0);
  } else if (value.is_number_integer()) {
    reals.push_back(value.get<double>());
    ints.push_back(value.is_number_unsigned() ? static_cast<int64_t>(value.get<uint64_t>())
                                              : value.get<int64_t>());
  } else if (value.is_number()) {
    all_integers = false;
    reals.push_back(value.get<double>());
    ints.push_back(0);
  } else {
    fail(where, ": expected numbers, found ", value.dump());
  }
}

// i64 when every value is an integer (or bool), f32 otherwise.
Tensor tensor_from_literal(const json& value, const std::string& where) {
  Shape shape;
  literal_shape(value, 0, shape, where);
  std::vector<double> reals;
  std::vector<int64_t> ints;
  bool all_integers = true;
  literal_values(value, reals, ints, all_integers, where);
  if (all_integers) return Tensor::from_vector(ints, shape);
  std::vector<float> floats(reals.begin(), reals.end());
  return Tensor::from_vector(floats, shape);
}

// ---- comparison helpers --------------------------------------------------------

bool is_integral(DType dtype) { return !is_float(dtype) && !is_quantized(dtype); }

std::vector<double> values_f64(const Tensor& tensor) {
  Tensor t = tensor.cpu();
  if (is_quantized(t.dtype())) t = t.to(DType::kF32);
  if (t.dtype() != DType::kF64) t = t.to(DType::kF64);
  t = t.contiguous();
  const double* data = t.typed_data<double>();
  return std::vector<double>(data, data + t.numel());
}

std::string format_number(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::isnan(value)) return "nan";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", value);
  return buffer;
}

std::string format_value(double value) {
  if (std::isnan(value) || std::isinf(value)) return format_number(value);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

std::string format_tolerance(const GoldenTolerance& tolerance, double value) {
  return tolerance.exact ? "exact" : format_number(value);
}

// How far a measurement is from its bound: > 1 fails.
double ratio(double measured, double bound, bool exact) {
  if (exact) bound = 0;
  if (measured <= bound) return bound > 0 ? measured / bound : 0;
  return bound > 0 ? measured / bound : kInfinity;
}

bool is_weight_file_name(const std::string& name) {
  static const std::array<std::string_view, 6> kExtensions = {".safetensors", ".gguf", ".ckpt",
                                                              ".pt",          ".pth",  ".bin"};
  for (std::string_view extension : kExtensions)
    if (name.size() > extension.size() &&
        name.compare(name.size() - extension.size(), extension.size(), extension) == 0)
      return true;
  return false;
}

// Checks, without running anything, that every tensor reference of a case resolves.
void check_references(const GoldenManifest& manifest, const GoldenCase& golden_case,
                      GoldenFiles& files) {
  for (const json* group : {&golden_case.inputs, &golden_case.outputs}) {
    for (const auto& [name, value] : group->items()) {
      if (!value.is_string()) continue;
      if (auto reference = parse_golden_reference(manifest.dir, value.get<std::string>())) {
        const ModelFile& file = files.open(reference->file);
        file.info(reference->tensor);  // throws "<file>: no tensor '<name>'"
      }
    }
  }
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, GoldenKindFn> kinds;
};
Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

// ---- manifest ----------------------------------------------------------------

GoldenManifest load_golden_manifest(const fs::path& given) {
  GoldenManifest manifest;
  manifest.path = fs::is_directory(given) ? given / "manifest.json" : given;
  manifest.dir = manifest.path.parent_path();
  if (manifest.dir.empty()) manifest.dir = ".";
  const fs::path& path = manifest.path;
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the golden manifest");
  json root;
  try {
    root = json::parse(in);
  } catch (const json::parse_error& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
  if (!root.is_object()) manifest_error(path, "top level", "must be a JSON object");
  if (root.contains("family")) {
    if (!root["family"].is_string()) manifest_error(path, "family", "must be a string");
    manifest.family = root["family"].get<std::string>();
  }
  if (root.contains("weights")) {
    const json& weights = root["weights"];
    if (!weights.is_object())
      manifest_error(path, "weights",
                     "must be an object of name -> file, not " + json_type(weights));
    for (const auto& [name, file] : weights.items())
      if (!file.is_string())
        manifest_error(path, "weights." + name, "must be a file name (string), not " + file.dump());
    manifest.weights = weights;
  }
  if (root.contains("config")) {
    if (!root["config"].is_object())
      manifest_error(path, "config", "must be an object, not " + json_type(root["config"]));
    manifest.config = root["config"];
  }
  if (!root.contains("cases")) manifest_error(path, "top level", "field 'cases' is missing");
  const json& cases = root["cases"];
  if (!cases.is_array()) manifest_error(path, "cases", "must be an array, not " + json_type(cases));
  std::set<std::string> names;
  for (size_t i = 0; i < cases.size(); ++i) {
    GoldenCase golden_case = parse_case(path, i, cases[i]);
    if (!names.insert(golden_case.name).second)
      manifest_error(path, "cases[" + std::to_string(i) + "].name",
                     "duplicate case name '" + golden_case.name + "'");
    manifest.cases.push_back(std::move(golden_case));
  }
  return manifest;
}

std::optional<GoldenReference> parse_golden_reference(const fs::path& dir,
                                                      const std::string& text) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const std::string file = text.substr(0, colon);
  for (unsigned char c : file)
    if (std::isspace(c)) return std::nullopt;
  const fs::path resolved = dir / file;
  std::error_code error;
  if (!fs::is_regular_file(resolved, error) && !is_weight_file_name(file)) return std::nullopt;
  return GoldenReference{resolved, text.substr(colon + 1)};
}

// ---- files and context ---------------------------------------------------------

const ModelFile& GoldenFiles::open(const fs::path& path) {
  const fs::path key = path.lexically_normal();
  auto it = files_.find(key);
  if (it != files_.end()) return *it->second;
  std::error_code error;
  MMGEN_CHECK(fs::is_regular_file(key, error), "file not found: ", key.string());
  auto file = ModelFile::open(key);
  return *files_.emplace(key, std::move(file)).first->second;
}

Tensor GoldenFiles::tensor(const GoldenReference& reference) {
  const ModelFile& file = open(reference.file);
  return file.tensor(file.info(reference.tensor).name);  // info() names a missing tensor
}

GoldenContext::GoldenContext(const GoldenManifest& manifest, const GoldenCase& golden_case,
                             GoldenFiles& files, Device device)
    : manifest_(manifest), case_(golden_case), files_(files), device_(device) {
  for (const auto& [name, value] : case_.inputs.items()) {
    if (!value.is_string()) continue;
    const std::string text = value.get<std::string>();
    if (text.empty() || parse_golden_reference(manifest_.dir, text)) continue;
    std::error_code error;
    const fs::path resolved = manifest_.dir / text;
    if (fs::exists(resolved, error)) input_files_[name] = resolved;
  }
}

std::string GoldenContext::where(const std::string& name) const {
  return detail::concat(manifest_.path.string(), ": case '", case_.name, "' input '", name, "'");
}

bool GoldenContext::has_input(const std::string& name) const { return case_.inputs.contains(name); }

const json& GoldenContext::input(const std::string& name) const {
  MMGEN_CHECK(case_.inputs.contains(name), manifest_.path.string(), ": case '", case_.name,
              "' has no input '", name, "'");
  return case_.inputs[name];
}

Tensor GoldenContext::tensor(const std::string& name) const {
  const json& value = input(name);
  if (value.is_number() || value.is_array() || value.is_boolean())
    return tensor_from_literal(value, where(name));
  MMGEN_CHECK(value.is_string(), where(name), ": expected a \"<file>:<tensor>\" reference, got ",
              value.dump());
  auto reference = parse_golden_reference(manifest_.dir, value.get<std::string>());
  MMGEN_CHECK(reference.has_value(), where(name),
              ": expected a \"<file>:<tensor>\" reference, got ", value.dump());
  try {
    return files_.tensor(*reference);
  } catch (const Error& e) {
    fail(where(name), ": ", e.what());
  }
}

fs::path GoldenContext::path(const std::string& name) const {
  const json& value = input(name);
  MMGEN_CHECK(value.is_string(), where(name), ": expected a file name, got ", value.dump());
  const fs::path resolved = manifest_.dir / value.get<std::string>();
  std::error_code error;
  MMGEN_CHECK(fs::exists(resolved, error), where(name), ": file not found: ", resolved.string());
  return resolved;
}

std::string GoldenContext::string(const std::string& name) const {
  const json& value = input(name);
  MMGEN_CHECK(value.is_string(), where(name), ": expected a string, got ", value.dump());
  return value.get<std::string>();
}

double GoldenContext::number(const std::string& name) const {
  const json& value = input(name);
  MMGEN_CHECK(value.is_number(), where(name), ": expected a number, got ", value.dump());
  return value.get<double>();
}

int64_t GoldenContext::integer(const std::string& name) const {
  const json& value = input(name);
  MMGEN_CHECK(value.is_number_integer(), where(name), ": expected an integer, got ", value.dump());
  return value.get<int64_t>();
}

bool GoldenContext::boolean(const std::string& name) const {
  const json& value = input(name);
  MMGEN_CHECK(value.is_boolean(), where(name), ": expected true or false, got ", value.dump());
  return value.get<bool>();
}

fs::path GoldenContext::weights_path(const std::string& name) const {
  MMGEN_CHECK(manifest_.weights.contains(name), manifest_.path.string(), ": no weights entry '",
              name, "'");
  const fs::path resolved = manifest_.dir / manifest_.weights[name].get<std::string>();
  std::error_code error;
  MMGEN_CHECK(fs::exists(resolved, error), manifest_.path.string(), ": weights '", name,
              "': file not found: ", resolved.string());
  return resolved;
}

fs::path GoldenContext::resolve(const std::string& relative) const {
  return manifest_.dir / relative;
}

fs::path GoldenContext::expected_file(const std::string& output) const {
  MMGEN_CHECK(case_.outputs.contains(output), manifest_.path.string(), ": case '", case_.name,
              "' has no output '", output, "'");
  const json& value = case_.outputs[output];
  MMGEN_CHECK(value.is_string(), manifest_.path.string(), ": case '", case_.name, "' output '",
              output, "' is not a file");
  const fs::path resolved = manifest_.dir / value.get<std::string>();
  std::error_code error;
  MMGEN_CHECK(fs::is_regular_file(resolved, error), manifest_.path.string(), ": case '", case_.name,
              "' output '", output, "': file not found: ", resolved.string());
  return resolved;
}

// ---- registry ------------------------------------------------------------------

void register_golden_kind(std::string kind, GoldenKindFn fn) {
  MMGEN_CHECK(!kind.empty(), "register_golden_kind: empty kind name");
  MMGEN_CHECK(static_cast<bool>(fn), "register_golden_kind: no function for kind '", kind, "'");
  std::lock_guard lock(registry().mutex);
  registry().kinds[std::move(kind)] = std::move(fn);
}

bool unregister_golden_kind(const std::string& kind) {
  std::lock_guard lock(registry().mutex);
  return registry().kinds.erase(kind) > 0;
}

bool golden_kind_registered(const std::string& kind) {
  std::lock_guard lock(registry().mutex);
  return registry().kinds.count(kind) > 0;
}

std::vector<std::string> registered_golden_kinds() {
  std::lock_guard lock(registry().mutex);
  std::vector<std::string> kinds;
  for (const auto& [kind, fn] : registry().kinds) kinds.push_back(kind);
  return kinds;
}

// ---- comparison ----------------------------------------------------------------

std::string_view golden_status_label(GoldenStatus status) {
  switch (status) {
    case GoldenStatus::kPassed:
      return "PASS";
    case GoldenStatus::kFailed:
      return "FAIL";
    case GoldenStatus::kNotImplemented:
      return "NOT IMPLEMENTED";
    case GoldenStatus::kError:
      return "ERROR";
  }
  return "?";
}

GoldenOutputCheck compare_golden_output(const std::string& name, const Tensor& actual,
                                        const Tensor& expected, const GoldenTolerance& tolerance) {
  GoldenOutputCheck check;
  check.name = name;
  check.tolerance = tolerance;
  MMGEN_CHECK(expected.defined(), "output '", name, "': no expected tensor");
  if (!actual.defined()) {
    check.max_abs = check.rel_l2 = kInfinity;
    check.message = name + ": no tensor was produced";
    return check;
  }
  if (actual.shape() != expected.shape()) {
    check.max_abs = check.rel_l2 = kInfinity;
    check.message = name + ": shape " + shape_str(actual.shape()) + " differs from the expected " +
                    shape_str(expected.shape());
    return check;
  }
  const int64_t n = expected.numel();
  std::vector<double> a, b;
  if (is_integral(actual.dtype()) && is_integral(expected.dtype())) {
    // Through int64 so large ids compare exactly.
    const auto ai = actual.cpu().to_i64_vector();
    const auto bi = expected.cpu().to_i64_vector();
    int64_t mismatches = 0, first = -1;
    for (int64_t i = 0; i < n; ++i)
      if (ai[i] != bi[i]) {
        if (first < 0) first = i;
        ++mismatches;
      }
    a.assign(ai.begin(), ai.end());
    b.assign(bi.begin(), bi.end());
    if (tolerance.exact) {
      double diff2 = 0, ref2 = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double delta = std::abs(a[i] - b[i]);
        check.max_abs = std::max(check.max_abs, delta);
        diff2 += delta * delta;
        ref2 += b[i] * b[i];
      }
      check.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
      check.passed = mismatches == 0;
      if (!check.passed)
        check.message = detail::concat(name, ": ", mismatches, " of ", n,
                                       " values differ (first at flat index ", first, ": got ",
                                       ai[first], ", expected ", bi[first], ")");
      return check;
    }
  } else {
    a = values_f64(actual);
    b = values_f64(expected);
  }
  double diff2 = 0, ref2 = 0;
  int64_t mismatches = 0, first = -1, worst = -1;
  for (int64_t i = 0; i < n; ++i) {
    double delta;
    if (std::isnan(a[i]) || std::isnan(b[i]))
      delta = std::isnan(a[i]) && std::isnan(b[i]) ? 0 : kInfinity;
    else if (a[i] == b[i])
      delta = 0;  // also equal infinities
    else
      delta = std::abs(a[i] - b[i]);
    if (delta != 0 && first < 0) first = i;
    if (delta != 0) ++mismatches;
    if (delta > check.max_abs || worst < 0) {
      if (delta > check.max_abs) check.max_abs = delta;
      if (delta > 0 || worst < 0) worst = i;
    }
    diff2 += std::isinf(delta) ? kInfinity : delta * delta;
    if (std::isfinite(b[i])) ref2 += b[i] * b[i];
  }
  check.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  if (tolerance.exact) {
    check.passed = mismatches == 0;
    if (!check.passed)
      check.message = detail::concat(
          name, ": ", mismatches, " of ", n, " values differ (first at flat index ", first,
          ": got ", format_value(a[first]), ", expected ", format_value(b[first]), ")");
    return check;
  }
  const bool abs_ok = check.max_abs <= tolerance.max_abs;
  const bool rel_ok = check.rel_l2 <= tolerance.rel_l2;
  check.passed = abs_ok && rel_ok;
  if (!check.passed) {
    std::string why;
    if (!abs_ok)
      why += "max_abs " + format_number(check.max_abs) + " > " + format_number(tolerance.max_abs);
    if (!rel_ok) {
      if (!why.empty()) why += ", ";
      why += "rel_l2 " + format_number(check.rel_l2) + " > " + format_number(tolerance.rel_l2);
    }
    check.message =
        detail::concat(name, ": ", why, " (largest difference at flat index ", worst, ": got ",
                       format_value(a[worst]), ", expected ", format_value(b[worst]), ")");
  }
  return check;
}

// ---- running -------------------------------------------------------------------

GoldenCaseResult run_golden_case(const GoldenManifest& manifest, const GoldenCase& golden_case,
                                 GoldenFiles& files, Device device) {
  GoldenCaseResult result;
  result.name = golden_case.name;
  result.kind = golden_case.kind;
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&] {
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  };
  try {
    GoldenKindFn fn;
    {
      std::lock_guard lock(registry().mutex);
      auto it = registry().kinds.find(golden_case.kind);
      if (it != registry().kinds.end()) fn = it->second;
    }
    if (!fn) {
      check_references(manifest, golden_case, files);
      result.status = GoldenStatus::kNotImplemented;
      return finish();
    }
    GoldenContext context(manifest, golden_case, files, device);
    GoldenOutputs produced = fn(context);

    result.exact = true;
    double worst_abs_ratio = -1, worst_rel_ratio = -1;
    std::string failures;
    for (const auto& [name, reference] : golden_case.outputs.items()) {
      const std::string where = detail::concat(manifest.path.string(), ": case '", golden_case.name,
                                               "' output '", name, "'");
      Tensor expected;
      if (reference.is_string()) {
        const std::string text = reference.get<std::string>();
        if (auto parsed = parse_golden_reference(manifest.dir, text)) {
          try {
            expected = files.tensor(*parsed);
          } catch (const Error& e) {
            fail(where, ": ", e.what());
          }
        } else if (auto it = produced.expected.find(name); it != produced.expected.end()) {
          expected = it->second;
        } else {
          fail(where, ": the expected value is the file ", (manifest.dir / text).string(),
               ", which kind '", golden_case.kind, "' did not read (GoldenOutputs::expected)");
        }
      } else {
        expected = tensor_from_literal(reference, where);
      }
      auto produced_it = produced.values.find(name);
      MMGEN_CHECK(produced_it != produced.values.end(), "kind '", golden_case.kind,
                  "' produced no output '", name, "' (case '", golden_case.name, "')");
      const GoldenTolerance& tolerance = golden_case.tolerances.at(name);
      GoldenOutputCheck check =
          compare_golden_output(name, produced_it->second, expected, tolerance);
      result.exact = result.exact && tolerance.exact;
      const double abs_ratio = ratio(check.max_abs, tolerance.max_abs, tolerance.exact);
      const double rel_ratio = ratio(check.rel_l2, tolerance.rel_l2, tolerance.exact);
      if (abs_ratio > worst_abs_ratio ||
          (abs_ratio == worst_abs_ratio && check.max_abs > result.max_abs)) {
        worst_abs_ratio = abs_ratio;
        result.max_abs = check.max_abs;
        result.max_abs_tolerance = tolerance;
      }
      if (rel_ratio > worst_rel_ratio ||
          (rel_ratio == worst_rel_ratio && check.rel_l2 > result.rel_l2)) {
        worst_rel_ratio = rel_ratio;
        result.rel_l2 = check.rel_l2;
        result.rel_l2_tolerance = tolerance;
      }
      if (!check.passed) {
        if (!failures.empty()) failures += "; ";
        failures += check.message;
      }
      result.outputs.push_back(std::move(check));
    }
    result.status = failures.empty() ? GoldenStatus::kPassed : GoldenStatus::kFailed;
    result.message = failures;
  } catch (const std::exception& e) {
    result.status = GoldenStatus::kError;
    result.message = e.what();
  }
  return finish();
}

std::vector<GoldenCaseResult> run_golden_manifest(const GoldenManifest& manifest,
                                                  const GoldenRunOptions& options) {
  std::vector<const GoldenCase*> selected;
  if (options.case_names.empty()) {
    for (const GoldenCase& golden_case : manifest.cases) selected.push_back(&golden_case);
  } else {
    for (const std::string& name : options.case_names) {
      auto it = std::find_if(manifest.cases.begin(), manifest.cases.end(),
                             [&](const GoldenCase& c) { return c.name == name; });
      MMGEN_CHECK(it != manifest.cases.end(), manifest.path.string(), ": no case named '", name,
                  "'");
      selected.push_back(&*it);
    }
  }
  GoldenFiles files;
  std::vector<GoldenCaseResult> results;
  for (const GoldenCase* golden_case : selected) {
    log_debug("golden: running ", golden_case->name, " (kind ", golden_case->kind, ")");
    results.push_back(run_golden_case(manifest, *golden_case, files, options.device));
    if (options.on_result) options.on_result(results.back());
  }
  return results;
}

GoldenSummary summarize_golden(const std::vector<GoldenCaseResult>& results) {
  GoldenSummary summary;
  for (const GoldenCaseResult& result : results) {
    switch (result.status) {
      case GoldenStatus::kPassed:
        ++summary.passed;
        break;
      case GoldenStatus::kFailed:
        ++summary.failed;
        break;
      case GoldenStatus::kNotImplemented:
        ++summary.not_implemented;
        break;
      case GoldenStatus::kError:
        ++summary.errors;
        break;
    }
  }
  return summary;
}

std::string format_golden_result(const GoldenCaseResult& result) {
  std::string line =
      detail::concat(golden_status_label(result.status), "  ", result.name, "  kind=", result.kind);
  switch (result.status) {
    case GoldenStatus::kNotImplemented:
      return line;
    case GoldenStatus::kError:
      return line + "  " + result.message;
    case GoldenStatus::kPassed:
    case GoldenStatus::kFailed:
      break;
  }
  line += "  max_abs=" + format_number(result.max_abs) + " (tol " +
          format_tolerance(result.max_abs_tolerance, result.max_abs_tolerance.max_abs) + ")";
  line += "  rel_l2=" + format_number(result.rel_l2) + " (tol " +
          format_tolerance(result.rel_l2_tolerance, result.rel_l2_tolerance.rel_l2) + ")";
  return line;
}

std::string format_golden_summary(const GoldenSummary& summary) {
  std::string line = detail::concat(summary.passed, " passed, ", summary.failed, " failed, ",
                                    summary.not_implemented, " not implemented");
  if (summary.errors > 0)
    line += detail::concat(", ", summary.errors, summary.errors == 1 ? " error" : " errors");
  return line;
}

}  // namespace mmgen
