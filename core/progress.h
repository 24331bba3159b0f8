// Progress of long work (model loading, sampling steps, audio synthesis): one
// callback type for every caller, the rate / ETA arithmetic, and the terminal
// progress bar that the CLI shows when stderr is a terminal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace mmgen {

struct ProgressEvent {
  std::string stage;           // what is running, e.g. "sampling"
  int64_t step = 0;            // steps done so far
  int64_t total = 0;           // steps in the stage; 0 when unknown
  double elapsed_seconds = 0;  // since the stage started
};

// Called as work advances; returning false asks the work to stop (cancel).
using ProgressCallback = std::function<bool(const ProgressEvent&)>;

// Average steps per second so far; 0 before the first step or with no time elapsed.
double progress_rate(int64_t step, double elapsed_seconds);
// Seconds left at the average rate; -1 when unknown (no total, or no rate yet),
// 0 when done.
double progress_eta_seconds(int64_t step, int64_t total, double elapsed_seconds);
// "2.4s" below a minute, "1m05s" below an hour, "2h03m" beyond; "?" when negative.
std::string format_duration(double seconds);
// "3.4 it/s" (or "2.50 s/it" when slower than one step a second, "? it/s" with no rate).
std::string format_rate(double steps_per_second);

// One progress-bar line, at most `width` columns:
//   "stage [=====>    ] 12/20  3.4 it/s  ETA 2.4s"
// The bar takes the columns left over (at most 60); it is left out when fewer
// than 5 remain. A finished stage shows its total time instead of the ETA
// ("20/20  3.3 it/s  6.0s"); an unknown total shows only the count and rate.
std::string format_progress_line(const ProgressEvent& event, int width);

// Tracks one stage: stamps each step with the elapsed time, forwards it to the
// callback and remembers a cancellation.
class ProgressReporter {
 public:
  // Monotonic seconds; the default is std::chrono::steady_clock.
  using Clock = std::function<double()>;

  ProgressReporter(ProgressCallback callback, std::string stage, int64_t total, Clock clock = {});

  // Reports that `step` steps are done. Returns false once the callback has
  // asked to cancel (and keeps returning false; the callback is not called again).
  bool update(int64_t step);
  bool advance(int64_t steps = 1) { return update(step_ + steps); }
  // Throws Error("<stage>: cancelled") after a cancellation.
  void throw_if_cancelled() const;

  bool cancelled() const { return cancelled_; }
  int64_t step() const { return step_; }
  int64_t total() const { return total_; }
  double elapsed_seconds() const;
  double rate() const { return progress_rate(step_, elapsed_seconds()); }
  double eta_seconds() const { return progress_eta_seconds(step_, total_, elapsed_seconds()); }

 private:
  ProgressCallback callback_;
  std::string stage_;
  int64_t total_;
  Clock clock_;
  double start_;
  int64_t step_ = 0;
  bool cancelled_ = false;
};

// True when stderr is a terminal (where a progress bar makes sense).
bool stderr_is_terminal();
// Columns of the terminal on stderr ($COLUMNS or 80 when unknown).
int terminal_width();

// A callback that draws the progress bar on stderr, redrawn in place with \r
// at most ten times a second and ended with a newline when a stage finishes.
// Does nothing (but still returns true) when stderr is not a terminal.
ProgressCallback terminal_progress_bar();

}  // namespace mmgen
