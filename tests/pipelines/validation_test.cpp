// Validation before anything runs: each class of bad definition or bad input
// gets one error naming the node and the field.
#include "pipelines/validation.h"

#include <catch2/catch.hpp>

#include "pipelines/node_types.h"
#include "tests/pipelines/pipeline_test_util.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;
using test::validation_error;

// A txt2img node with the given extra fields, saved to a PNG.
std::string image_pipeline(const std::string& render_fields, const std::string& extra_nodes = "") {
  return R"({"inputs": {"prompt": {"type": "text", "default": "a cat"}},
             "nodes": {
               "render": {"type": "diffusion.txt2img", "inputs": {
                 "model": ")" +
         test::sd_model() + R"(", "prompt": {"input": "prompt"})" + render_fields + R"(}},
               "save": {"type": "io.save_image", "inputs": {"image": ["render", "image"]}})" +
         extra_nodes + "}}";
}

}  // namespace

TEST_CASE("A well-formed pipeline validates and plans in dependency order", "[pipelines]") {
  CHECK(validation_error(image_pipeline("")) == "");
  const auto def = pipelines::parse_pipeline(image_pipeline(", \"steps\": 3"), "p.json");
  const pipelines::Plan plan = pipelines::plan_pipeline(def, {{"render.width", "128"}});
  REQUIRE(plan.nodes.size() == 2);
  CHECK(plan.nodes[0].def->id == "render");
  CHECK(plan.nodes[1].def->id == "save");
  // Defaults are filled in, overrides applied, the seed -1 replaced and recorded.
  const auto field = [&](const std::string& name) {
    for (const auto& f : plan.nodes[0].fields)
      if (f.name == name) return *f.value;
    FAIL("no field " << name);
    return pipelines::Value();
  };
  CHECK(field("steps").integer == 3);
  CHECK(field("width").integer == 128);
  CHECK(field("height").integer == 0);  // 0: the model's native size
  CHECK(field("sampler").text == "");   // empty: the model's own sampler
  REQUIRE(plan.seeds.size() == 1);
  CHECK(plan.seeds[0].first == "render.seed");
  CHECK(field("seed").integer == static_cast<int64_t>(plan.seeds[0].second));
  // The default outputs: the file every save node writes.
  REQUIRE(plan.outputs.size() == 1);
  CHECK(plan.outputs[0].name == "save");
  CHECK(plan.outputs[0].type == pipelines::PortType::kFile);
}

TEST_CASE("An unknown node type is named with the known ones", "[pipelines]") {
  const std::string e = validation_error(R"({"nodes": {"a": {"type": "text.shout"}}})");
  CHECK_THAT(e, Contains("p.json: node \"a\" (text.shout): unknown node type \"text.shout\"") &&
                    Contains("known types: text.template, text.generate"));
}

TEST_CASE("Unknown and missing fields name the node and the field", "[pipelines]") {
  CHECK_THAT(validation_error(image_pipeline(", \"stepz\": 3")),
             Contains("node \"render\" (diffusion.txt2img): unknown field \"stepz\"; fields of "
                      "diffusion.txt2img: model, prompt,"));
  CHECK_THAT(validation_error(R"({"nodes": {"t": {"type": "text.template"}}})"),
             Contains("node \"t\" (text.template): missing field \"template\" (text"));
  CHECK_THAT(validation_error(R"({"nodes": {"r": {"type": "diffusion.txt2img",
                                   "inputs": {"prompt": "x"}}}})"),
             Contains("node \"r\" (diffusion.txt2img): missing field \"model\" (file"));
}

TEST_CASE("Type mismatches name both ends", "[pipelines]") {
  // An image into a text field.
  CHECK_THAT(validation_error(image_pipeline("", R"(,
      "t": {"type": "text.template", "inputs": {"template": ["render", "image"]}})")),
             Contains("node \"t\" (text.template), field \"template\": type mismatch: the field "
                      "is text but node \"render\" output \"image\" is image"));
  // A string literal into an integer field.
  CHECK_THAT(validation_error(image_pipeline(", \"steps\": \"many\"")),
             Contains("node \"render\" (diffusion.txt2img), field \"steps\": expected a whole "
                      "number (integer), got \"many\""));
  // A pipeline input of the wrong type.
  CHECK_THAT(validation_error(R"({"inputs": {"n": {"type": "number", "default": 1.5}},
      "nodes": {"t": {"type": "text.template", "inputs": {"template": {"input": "n"}}}}})"),
             Contains("field \"template\": type mismatch: the field is text but input \"n\" is "
                      "number"));
  // An image written as a literal.
  CHECK_THAT(validation_error(R"({"nodes": {"s": {"type": "io.save_image",
                                   "inputs": {"image": "cat.png"}}}})"),
             Contains("field \"image\": a value of type image cannot be written as a literal"));
}

TEST_CASE("Cycles are reported with their path", "[pipelines]") {
  const std::string e = validation_error(R"({"nodes": {
      "a": {"type": "text.template", "inputs": {"template": ["b", "text"]}},
      "b": {"type": "text.template", "inputs": {"template": ["a", "text"]}}}})");
  CHECK_THAT(e, Contains("the nodes form a cycle: a -> b -> a"));
  CHECK_THAT(validation_error(R"({"nodes": {
      "a": {"type": "text.template", "inputs": {"template": ["a", "text"]}}}})"),
             Contains("node \"a\" (text.template), field \"template\": the node refers to itself"));
}

TEST_CASE("Bad parameter values name the field and the range", "[pipelines]") {
  CHECK_THAT(validation_error(image_pipeline(", \"steps\": 1001")),
             Contains("node \"render\" (diffusion.txt2img), field \"steps\": must be in [0, "
                      "1000], got 1001"));
  CHECK_THAT(validation_error(image_pipeline(", \"width\": 100")),
             Contains("field \"width\": must be a multiple of 8, got 100"));
  CHECK_THAT(validation_error(image_pipeline(", \"sampler\": \"warp\"")),
             Contains("field \"sampler\": unknown sampler 'warp'"));
  CHECK_THAT(validation_error(image_pipeline(", \"cfg_scale\": -1")),
             Contains("field \"cfg_scale\": must be >= 0, got -1.0"));
  CHECK_THAT(validation_error(image_pipeline(", \"model\": \"/no/such.safetensors\"")),
             Contains("field \"model\": /no/such.safetensors: file not found"));
  // A value that comes from a pipeline input is checked too, and says so.
  CHECK_THAT(validation_error(image_pipeline(""), {{"prompt", "  "}}),
             Contains("field \"prompt\": is empty; expected what the image shows (from input "
                      "\"prompt\")"));
  // A save path outside the output folder.
  CHECK_THAT(validation_error(image_pipeline("", R"(,
      "s2": {"type": "io.save_image", "inputs": {"image": ["render", "image"],
             "filename": "../x.png"}})")),
             Contains("node \"s2\" (io.save_image), field \"filename\": \"../x.png\" must stay "
                      "inside the output folder"));
  CHECK_THAT(validation_error(R"({"nodes": {"t": {"type": "text.template",
                                   "inputs": {"template": "Hi {name}"}}}})"),
             Contains("field \"template\": uses {name} but the node has no field \"name\""));
}

TEST_CASE("References to unknown nodes, outputs and inputs are errors", "[pipelines]") {
  CHECK_THAT(validation_error(R"({"nodes": {"s": {"type": "io.save_image",
                                   "inputs": {"image": ["nope", "image"]}}}})"),
             Contains("node \"s\" (io.save_image), field \"image\": refers to unknown node "
                      "\"nope\""));
  CHECK_THAT(validation_error(image_pipeline("", R"(,
      "s2": {"type": "io.save_image", "inputs": {"image": ["render", "picture"]}})")),
             Contains("node \"render\" (diffusion.txt2img) has no output \"picture\"; its "
                      "outputs: image"));
  CHECK_THAT(validation_error(R"({"nodes": {"t": {"type": "text.template",
                                   "inputs": {"template": {"input": "nope"}}}}})"),
             Contains("field \"template\": unknown pipeline input \"nope\""));
  CHECK_THAT(validation_error(R"({"nodes": {"t": {"type": "text.template", "inputs": {"template":
                                   "x"}}}, "outputs": {"o": ["t", "words"]}})"),
             Contains("output \"o\": node \"t\" (text.template) has no output \"words\""));
}

TEST_CASE("Run-time values: required, unknown and mistyped inputs", "[pipelines]") {
  const std::string def = R"({"inputs": {"n": {"type": "integer", "description": "a count"}},
      "nodes": {"t": {"type": "text.template", "inputs": {"template": "x"}}}})";
  CHECK_THAT(validation_error(def),
             Contains("p.json: input \"n\" (integer) is required: a count; give it with --set "
                      "n=VALUE"));
  CHECK_THAT(validation_error(def, {{"n", "two"}}),
             Contains("input \"n\": expected a whole number (integer), got \"two\""));
  CHECK_THAT(validation_error(def, {{"n", "2"}, {"m", "3"}}),
             Contains("unknown input \"m\"; the pipeline's inputs: n"));
  CHECK_THAT(validation_error(def, {{"n", "2"}, {"x.nope", "3"}}),
             Contains("\"x.nope\" names no node \"x\""));
  CHECK_THAT(validation_error(image_pipeline(""), {{"render.stepz", "3"}}),
             Contains("node \"render\" (diffusion.txt2img): unknown field \"stepz\" in "
                      "\"render.stepz\""));
  CHECK(validation_error(def, {{"n", "2"}}) == "");
}

TEST_CASE("Malformed definitions are refused with the key named", "[pipelines]") {
  CHECK_THAT(validation_error("{not json"), Contains("p.json: invalid JSON"));
  CHECK_THAT(validation_error(R"({"nodez": {}})"), Contains("p.json: no \"nodes\""));
  CHECK_THAT(validation_error(R"({"nodes": {"a": {"type": "text.template", "inputs":
                                   {"template": ["b"]}}}})"),
             Contains("node \"a\", field \"template\": a reference is [\"node id\", \"output\"]"));
  CHECK_THAT(validation_error(R"({"inputs": {"x": {"type": "picture"}}, "nodes": {}})"),
             Contains("input \"x\": unknown type \"picture\""));
  CHECK_THAT(validation_error(R"({"nodes": {"a": {"type": "text.template",
      "parameters": {"template": ["b", "text"]}}}})"),
             Contains("\"parameters\" hold literal values"));
}

}  // namespace mmgen
