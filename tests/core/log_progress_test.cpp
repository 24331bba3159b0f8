// Logging levels and lines (core/log.h) and progress arithmetic and formatting
// (core/progress.h).
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/progress.h"

namespace mmgen {
namespace {

// Captures log lines for one test and restores stderr and the level after.
struct CapturedLog {
  std::vector<std::string> lines;
  LogLevel saved = log_level();
  CapturedLog() {
    set_log_sink([this](LogLevel, std::string_view line) { lines.emplace_back(line); });
  }
  ~CapturedLog() {
    set_log_sink({});
    set_log_level(saved);
  }
};

}  // namespace

TEST_CASE("log level names parse and print", "[log]") {
  CHECK(log_level_from_name("error") == LogLevel::kError);
  CHECK(log_level_from_name("WARN") == LogLevel::kWarn);
  CHECK(log_level_from_name("warning") == LogLevel::kWarn);
  CHECK(log_level_from_name("Info") == LogLevel::kInfo);
  CHECK(log_level_from_name("debug") == LogLevel::kDebug);
  CHECK_FALSE(log_level_from_name("verbose").has_value());
  CHECK_FALSE(log_level_from_name("").has_value());
  for (LogLevel level : {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug})
    CHECK(log_level_from_name(log_level_name(level)) == level);
}

TEST_CASE("log lines carry the prefix and respect the level", "[log]") {
  CapturedLog log;
  set_log_level(LogLevel::kInfo);
  log_error("disk ", 3, " failed");
  log_warn("low memory: ", 1.5, " GiB");
  log_info("loaded ", "model.gguf");
  log_debug("not shown");
  REQUIRE(log.lines.size() == 3);
  CHECK(log.lines[0] == "mmgen: error: disk 3 failed\n");
  CHECK(log.lines[1] == "mmgen: warning: low memory: 1.5 GiB\n");
  CHECK(log.lines[2] == "mmgen: loaded model.gguf\n");

  set_log_level(LogLevel::kDebug);
  log_debug("x=", 7);
  REQUIRE(log.lines.size() == 4);
  CHECK(log.lines[3] == "mmgen: debug: x=7\n");

  set_log_level(LogLevel::kError);
  log_warn("hidden");
  log_info("hidden");
  log_error("shown");
  REQUIRE(log.lines.size() == 5);
  CHECK(log.lines[4] == "mmgen: error: shown\n");
  CHECK(log_enabled(LogLevel::kError));
  CHECK_FALSE(log_enabled(LogLevel::kWarn));
}

TEST_CASE("log lines from many threads arrive whole", "[log]") {
  CapturedLog log;
  set_log_level(LogLevel::kInfo);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) log_info("thread ", t, " message ", i);
    });
  for (auto& thread : threads) thread.join();
  REQUIRE(log.lines.size() == 800);
  for (const std::string& line : log.lines) {
    CHECK(line.rfind("mmgen: thread ", 0) == 0);
    CHECK(line.find('\n') == line.size() - 1);
  }
}

TEST_CASE("progress rate and ETA arithmetic", "[progress]") {
  CHECK(progress_rate(0, 5.0) == 0);
  CHECK(progress_rate(10, 0.0) == 0);
  CHECK(progress_rate(12, 4.0) == Approx(3.0));
  CHECK(progress_eta_seconds(12, 20, 4.0) == Approx(8.0 / 3.0));
  CHECK(progress_eta_seconds(20, 20, 6.0) == 0);
  CHECK(progress_eta_seconds(25, 20, 6.0) == 0);
  CHECK(progress_eta_seconds(0, 20, 1.0) == -1);  // no rate yet
  CHECK(progress_eta_seconds(5, 0, 1.0) == -1);   // no total
}

TEST_CASE("durations and rates format compactly", "[progress]") {
  CHECK(format_duration(2.44) == "2.4s");
  CHECK(format_duration(0) == "0.0s");
  CHECK(format_duration(59.9) == "59.9s");
  CHECK(format_duration(59.96) == "1m00s");
  CHECK(format_duration(65) == "1m05s");
  CHECK(format_duration(3599.4) == "59m59s");
  CHECK(format_duration(7380) == "2h03m");
  CHECK(format_duration(-1) == "?");
  CHECK(format_rate(3.4) == "3.4 it/s");
  CHECK(format_rate(250.4) == "250 it/s");
  CHECK(format_rate(0.4) == "2.50 s/it");
  CHECK(format_rate(0) == "? it/s");
}

TEST_CASE("progress line: bar, counts, rate and ETA fitted to the width", "[progress]") {
  const ProgressEvent event{"sampling", 12, 20, 12 / 3.4};
  // Tail "12/20  3.4 it/s  ETA 2.4s" (25 columns) + stage (8) + 4 separators = 37 fixed.
  const std::string line = format_progress_line(event, 57);
  CHECK(line == "sampling [============>       ] 12/20  3.4 it/s  ETA 2.4s");
  CHECK(line.size() == 57);

  // Narrow terminals drop the bar, then cut the line.
  CHECK(format_progress_line(event, 40) == "sampling 12/20  3.4 it/s  ETA 2.4s");
  CHECK(format_progress_line(event, 20) == "sampling 12/20  3.4 ");

  // Wide terminals cap the bar at 60 columns.
  const std::string wide = format_progress_line(event, 300);
  CHECK(wide.size() == 37 + 60);

  // Start, end and an unknown total.
  CHECK(format_progress_line({"decode", 0, 4, 0.0}, 33) == "decode [>    ] 0/4  ? it/s  ETA ?");
  CHECK(format_progress_line({"decode", 4, 4, 2.0}, 34) == "decode [=====] 4/4  2.0 it/s  2.0s");
  CHECK(format_progress_line({"tokens", 42, 0, 2.0}, 80) == "tokens 42  21.0 it/s");
}

TEST_CASE("ProgressReporter stamps elapsed time and reports rate, ETA and cancel", "[progress]") {
  double now = 100.0;
  std::vector<ProgressEvent> events;
  bool keep_going = true;
  ProgressReporter reporter(
      [&](const ProgressEvent& e) {
        events.push_back(e);
        return keep_going;
      },
      "steps", 10, [&] { return now; });
  now = 102.0;
  CHECK(reporter.advance());
  CHECK(reporter.advance(3));
  REQUIRE(events.size() == 2);
  CHECK(events[1].stage == "steps");
  CHECK(events[1].step == 4);
  CHECK(events[1].total == 10);
  CHECK(events[1].elapsed_seconds == Approx(2.0));
  CHECK(reporter.rate() == Approx(2.0));
  CHECK(reporter.eta_seconds() == Approx(3.0));
  CHECK_NOTHROW(reporter.throw_if_cancelled());

  keep_going = false;
  now = 103.0;
  CHECK_FALSE(reporter.update(6));
  CHECK(reporter.cancelled());
  CHECK_FALSE(reporter.advance());  // stays cancelled; the callback is not called again
  CHECK(events.size() == 3);
  CHECK_THROWS_WITH(reporter.throw_if_cancelled(), "steps: cancelled");

  ProgressReporter silent({}, "quiet", 3);  // no callback: always continues
  CHECK(silent.advance());
  CHECK(silent.step() == 1);
}

TEST_CASE("terminal progress bar is harmless without a terminal", "[progress]") {
  // The test runner's stderr is normally a file or pipe: the callback must just continue.
  ProgressCallback bar = terminal_progress_bar();
  REQUIRE(bar);
  CHECK(bar({"stage", 1, 2, 0.5}));
  CHECK(bar({"stage", 2, 2, 1.0}));
  CHECK(terminal_width() > 0);
}

}  // namespace mmgen
