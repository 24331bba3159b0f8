// mmgen: the command-line front end. Each sub-command lives in its own file and
// registers itself in commands.h; errors print once and exit non-zero.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "core/error.h"
#include "examples/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"mmgen: multimodal generation (text, images, speech, talking-head video)", "mmgen"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mmgen 0.1.0");
  std::vector<mmgen::cli::Command> commands = mmgen::cli::all_commands();
  for (auto& command : commands) command.attach(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& command : commands)
      if (command.app && command.app->parsed()) return command.run();
  } catch (const mmgen::Error& e) {
    std::fprintf(stderr, "mmgen: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmgen: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
