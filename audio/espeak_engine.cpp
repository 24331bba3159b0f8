#include "audio/espeak_engine.h"

#include <espeak-ng/speak_lib.h>

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace mmgen::audio::espeak_engine {

std::mutex& mutex() {
  static std::mutex mutex;
  return mutex;
}

std::filesystem::path default_data_dir() {
  if (const char* env = std::getenv("ESPEAK_DATA_PATH"); env != nullptr && *env != '\0')
    return std::filesystem::path(env) / "espeak-ng-data";
#if defined(__aarch64__)
  return "/usr/lib/aarch64-linux-gnu/espeak-ng-data";
#else
  return "/usr/lib/x86_64-linux-gnu/espeak-ng-data";
#endif
}

int initialise_locked() {
  static int sample_rate = 0;
  static std::string failure;
  if (!failure.empty()) throw Error(failure);
  if (sample_rate > 0) return sample_rate;
  // Synchronous mode without playback: audio, when asked for, comes through the
  // synthesis callback.
  // DONT_EXIT keeps espeak-ng from ending the process when its data is missing.
  const int result =
      espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
  if (result < 0) {
    failure =
        mmgen::detail::concat("espeak-ng: cannot initialise with its data at ", default_data_dir(),
                              " (install the espeak-ng-data package or set ESPEAK_DATA_PATH)");
    throw Error(failure);
  }
  sample_rate = result;
  return sample_rate;
}

}  // namespace mmgen::audio::espeak_engine
