// `parley fill`: the documented bulk path for benchmarks. Appends N messages
// to an existing channel straight through the store's CommitBatches (the same
// code that commits API writes), many thousands per transaction. Run it while
// the server is stopped.
#include <spdlog/spdlog.h>

#include <chrono>

#include "cli/commands.h"
#include "cli/store_setup.h"
#include "state/state.h"
#include "util/time_format.h"

namespace parley::cli {

namespace {

struct FillConfig {
  std::string data = "./data";
  std::string store;  // "" = sqlite:<data>/parley.db
  std::string channel;
  std::string author;
  int64_t count = 1000000;
  int64_t members = 0;  // users who join the channel's guild (start-up benchmarks)
  int batch = 20000;
  int per_ms = 16;
};

int RunFill(const FillConfig& cfg) {
  auto channel_id = ParseSnowflake(cfg.channel);
  auto author_id = ParseSnowflake(cfg.author);
  if (!channel_id || !author_id) {
    spdlog::error("--channel and --author take snowflakes");
    return 2;
  }
  std::unique_ptr<StoreBackend> store;
  State state;
  CommitPosition position = 0;
  if (int rc = OpenAndLoad(StoreUrl(cfg.store, cfg.data), {}, &store, &state, &position)) return rc;
  auto guild_id = state.GuildOfChannel(*channel_id);
  if (!guild_id) {
    spdlog::error("no channel {} in {}", cfg.channel, store->Describe());
    return 1;
  }
  // Ids in the past (per_ms messages per millisecond, ending now) from node
  // 1023, which a server never uses by default, so they cannot collide with
  // ids the server mints.
  SnowflakeGenerator ids(31, 31);
  if (cfg.members > 0) {
    // Users (no password: they cannot log in) who are members of the
    // channel's guild, for start-up and member-list figures.
    auto t0 = std::chrono::steady_clock::now();
    int64_t made = 0;
    const int64_t now = NowMs();
    while (made < cfg.members) {
      WriteBatch batch;
      int64_t n = std::min<int64_t>(cfg.batch / 2, cfg.members - made);
      for (int64_t i = 0; i < n; ++i, ++made) {
        User u;
        u.id = ids.NextAt(now - 1000000 + made / 64);
        u.username = "fill_" + std::to_string(u.id);
        batch.push_back(mut::PutUser{u});
        Member m;
        m.guild_id = *guild_id;
        m.user_id = u.id;
        m.joined_at_ms = now;
        batch.push_back(mut::PutMember{std::move(m)});
      }
      const WriteBatch* one[] = {&batch};
      if (Status s = store->CommitBatches(one, nullptr); !s.ok()) {
        spdlog::error("commit failed after {} members: {}", made, s.ToString());
        return 1;
      }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("added %lld members to guild %llu in %.1f s\n", static_cast<long long>(made),
                static_cast<unsigned long long>(*guild_id), secs);
  }
  int64_t start_ms = NowMs() - cfg.count / cfg.per_ms - 1;
  if (cfg.count == 0) return 0;
  auto t0 = std::chrono::steady_clock::now();
  int64_t done = 0;
  while (done < cfg.count) {
    WriteBatch batch;
    int64_t n = std::min<int64_t>(cfg.batch, cfg.count - done);
    batch.reserve(n);
    for (int64_t i = 0; i < n; ++i, ++done) {
      Message m;
      m.id = ids.NextAt(start_ms + done / cfg.per_ms);
      m.channel_id = *channel_id;
      m.guild_id = *guild_id;
      m.author_id = *author_id;
      m.content =
          "bulk message " + std::to_string(done) + ": the quick brown fox jumps over the lazy dog";
      batch.push_back(mut::InsertMessage{std::move(m)});
    }
    const WriteBatch* one[] = {&batch};
    if (Status s = store->CommitBatches(one, nullptr); !s.ok()) {
      spdlog::error("commit failed after {} messages: {}", done, s.ToString());
      return 1;
    }
    if (done % 1000000 < cfg.batch) spdlog::info("{} / {} messages", done, cfg.count);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("filled %lld messages into channel %s in %.1f s (%.0f/s)\n",
              static_cast<long long>(done), cfg.channel.c_str(), secs, done / secs);
  return 0;
}

}  // namespace

void AddFillCommand(CLI::App& app, int* exit_code) {
  auto cfg = std::make_shared<FillConfig>();
  CLI::App* fill = app.add_subcommand(
      "fill", "Bulk-append messages to a channel (benchmarks; run with the server stopped)");
  fill->add_option("--data", cfg->data, "Data directory")->capture_default_str();
  fill->add_option("--store", cfg->store, "Store URL (as for serve; default: the one in --data)")
      ->envname("PARLEY_STORE");
  fill->add_option("--channel", cfg->channel, "Channel id")->required();
  fill->add_option("--author", cfg->author, "Author user id")->required();
  fill->add_option("--count", cfg->count, "Messages to append")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000000}))
      ->capture_default_str();
  fill->add_option("--members", cfg->members,
                   "Also add this many users as members of the channel's guild (first)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}))
      ->capture_default_str();
  fill->add_option("--batch", cfg->batch, "Messages per transaction")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  fill->add_option("--per-ms", cfg->per_ms, "Messages per millisecond of id time (1..4096)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  fill->callback([cfg, exit_code] { *exit_code = RunFill(*cfg); });
}

}  // namespace parley::cli
