// The golden runner (core/golden.h) on small synthetic manifests: parsing,
// reference resolution, comparison and reporting. The kinds registered here are
// test fakes and exist only inside this test.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "core/golden.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Registers a fake kind for one test and removes it afterwards.
struct FakeKind {
  std::string kind;
  FakeKind(std::string name, GoldenKindFn fn) : kind(std::move(name)) {
    register_golden_kind(kind, std::move(fn));
  }
  ~FakeKind() { unregister_golden_kind(kind); }
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fixture folder: data.safetensors with x, ref = 2 x, ids; plus manifest.json.
fs::path make_fixture(const json& cases) {
  const fs::path dir = test::temp_dir("golden");
  const std::vector<float> x = {1, -2, 3, 0.5f, 4, -1};
  std::vector<float> ref;
  for (float v : x) ref.push_back(2 * v);
  write_safetensors(dir / "data.safetensors",
                    {{"x", Tensor::from_vector(x, {2, 3})},
                     {"ref", Tensor::from_vector(ref, {2, 3})},
                     {"ids", Tensor::from_vector(std::vector<int64_t>{5, 17, 3, 49407}, {4})}});
  write_text(dir / "ids.txt", "5 17 3 49407\n");
  json manifest = {{"family", "test"},
                   {"weights", {{"model", "data.safetensors"}}},
                   {"config", {{"factor", 2}}},
                   {"cases", cases}};
  write_text(dir / "manifest.json", manifest.dump(2));
  return dir;
}

json tolerance(double max_abs, double rel_l2) { return {{"max_abs", max_abs}, {"rel_l2", rel_l2}}; }
json exact() { return {{"exact", true}}; }

// The fake "double" kind: y = factor * x with factor from the inputs.
GoldenOutputs double_kind(const GoldenContext& context) {
  const Tensor x = context.tensor("x");
  const float factor = static_cast<float>(context.number("factor"));
  std::vector<float> y = x.to_f32_vector();
  for (float& v : y) v *= factor;
  GoldenOutputs out;
  out.values["y"] = Tensor::from_vector(y, x.shape());
  return out;
}

const GoldenCaseResult& find(const std::vector<GoldenCaseResult>& results,
                             const std::string& name) {
  for (const auto& result : results)
    if (result.name == name) return result;
  FAIL("no result for case " << name);
  throw;
}

}  // namespace

TEST_CASE("golden: a kind that reproduces the reference passes", "[golden]") {
  FakeKind fake("test_double", double_kind);
  const fs::path dir =
      make_fixture(json::array({{{"name", "double_ok"},
                                 {"kind", "test_double"},
                                 {"inputs", {{"x", "data.safetensors:x"}, {"factor", 2.0}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1e-6, 1e-6)}}}));
  const GoldenManifest manifest = load_golden_manifest(dir);  // the folder is enough
  CHECK(manifest.family == "test");
  CHECK(manifest.dir == dir);
  REQUIRE(manifest.cases.size() == 1);
  const auto results = run_golden_manifest(manifest);
  REQUIRE(results.size() == 1);
  const GoldenCaseResult& r = results[0];
  INFO(r.message);
  CHECK(r.status == GoldenStatus::kPassed);
  CHECK(r.max_abs == 0);
  CHECK(r.rel_l2 == 0);
  CHECK(format_golden_result(r) ==
        "PASS  double_ok  kind=test_double  max_abs=0 (tol 1e-06)  rel_l2=0 (tol 1e-06)");
  const GoldenSummary summary = summarize_golden(results);
  CHECK(summary.all_passed());
  CHECK(format_golden_summary(summary) == "1 passed, 0 failed, 0 not implemented");
}

TEST_CASE("golden: a perturbed output fails with the measured numbers", "[golden]") {
  FakeKind fake("test_perturbed", [](const GoldenContext& context) {
    GoldenOutputs out = double_kind(context);
    std::vector<float> y = out.values["y"].to_f32_vector();
    y[4] += 0.5f;  // ref[4] = 8
    out.values["y"] = Tensor::from_vector(y, {2, 3});
    return out;
  });
  const fs::path dir =
      make_fixture(json::array({{{"name", "perturbed"},
                                 {"kind", "test_perturbed"},
                                 {"inputs", {{"x", "data.safetensors:x"}, {"factor", 2}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1e-3, 1e-3)}},
                                {{"name", "perturbed_loose"},
                                 {"kind", "test_perturbed"},
                                 {"inputs", {{"x", "data.safetensors:x"}, {"factor", 2}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1e-3, 1e-3)},
                                 {"tolerance_per_output", {{"y", tolerance(0.6, 0.1)}}}}}));
  const auto results = run_golden_manifest(load_golden_manifest(dir / "manifest.json"));
  // ||ref|| = 2 * sqrt(1 + 4 + 9 + 0.25 + 16 + 1) = 2 * sqrt(31.25)
  const double rel = 0.5 / (2 * std::sqrt(31.25));
  const GoldenCaseResult& strict = find(results, "perturbed");
  CHECK(strict.status == GoldenStatus::kFailed);
  CHECK(strict.max_abs == Approx(0.5));
  CHECK(strict.rel_l2 == Approx(rel));
  REQUIRE(strict.outputs.size() == 1);
  CHECK_FALSE(strict.outputs[0].passed);
  CHECK_THAT(strict.message, Catch::Contains("max_abs 0.5 > 0.001") &&
                                 Catch::Contains("rel_l2 0.0447 > 0.001") &&
                                 Catch::Contains("flat index 4: got 8.5, expected 8"));
  CHECK(format_golden_result(strict) ==
        "FAIL  perturbed  kind=test_perturbed  max_abs=0.5 (tol 0.001)  rel_l2=0.0447 (tol 0.001)");
  // tolerance_per_output overrides the case tolerance.
  const GoldenCaseResult& loose = find(results, "perturbed_loose");
  CHECK(loose.status == GoldenStatus::kPassed);
  CHECK(loose.max_abs_tolerance.max_abs == 0.6);
  CHECK(format_golden_summary(summarize_golden(results)) ==
        "1 passed, 1 failed, 0 not implemented");
}

TEST_CASE("golden: exact integer outputs, shape mismatches and plain-file expectations",
          "[golden]") {
  FakeKind ids("test_ids", [](const GoldenContext& context) {
    GoldenOutputs out;
    std::vector<int64_t> values = {5, 17, 3, 49407};
    if (context.boolean("break")) values[2] = 4;
    out.values["ids"] = Tensor::from_vector(values, {4});
    if (context.golden_case().outputs.contains("ids_from_text")) {
      // The kind reads the expected ids from a text file only it understands.
      std::ifstream in(context.expected_file("ids_from_text"));
      std::vector<int64_t> expected;
      for (int64_t id; in >> id;) expected.push_back(id);
      out.values["ids_from_text"] = out.values["ids"];
      out.expected["ids_from_text"] = Tensor::from_vector(expected, {4});
    }
    return out;
  });
  FakeKind shaped("test_shape", [](const GoldenContext& context) {
    GoldenOutputs out;
    out.values["y"] = context.tensor("x").reshape({3, 2});
    return out;
  });
  const fs::path dir = make_fixture(
      json::array({{{"name", "ids_ok"},
                    {"kind", "test_ids"},
                    {"inputs", {{"break", false}}},
                    {"outputs", {{"ids", "data.safetensors:ids"}, {"ids_from_text", "ids.txt"}}},
                    {"tolerance", exact()}},
                   {{"name", "ids_wrong"},
                    {"kind", "test_ids"},
                    {"inputs", {{"break", true}}},
                    {"outputs", {{"ids", "data.safetensors:ids"}}},
                    {"tolerance", exact()}},
                   {{"name", "wrong_shape"},
                    {"kind", "test_shape"},
                    {"inputs", {{"x", "data.safetensors:x"}}},
                    {"outputs", {{"y", "data.safetensors:x"}}},
                    {"tolerance", tolerance(1, 1)}},
                   {{"name", "literal_expected"},
                    {"kind", "test_ids"},
                    {"inputs", {{"break", false}}},
                    {"outputs", {{"ids", json::array({5, 17, 3, 49407})}}},
                    {"tolerance", exact()}}}));
  const auto results = run_golden_manifest(load_golden_manifest(dir));
  const GoldenCaseResult& ok = find(results, "ids_ok");
  INFO(ok.message);
  CHECK(ok.status == GoldenStatus::kPassed);
  CHECK(ok.exact);
  CHECK(format_golden_result(ok) ==
        "PASS  ids_ok  kind=test_ids  max_abs=0 (tol exact)  rel_l2=0 (tol exact)");

  const GoldenCaseResult& wrong = find(results, "ids_wrong");
  CHECK(wrong.status == GoldenStatus::kFailed);
  CHECK(wrong.max_abs == 1);
  CHECK_THAT(wrong.message,
             Catch::Contains("1 of 4 values differ (first at flat index 2: got 4, expected 3)"));

  const GoldenCaseResult& shape = find(results, "wrong_shape");
  CHECK(shape.status == GoldenStatus::kFailed);
  CHECK_THAT(shape.message, Catch::Contains("shape [3, 2] differs from the expected [2, 3]"));

  CHECK(find(results, "literal_expected").status == GoldenStatus::kPassed);
}

TEST_CASE("golden: missing files and tensors are errors naming them", "[golden]") {
  FakeKind fake("test_double", double_kind);
  const fs::path dir =
      make_fixture(json::array({{{"name", "missing_tensor"},
                                 {"kind", "test_double"},
                                 {"inputs", {{"x", "data.safetensors:x"}, {"factor", 2}}},
                                 {"outputs", {{"y", "data.safetensors:nope"}}},
                                 {"tolerance", tolerance(1, 1)}},
                                {{"name", "missing_file"},
                                 {"kind", "test_double"},
                                 {"inputs", {{"x", "absent.safetensors:x"}, {"factor", 2}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1, 1)}},
                                {{"name", "missing_input"},
                                 {"kind", "test_double"},
                                 {"inputs", {{"x", "data.safetensors:x"}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1, 1)}},
                                {{"name", "missing_output"},
                                 {"kind", "test_double"},
                                 {"inputs", {{"x", "data.safetensors:x"}, {"factor", 2}}},
                                 {"outputs", {{"z", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1, 1)}},
                                {{"name", "unimplemented_broken"},
                                 {"kind", "no_family_has_this"},
                                 {"inputs", {{"x", "data.safetensors:missing_input"}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1, 1)}},
                                {{"name", "unimplemented"},
                                 {"kind", "no_family_has_this"},
                                 {"inputs", {{"x", "data.safetensors:x"}, {"text", "a: b"}}},
                                 {"outputs", {{"y", "data.safetensors:ref"}}},
                                 {"tolerance", tolerance(1, 1)}}}));
  const auto results = run_golden_manifest(load_golden_manifest(dir));

  const GoldenCaseResult& tensor = find(results, "missing_tensor");
  CHECK(tensor.status == GoldenStatus::kError);
  CHECK_THAT(tensor.message, Catch::Contains("data.safetensors") && Catch::Contains("'nope'") &&
                                 Catch::Contains("output 'y'"));

  const GoldenCaseResult& file = find(results, "missing_file");
  CHECK(file.status == GoldenStatus::kError);
  CHECK_THAT(file.message, Catch::Contains("absent.safetensors") && Catch::Contains("input 'x'"));

  const GoldenCaseResult& input = find(results, "missing_input");
  CHECK(input.status == GoldenStatus::kError);
  CHECK_THAT(input.message, Catch::Contains("has no input 'factor'"));

  const GoldenCaseResult& output = find(results, "missing_output");
  CHECK(output.status == GoldenStatus::kError);
  CHECK_THAT(output.message, Catch::Contains("produced no output 'z'"));
  CHECK_THAT(format_golden_result(output),
             Catch::StartsWith("ERROR  missing_output  kind=test_double  "));

  // A kind nobody implements still has its references checked.
  const GoldenCaseResult& broken = find(results, "unimplemented_broken");
  CHECK(broken.status == GoldenStatus::kError);
  CHECK_THAT(broken.message, Catch::Contains("missing_input"));
  const GoldenCaseResult& unimplemented = find(results, "unimplemented");
  CHECK(unimplemented.status == GoldenStatus::kNotImplemented);
  CHECK(format_golden_result(unimplemented) ==
        "NOT IMPLEMENTED  unimplemented  kind=no_family_has_this");

  const GoldenSummary summary = summarize_golden(results);
  CHECK(summary.errors == 5);
  CHECK(summary.not_implemented == 1);
  CHECK_FALSE(summary.all_passed());
  CHECK(format_golden_summary(summary) == "0 passed, 0 failed, 1 not implemented, 5 errors");

  GoldenRunOptions only;
  only.case_names = {"no_such_case"};
  CHECK_THROWS_WITH(run_golden_manifest(load_golden_manifest(dir), only),
                    Catch::Contains("no case named 'no_such_case'"));
}

TEST_CASE("golden: the context resolves literals, paths, weights and config", "[golden]") {
  bool ran = false;
  FakeKind fake("test_context", [&](const GoldenContext& context) {
    ran = true;
    CHECK(context.string("text") == "masterpiece, (best quality:1.2), <lora:foo:0.8>");
    CHECK(context.integer("steps") == 4);
    CHECK(context.number("scale") == 7.5);
    CHECK(context.path("vocab") == context.manifest_dir() / "ids.txt");
    CHECK(context.files().count("vocab") == 1);
    CHECK(context.files().count("text") == 0);
    CHECK(context.weights_path("model") == context.manifest_dir() / "data.safetensors");
    CHECK(context.config()["factor"] == 2);
    CHECK(context.case_json()["note"] == "kept");
    const Tensor list = context.tensor("list");
    CHECK(list.dtype() == DType::kI64);
    CHECK(list.shape() == Shape{2, 2});
    CHECK(list.to_i64_vector() == std::vector<int64_t>{1, 2, 3, 4});
    const Tensor reals = context.tensor("reals");
    CHECK(reals.dtype() == DType::kF32);
    CHECK(reals.to_f32_vector() == std::vector<float>{0.5f, 2.0f});
    CHECK_THROWS_WITH(context.tensor("text"), Catch::Contains("input 'text'"));
    CHECK_THROWS_WITH(context.integer("scale"), Catch::Contains("expected an integer"));
    CHECK_THROWS_WITH(context.weights_path("other"), Catch::Contains("no weights entry 'other'"));
    const json& ragged = context.input("ragged");
    CHECK(ragged.is_array());
    CHECK_THROWS_WITH(context.tensor("ragged"), Catch::Contains("ragged"));
    GoldenOutputs out;
    out.values["y"] = context.tensor("x");
    return out;
  });
  const fs::path dir = make_fixture(
      json::array({{{"name", "context"},
                    {"kind", "test_context"},
                    {"note", "kept"},
                    {"inputs",
                     {{"x", "data.safetensors:x"},
                      {"text", "masterpiece, (best quality:1.2), <lora:foo:0.8>"},
                      {"steps", 4},
                      {"scale", 7.5},
                      {"vocab", "ids.txt"},
                      {"list", json::array({json::array({1, 2}), json::array({3, 4})})},
                      {"reals", json::array({0.5, 2})},
                      {"ragged", json::array({json::array({1, 2}), json::array({3})})}}},
                    {"outputs", {{"y", "data.safetensors:x"}}},
                    {"tolerance", exact()}}}));
  const auto results = run_golden_manifest(load_golden_manifest(dir));
  CHECK(ran);
  INFO(results[0].message);
  CHECK(results[0].status == GoldenStatus::kPassed);
}

TEST_CASE("golden: references are told apart from text", "[golden]") {
  const fs::path dir = make_fixture(json::array());
  auto reference = parse_golden_reference(dir, "data.safetensors:en.ids");
  REQUIRE(reference);
  CHECK(reference->file == dir / "data.safetensors");
  CHECK(reference->tensor == "en.ids");
  // A missing weight file still reads as a reference (so it fails loudly).
  CHECK(parse_golden_reference(dir, "gone.gguf:token_embd.weight").has_value());
  CHECK_FALSE(parse_golden_reference(dir, "yes: no").has_value());
  CHECK_FALSE(parse_golden_reference(dir, "(best quality:1.2)").has_value());
  CHECK_FALSE(parse_golden_reference(dir, "ids.txt").has_value());
  CHECK_FALSE(parse_golden_reference(dir, ":x").has_value());
  CHECK(parse_golden_reference(dir, "ids.txt:x").has_value());  // an existing file
}

TEST_CASE("golden: malformed manifests give one error naming the file and field", "[golden]") {
  const fs::path dir = test::temp_dir("golden-bad");
  const fs::path path = dir / "manifest.json";
  auto error_of = [&](const std::string& text) -> std::string {
    write_text(path, text);
    try {
      load_golden_manifest(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string name = path.string();
  CHECK_THAT(error_of("{\"cases\": [}"), Catch::StartsWith(name + ": invalid JSON"));
  CHECK_THAT(error_of("[1, 2]"), Catch::StartsWith(name) && Catch::Contains("JSON object"));
  CHECK_THAT(error_of("{}"), Catch::StartsWith(name) && Catch::Contains("'cases' is missing"));
  CHECK_THAT(error_of(R"({"cases": {}})"), Catch::Contains("cases: must be an array"));
  CHECK_THAT(error_of(R"({"cases": [{"name": "a", "outputs": {"y": "f.safetensors:y"},
                          "tolerance": {"exact": true}}]})"),
             Catch::Contains("cases[0]: field 'kind' is missing"));
  CHECK_THAT(error_of(R"({"cases": [{"name": "a", "kind": "k", "tolerance": {"exact": true}}]})"),
             Catch::Contains("cases[0] ('a'): field 'outputs' is missing"));
  CHECK_THAT(error_of(R"({"cases": [{"name": "a", "kind": "k", "outputs": {"y": "f:y"}}]})"),
             Catch::Contains("cases[0] ('a'): field 'tolerance' is missing"));
  CHECK_THAT(error_of(R"({"cases": [{"name": "a", "kind": "k", "outputs": {"y": "f:y"},
                          "tolerance": {"max_abs": 1e-4}}]})"),
             Catch::Contains("cases[0] ('a').tolerance: field 'rel_l2' is missing"));
  CHECK_THAT(error_of(R"({"cases": [{"name": "a", "kind": "k", "outputs": {"y": "f:y"},
                          "tolerance": {"max_abs": -1, "rel_l2": 0}}]})"),
             Catch::Contains("tolerance.max_abs: must be a non-negative number"));
  CHECK_THAT(error_of(R"({"cases": [{"name": "a", "kind": "k", "outputs": {"y": "f:y"},
                          "tolerance": {"exact": true},
                          "tolerance_per_output": {"z": {"exact": true}}}]})"),
             Catch::Contains("tolerance_per_output.z: names no output of the case"));
  CHECK_THAT(error_of(R"({"cases": [
                          {"name": "a", "kind": "k", "outputs": {"y": "f:y"}, "tolerance": {"exact": true}},
                          {"name": "a", "kind": "k", "outputs": {"y": "f:y"}, "tolerance": {"exact": true}}]})"),
             Catch::Contains("cases[1].name: duplicate case name 'a'"));
  CHECK_THAT(error_of(R"({"weights": {"m": 3}, "cases": []})"),
             Catch::Contains("weights.m: must be a file name"));
  CHECK_THROWS_WITH(load_golden_manifest(dir / "absent.json"),
                    Catch::Contains("absent.json: cannot open the golden manifest"));
}

}  // namespace mmgen
