// Choosing the device of a language model where it cannot run: one clear error that
// names the device, before any file is read, never a crash. (The CUDA results
// themselves are checked in llm_cuda_test.cpp.)
#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "core/device.h"
#include "core/error.h"
#include "tests/support/test_support.h"
#include "text/generation.h"
#include "text/llm.h"

namespace mmgen::text {
namespace {

using Catch::Matchers::Contains;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("load_llm on a cuda device that is absent is a clear error", "[text][llm]") {
  const auto gguf = test::golden_file("llm/llama_tiny.gguf");
  // No machine has 100 CUDA devices: the error names the device either way.
  const std::string far = error_of([&] { load_llm(gguf, Device::cuda(99)); });
  CHECK_THAT(far, Contains("cuda:99"));
  CHECK_THAT(far, Contains("CUDA"));
  // Checked before the path: a missing file does not hide the device problem.
  CHECK_THAT(error_of([&] { load_llm("/no/such/model.gguf", Device::cuda(99)); }),
             Contains("cuda:99"));

  if (!cuda_available()) {
    const std::string first = error_of([&] { load_llm(gguf, Device::cuda()); });
    CHECK_THAT(first, Contains("cuda:0"));
    CHECK_THAT(first, Contains("no CUDA device is present") || Contains("no CUDA support"));
    CHECK_THAT(error_of([&] { load_text_model(gguf, Device::cuda()); }), Contains("cuda:0"));
  }
  // The CPU is always there, and the default.
  CHECK(load_llm(gguf)->device() == Device::cpu());
  CHECK(load_llm(gguf, Device::cpu())->make_cache().device() == Device::cpu());
}

}  // namespace mmgen::text
