// Diagnostics on stderr, one line per message with an "mmgen: " prefix, under
// one global level. The level comes from MMGEN_LOG (error|warn|info|debug) at
// first use and from the CLI's --verbose / --quiet. Thread-safe: lines from
// different threads never interleave, and a progress bar on the terminal is
// cleared before a message and redrawn after it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace mmgen {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// "error", "warn", "info", "debug".
std::string_view log_level_name(LogLevel level);
// Accepts the names above (any case) and "warning"; nullopt otherwise.
std::optional<LogLevel> log_level_from_name(std::string_view name);

// The current level: messages at or below it are written. Default: warn, or
// MMGEN_LOG when set to a valid name.
LogLevel log_level();
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

// Writes one message (without a trailing newline) when `level` is enabled:
// "mmgen: <text>" for info, "mmgen: warning: <text>", "mmgen: error: <text>",
// "mmgen: debug: <text>".
void log_message(LogLevel level, std::string_view text);

// Replaces where lines go (default: stderr); the sink receives the full line
// with prefix and newline. An empty function restores stderr. For tests and
// embedding applications.
using LogSink = std::function<void(LogLevel level, std::string_view line)>;
void set_log_sink(LogSink sink);

// A single transient line at the bottom of the terminal (the progress bar):
// log lines clear it first and redraw it after. Empty text clears it;
// `finish` ends it with a newline so it stays on screen.
void set_status_line(std::string_view text);
void finish_status_line();

template <typename... Args>
void log_error(Args&&... args) {
  if (log_enabled(LogLevel::kError))
    log_message(LogLevel::kError, detail::concat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(Args&&... args) {
  if (log_enabled(LogLevel::kWarn))
    log_message(LogLevel::kWarn, detail::concat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(Args&&... args) {
  if (log_enabled(LogLevel::kInfo))
    log_message(LogLevel::kInfo, detail::concat(std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(Args&&... args) {
  if (log_enabled(LogLevel::kDebug))
    log_message(LogLevel::kDebug, detail::concat(std::forward<Args>(args)...));
}

}  // namespace mmgen
