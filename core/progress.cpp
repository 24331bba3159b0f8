#include "core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/log.h"

namespace mmgen {
namespace {

constexpr int kMaxBarColumns = 60;
constexpr int kMinBarColumns = 5;
constexpr double kRedrawInterval = 0.1;  // seconds between terminal redraws

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string printf_string(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// "[=====>    ]" with `inner` columns between the brackets.
std::string bar(int64_t step, int64_t total, int inner) {
  const int64_t clamped = std::clamp<int64_t>(step, 0, total);
  const int done = static_cast<int>(clamped * inner / total);
  std::string out = "[";
  if (done >= inner) {
    out.append(inner, '=');
  } else {
    out.append(done, '=');
    out.push_back('>');
    out.append(inner - done - 1, ' ');
  }
  out.push_back(']');
  return out;
}

}  // namespace

double progress_rate(int64_t step, double elapsed_seconds) {
  if (step <= 0 || !(elapsed_seconds > 0)) return 0;
  return static_cast<double>(step) / elapsed_seconds;
}

double progress_eta_seconds(int64_t step, int64_t total, double elapsed_seconds) {
  if (total <= 0) return -1;
  if (step >= total) return 0;
  const double rate = progress_rate(step, elapsed_seconds);
  if (rate <= 0) return -1;
  return static_cast<double>(total - step) / rate;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  if (seconds < 59.95) return printf_string("%.1fs", seconds);
  const int64_t whole = static_cast<int64_t>(std::llround(seconds));
  char buffer[64];
  if (whole < 3600)
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", static_cast<long long>(whole / 60),
                  static_cast<long long>(whole % 60));
  else
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", static_cast<long long>(whole / 3600),
                  static_cast<long long>(whole % 3600 / 60));
  return buffer;
}

std::string format_rate(double steps_per_second) {
  if (!(steps_per_second > 0) || std::isinf(steps_per_second)) return "? it/s";
  if (steps_per_second < 1) return printf_string("%.2f s/it", 1.0 / steps_per_second);
  if (steps_per_second < 100) return printf_string("%.1f it/s", steps_per_second);
  return printf_string("%.0f it/s", steps_per_second);
}

std::string format_progress_line(const ProgressEvent& event, int width) {
  const double rate = progress_rate(event.step, event.elapsed_seconds);
  std::string line;
  if (event.total <= 0) {
    line = event.stage + " " + std::to_string(event.step) + "  " + format_rate(rate);
  } else {
    std::string tail = std::to_string(event.step) + "/" + std::to_string(event.total) + "  " +
                       format_rate(rate) + "  ";
    if (event.step >= event.total)
      tail += format_duration(event.elapsed_seconds);
    else
      tail += "ETA " +
              format_duration(progress_eta_seconds(event.step, event.total, event.elapsed_seconds));
    // stage, space, [bar], space, tail
    const int fixed = static_cast<int>(event.stage.size() + tail.size()) + 4;
    const int inner = std::min(kMaxBarColumns, width - fixed);
    if (inner >= kMinBarColumns)
      line = event.stage + " " + bar(event.step, event.total, inner) + " " + tail;
    else
      line = event.stage + " " + tail;
  }
  if (width > 0 && static_cast<int>(line.size()) > width) line.resize(width);
  return line;
}

ProgressReporter::ProgressReporter(ProgressCallback callback, std::string stage, int64_t total,
                                   Clock clock)
    : callback_(std::move(callback)),
      stage_(std::move(stage)),
      total_(total),
      clock_(clock ? std::move(clock) : Clock(steady_seconds)),
      start_(clock_()) {}

double ProgressReporter::elapsed_seconds() const { return std::max(0.0, clock_() - start_); }

bool ProgressReporter::update(int64_t step) {
  step_ = step;
  if (cancelled_) return false;
  if (!callback_) return true;
  const ProgressEvent event{stage_, step_, total_, elapsed_seconds()};
  if (!callback_(event)) cancelled_ = true;
  return !cancelled_;
}

void ProgressReporter::throw_if_cancelled() const {
  if (cancelled_) fail(stage_, ": cancelled");
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

int terminal_width() {
  struct winsize size {};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const int value = std::atoi(columns);
    if (value > 0) return value;
  }
  return 80;
}

ProgressCallback terminal_progress_bar() {
  if (!stderr_is_terminal()) return [](const ProgressEvent&) { return true; };
  struct State {
    std::mutex mutex;
    double last_draw = -1;
    std::string last_stage;
  };
  auto state = std::make_shared<State>();
  return [state](const ProgressEvent& event) {
    std::lock_guard lock(state->mutex);
    const bool finished = event.total > 0 && event.step >= event.total;
    const double now = steady_seconds();
    const bool new_stage = event.stage != state->last_stage;
    if (!finished && !new_stage && now - state->last_draw < kRedrawInterval) return true;
    state->last_draw = now;
    state->last_stage = event.stage;
    // One column short of the width, so the cursor never wraps to a new line.
    set_status_line(format_progress_line(event, terminal_width() - 1));
    if (finished) {
      finish_status_line();
      state->last_stage.clear();
    }
    return true;
  };
}

}  // namespace mmgen
