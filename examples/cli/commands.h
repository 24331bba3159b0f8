// The sub-commands of the mmgen CLI. Each lives in its own <name>_command.cpp
// with a make_<name>_command() factory listed in all_commands().
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <vector>

namespace mmgen::cli {

struct Command {
  // Adds the sub-command and its options to the app; stores the sub-app in `app`.
  std::function<void(CLI::App& parent, Command& self)> attach_fn;
  // Runs after parsing; returns the exit code. Throws mmgen::Error on bad input.
  std::function<int()> run;
  CLI::App* app = nullptr;

  void attach(CLI::App& parent) { attach_fn(parent, *this); }
};

Command make_inspect_command();
Command make_golden_command();
Command make_generate_command();
Command make_chat_command();
Command make_txt2img_command();
Command make_img2img_command();
Command make_tts_command();
Command make_vocode_command();
Command make_faces_command();
Command make_run_command();
Command make_pipelines_command();
Command make_avatar_command();

inline std::vector<Command> all_commands() {
  return {make_inspect_command(), make_golden_command(),  make_generate_command(),
          make_chat_command(),    make_txt2img_command(), make_img2img_command(),
          make_tts_command(),     make_vocode_command(),  make_faces_command(),
          make_run_command(),     make_pipelines_command(), make_avatar_command()};
}

}  // namespace mmgen::cli
