// Opening the store named on the command line and loading State from it:
// shared by every subcommand that works on a store (serve, fill).
#pragma once

#include <memory>
#include <string>

#include "state/state.h"
#include "store/open_store.h"

namespace parley::cli {

// The store URL the options name: `store_url` if set, else the embedded
// store in `data_dir`.
std::string StoreUrl(const std::string& store_url, const std::string& data_dir);

// Opens `url` and loads its snapshot into *state (and *position). Logs a
// clear message and returns the process exit code on failure: 2 for a bad
// URL, 1 for anything else (unreachable server, wrong schema, I/O); 0 on
// success.
int OpenAndLoad(const std::string& url, const StoreOptions& options,
                std::unique_ptr<StoreBackend>* store, State* state, CommitPosition* position);

}  // namespace parley::cli
