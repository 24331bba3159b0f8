// The one place that knows every model family linked into the program: it
// registers their golden kinds (core/golden.h). Called explicitly by the CLI
// and the golden tests, so nothing depends on static initialisers.
#include <mutex>

#include "core/golden.h"

namespace mmgen {

void register_all_golden_kinds() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Each family adds one call here as its golden kinds land, e.g.
    // text::register_golden_kinds(); diffusion::register_golden_kinds();
  });
}

}  // namespace mmgen
