#include "core/log.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace mmgen {
namespace {

std::atomic<int> current_level{static_cast<int>(LogLevel::kWarn)};
std::once_flag env_once;

// Guards the sink, the status line and every write, so lines never interleave.
std::mutex& output_mutex() {
  static std::mutex mutex;
  return mutex;
}
LogSink& sink() {
  static LogSink instance;
  return instance;
}
std::string& status_line() {
  static std::string line;
  return line;
}

void write_stderr(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stderr); }

// The line being shown is erased with a carriage return and "erase to end of line".
constexpr std::string_view kEraseLine = "\r\033[K";

void emit(LogLevel level, std::string_view line) {
  std::lock_guard lock(output_mutex());
  if (sink()) {
    sink()(level, line);
    return;
  }
  const bool status = !status_line().empty();
  if (status) write_stderr(kEraseLine);
  write_stderr(line);
  if (status) write_stderr(status_line());
  std::fflush(stderr);
}

void read_environment() {
  const char* value = std::getenv("MMGEN_LOG");
  if (!value || !*value) return;
  if (auto level = log_level_from_name(value)) {
    current_level.store(static_cast<int>(*level));
    return;
  }
  emit(LogLevel::kWarn, detail::concat("mmgen: warning: MMGEN_LOG=", value,
                                       " is not one of error, warn, info, debug; using warn\n"));
}

void ensure_environment_read() { std::call_once(env_once, read_environment); }

}  // namespace

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

std::optional<LogLevel> log_level_from_name(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "error") return LogLevel::kError;
  if (lower == "warn" || lower == "warning") return LogLevel::kWarn;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "debug") return LogLevel::kDebug;
  return std::nullopt;
}

LogLevel log_level() {
  ensure_environment_read();
  return static_cast<LogLevel>(current_level.load(std::memory_order_relaxed));
}

void set_log_level(LogLevel level) {
  ensure_environment_read();  // an explicit choice overrides the environment
  current_level.store(static_cast<int>(level));
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) <= static_cast<int>(log_level());
}

void log_message(LogLevel level, std::string_view text) {
  if (!log_enabled(level)) return;
  std::string_view tag;
  switch (level) {
    case LogLevel::kError:
      tag = "error: ";
      break;
    case LogLevel::kWarn:
      tag = "warning: ";
      break;
    case LogLevel::kInfo:
      tag = "";
      break;
    case LogLevel::kDebug:
      tag = "debug: ";
      break;
  }
  std::string line;
  line.reserve(8 + tag.size() + text.size());
  line.append("mmgen: ").append(tag).append(text).push_back('\n');
  emit(level, line);
}

void set_log_sink(LogSink new_sink) {
  std::lock_guard lock(output_mutex());
  sink() = std::move(new_sink);
}

void set_status_line(std::string_view text) {
  std::lock_guard lock(output_mutex());
  if (text.empty() && status_line().empty()) return;
  write_stderr(kEraseLine);
  write_stderr(text);
  status_line().assign(text);
  std::fflush(stderr);
}

void finish_status_line() {
  std::lock_guard lock(output_mutex());
  if (status_line().empty()) return;
  write_stderr("\n");
  status_line().clear();
  std::fflush(stderr);
}

}  // namespace mmgen
