// parley: the chat server binary. `parley serve --help` lists every option.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Parley: a real-time chat server speaking Discord's API v10"};
  app.require_subcommand(1);
  // A TOML/INI file: keys are option names, under a [serve] section (or
  // "serve.listen = ..."); flags and PARLEY_* variables override it.
  app.set_config("--config", "", "Read options from a TOML/INI file ([serve] section)");
  int exit_code = 0;
  parley::cli::AddServeCommand(app, &exit_code);
  parley::cli::AddFillCommand(app, &exit_code);
  parley::cli::AddStatusCommand(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
