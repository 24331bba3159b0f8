// The project's one exception type, and the checks that throw it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace mmgen {

// Every error inside the C++ layers is an Error whose message is complete on
// its own: it names the file, tensor, node or field and what was expected.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

// Throws Error with the streamed arguments concatenated.
template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(detail::concat(std::forward<Args>(args)...));
}

}  // namespace mmgen

// MMGEN_CHECK(cond, "message ", value, ...) throws mmgen::Error when cond is false.
#define MMGEN_CHECK(cond, ...)                 \
  do {                                         \
    if (!(cond)) ::mmgen::fail(__VA_ARGS__);   \
  } while (0)
