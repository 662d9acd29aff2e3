// Subcommands of the parley binary.
#pragma once

#include <CLI/CLI.hpp>

namespace parley::cli {

// Adds `parley serve` to `app`; its callback runs the server.
void AddServeCommand(CLI::App& app, int* exit_code);
// Adds `parley fill` (bulk-append messages for benchmarks).
void AddFillCommand(CLI::App& app, int* exit_code);
// Adds `parley status` (prints a running server's /admin/status).
void AddStatusCommand(CLI::App& app, int* exit_code);
// Adds `parley migrate` (copy one store into another, verified).
void AddMigrateCommand(CLI::App& app, int* exit_code);

}  // namespace parley::cli
