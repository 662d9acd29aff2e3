#include "cli/store_setup.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace parley::cli {

std::string StoreUrl(const std::string& store_url, const std::string& data_dir) {
  return store_url.empty() ? DefaultStoreUrl(data_dir) : store_url;
}

int OpenAndLoad(const std::string& url, const StoreOptions& options,
                std::unique_ptr<StoreBackend>* store, State* state, CommitPosition* position) {
  auto t0 = std::chrono::steady_clock::now();
  if (Status s = OpenStore(url, options, store); !s.ok()) {
    // The URL itself is not echoed: it may hold a password.
    spdlog::error("cannot open the store: {}", s.ToString());
    return s.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  Snapshot snap;
  if (Status s = (*store)->LoadAll(&snap); !s.ok()) {
    spdlog::error("cannot load state from {}: {}", (*store)->Describe(), s.ToString());
    return 1;
  }
  *position = snap.position;
  state->Load(std::move(snap));
  spdlog::info("store {} loaded in {:.2f} s: {} users, {} guilds, commit position {}",
               (*store)->Describe(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               state->user_count(), state->guild_count(), *position);
  return 0;
}

}  // namespace parley::cli
