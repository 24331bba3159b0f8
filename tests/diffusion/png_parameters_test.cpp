// The web UI's "parameters" text: formatting, quoting and reading it back.
#include "diffusion/png_parameters.h"

#include <catch2/catch.hpp>

namespace mmgen::diffusion {

TEST_CASE("parameters text has the prompt, negative prompt and settings lines",
          "[png_parameters]") {
  PngParameters p;
  p.prompt = "a red circle";
  p.negative_prompt = "blurry, low quality";
  p.fields = {{"Steps", "20"},  {"Sampler", "Euler a"}, {"CFG scale", "7.5"},
              {"Seed", "42"},   {"Size", "512x512"},    {"Model hash", "6ce0161689"},
              {"Model", "v1-5"}};
  const std::string text = format_png_parameters(p);
  CHECK(text ==
        "a red circle\nNegative prompt: blurry, low quality\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, "
        "Model hash: 6ce0161689, Model: v1-5");
  const PngParameters back = parse_png_parameters(text);
  CHECK(back.prompt == p.prompt);
  CHECK(back.negative_prompt == p.negative_prompt);
  CHECK(back.fields == p.fields);
  CHECK(back.field("Seed") == "42");
  CHECK(back.field("Absent").empty());

  p.negative_prompt.clear();
  CHECK(format_png_parameters(p).find("Negative prompt") == std::string::npos);
  CHECK(parse_png_parameters(format_png_parameters(p)).negative_prompt.empty());
}

TEST_CASE("values with a comma, colon or newline are JSON-quoted", "[png_parameters]") {
  CHECK(quote_parameter_value("Euler a") == "Euler a");
  CHECK(quote_parameter_value("a, b") == "\"a, b\"");
  CHECK(quote_parameter_value("key: v") == "\"key: v\"");
  CHECK(quote_parameter_value("two\nlines \"q\"") == "\"two\\nlines \\\"q\\\"\"");
  CHECK(quote_parameter_value("caf\xc3\xa9, ok") == "\"caf\xc3\xa9, ok\"");
  PngParameters p;
  p.prompt = "line one\nline two";
  p.fields = {{"Model", "my, model: v2"}, {"Seed", "1"}, {"Note", "a\nb"}};
  const PngParameters back = parse_png_parameters(format_png_parameters(p));
  CHECK(back.prompt == p.prompt);
  CHECK(back.fields == p.fields);
}

TEST_CASE("malformed parameters text is an error", "[png_parameters]") {
  CHECK_THROWS_WITH(parse_png_parameters("only one line"), Catch::Contains("settings line"));
  CHECK_THROWS_WITH(parse_png_parameters("p\nSteps 20"), Catch::Contains("Key: value"));
  CHECK_THROWS_WITH(parse_png_parameters("p\nModel: \"open"), Catch::Contains("unterminated"));
  CHECK(model_hash("97d5819ac8ffffffffff") == "97d5819ac8");
}

}  // namespace mmgen::diffusion
