// The one espeak-ng of the process: espeak-ng keeps global state (one
// translator, one synthesis callback), so the phonemizer and espeak-ng's own
// speech share one lock and one initialisation.
#pragma once

#include <filesystem>
#include <mutex>

namespace mmgen::audio::espeak_engine {

// Held around every call into espeak-ng.
std::mutex& mutex();

// Initialises espeak-ng once (synchronous mode, no playback), with the lock held,
// and returns the sample rate of its speech. A failed initialisation is
// remembered: every later call throws the same Error.
int initialise_locked();

// $ESPEAK_DATA_PATH/espeak-ng-data when set, else Debian's default folder.
std::filesystem::path default_data_dir();

}  // namespace mmgen::audio::espeak_engine
