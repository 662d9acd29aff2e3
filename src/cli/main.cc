// parley: the chat server binary. `parley serve --help` lists every option.
//
// Exit codes of the command line itself: `--help` (of parley or of any
// subcommand) prints the usage on stdout and exits 0; a wrong command line
// (unknown flag or subcommand, a bad or missing value) prints one line on
// stderr saying what was wrong and exits 2. Otherwise the subcommand's own code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

// "parley serve" when the error came while parsing `serve`'s arguments.
std::string CommandName(const CLI::App& app) {
  std::string name = "parley";
  for (const CLI::App* sub : app.get_subcommands()) name += " " + sub->get_name();
  return name;
}

// CLI11's message on one line (it is one already, except for a few errors).
std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

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
  parley::cli::AddMigrateCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help (also of a subcommand): the usage on stdout, exit 0
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand asked to exit with this code
  } catch (const CLI::ParseError& e) {
    const std::string name = CommandName(app);
    std::string what = OneLine(e.what());
    // CLI11 checks required options (and the subcommand) before it objects
    // to words it did not know: `parley --bogus` would say only "A
    // subcommand is required", `parley fill --bogus` "--channel is
    // required". Name the unknown word instead.
    const std::vector<std::string> unknown = app.remaining(true);
    if (!unknown.empty() && app.get_subcommands().empty()) {
      std::string subs;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
        subs += (subs.empty() ? "" : ", ") + sub->get_name();
      what = "unknown subcommand or option " + unknown.front() + " (subcommands: " + subs + ")";
    } else if (!unknown.empty()) {
      what = "unknown option " + unknown.front();
    }
    std::fprintf(stderr, "%s: %s (%s --help lists the options)\n", name.c_str(), what.c_str(),
                 name.c_str());
    return 2;
  }
  return exit_code;
}
