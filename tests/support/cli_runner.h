// Runs a shell command in a test and captures what it prints: the CLI tests drive
// the mmgen program (and ffprobe) the way a user's shell does.
#pragma once

#include <string>

namespace mmgen::test {

struct CommandRun {
  int exit_code = -1;  // -1 when the command did not exit normally
  std::string output;  // what it wrote to its stdout (and stderr, if the command merges it)
};

// `text` as one single-quoted shell word.
std::string shell_quoted(const std::string& text);

// Runs `command` through /bin/sh and waits for it. Fails the test if it cannot start.
CommandRun run_command(const std::string& command);

}  // namespace mmgen::test
