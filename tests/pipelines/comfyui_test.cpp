// ComfyUI API-format workflows of the six core Stable Diffusion nodes run as
// mmgen pipelines; any other node is refused by name.
#include "pipelines/comfyui.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "diffusion/png_parameters.h"
#include "tests/pipelines/pipeline_test_util.h"
#include "vision/png.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

// The default workflow ComfyUI saves in API format, at 64x64 and 2 steps.
std::string workflow(const std::string& ckpt, const std::string& extra = "",
                     const std::string& sampler = "euler",
                     const std::string& scheduler = "normal") {
  return R"({
  "3": {"class_type": "KSampler", "inputs": {"seed": 156680208, "steps": 2, "cfg": 8,
        "sampler_name": ")" +
         sampler + R"(", "scheduler": ")" + scheduler + R"(", "denoise": 1,
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
  "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ")" +
         ckpt + R"("}},
  "5": {"class_type": "EmptyLatentImage", "inputs": {"batch_size": 1, "height": 64, "width": 64}},
  "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1],
        "text": "beautiful scenery nature glass bottle landscape, purple galaxy bottle,"}},
  "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "text, watermark"}},
  "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
  "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}})" +
         extra + "}";
}

std::string import_error(const std::string& json) {
  try {
    pipelines::validate_pipeline(pipelines::parse_pipeline(json, "wf.json"));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("A ComfyUI workflow maps onto txt2img and save_image", "[pipelines][comfyui]") {
  const auto def = pipelines::parse_pipeline(workflow("sd1_tiny.safetensors"), "wf.json",
                                             test::golden_dir() / "sd1");
  CHECK(def.format == "comfyui");
  REQUIRE(def.nodes.size() == 2);
  const pipelines::NodeDef* sampler = def.node("3");
  REQUIRE(sampler != nullptr);
  CHECK(sampler->type == "diffusion.txt2img");
  CHECK(sampler->field("sampler")->source.literal == "euler");
  CHECK(sampler->field("cfg_scale")->source.literal == 8);
  CHECK(def.node("9")->type == "io.save_image");

  // The checkpoint name is found beside the workflow; the image is written
  // under ComfyUI's first file name.
  const fs::path dir = test::temp_dir("comfy");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  const auto result = pipelines::run_pipeline(def, {}, models, options);
  REQUIRE(result.outputs.size() == 1);
  CHECK(result.outputs[0].value.text == (dir / "ComfyUI_00001_.png").string());
  const auto png = vision::read_png(dir / "ComfyUI_00001_.png");
  CHECK(png.image.width == 64);
  CHECK(png.image.height == 64);
  const auto p = diffusion::parse_png_parameters(png.text_value("parameters"));
  CHECK(p.prompt == "beautiful scenery nature glass bottle landscape, purple galaxy bottle,");
  CHECK(p.negative_prompt == "text, watermark");
  CHECK(p.field("Seed") == "156680208");
  CHECK(p.field("Sampler") == "Euler");
  CHECK(p.field("Steps") == "2");

  // A node's field is overridden like any pipeline's.
  const auto again = pipelines::run_pipeline(def, {{"3.seed", "5"}}, models, options);
  CHECK(again.outputs[0].value.meta("seed") == "5");
}

TEST_CASE("The ComfyUI request body form is accepted too", "[pipelines][comfyui]") {
  const auto def = pipelines::parse_pipeline(
      "{\"prompt\": " + workflow(test::sd_model(), "", "dpmpp_2m", "karras") + "}", "body.json");
  CHECK(def.format == "comfyui");
  CHECK(def.node("3")->field("sampler")->source.literal == "dpm++2m_karras");
  CHECK_NOTHROW(pipelines::validate_pipeline(def));
}

TEST_CASE("ComfyUI nodes outside the core six are refused by name", "[pipelines][comfyui]") {
  CHECK(import_error(workflow(test::sd_model())) == "");
  CHECK(import_error(workflow(test::sd_model(), R"(,
      "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0]}})")) ==
        "wf.json: node \"10\" (class_type \"LoraLoader\") is not supported; mmgen runs ComfyUI "
        "workflows made of CheckpointLoaderSimple, CLIPTextEncode, EmptyLatentImage, KSampler, "
        "VAEDecode, SaveImage");
  CHECK_THAT(import_error(workflow(test::sd_model(), "", "heun")),
             Contains("node \"3\" (KSampler): sampler_name \"heun\" is not supported"));
  CHECK_THAT(import_error(workflow(test::sd_model(), "", "euler", "exponential")),
             Contains("scheduler \"exponential\" with sampler \"euler\" is not supported"));
  // A KSampler fed from a node that is not an EmptyLatentImage.
  std::string wf = workflow(test::sd_model());
  wf.replace(wf.find("\"latent_image\": [\"5\", 0]"), 24, "\"latent_image\": [\"8\", 0]");
  CHECK_THAT(import_error(wf), Contains("node \"3\" input \"latent_image\" comes from node \"8\" "
                                        "(VAEDecode); mmgen maps only EmptyLatentImage there"));
  // A missing checkpoint is found when the run is planned, not at import.
  CHECK(import_error(workflow("missing.safetensors")) == "");
  CHECK_THROWS_WITH(
      pipelines::plan_pipeline(
          pipelines::parse_pipeline(workflow("missing.safetensors"), "wf.json"), {}),
      Contains("node \"3\" (diffusion.txt2img), field \"model\": missing.safetensors: file not "
               "found"));
}

}  // namespace mmgen
