// `parley fill`: the documented bulk path for benchmarks. Appends N messages
// to an existing channel straight through the store's CommitBatches (the same
// code that commits API writes), many thousands per transaction. Run it while
// the server is stopped.
#include <spdlog/spdlog.h>

#include <chrono>

#include "cli/commands.h"
#include "state/state.h"
#include "store/sqlite_store.h"
#include "util/time_format.h"

namespace parley::cli {

namespace {

struct FillConfig {
  std::string data = "./data";
  std::string channel;
  std::string author;
  int64_t count = 1000000;
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
  std::unique_ptr<SqliteStore> store;
  if (Status s = SqliteStore::Open(cfg.data, &store); !s.ok()) {
    spdlog::error("cannot open store: {}", s.ToString());
    return 1;
  }
  State state;
  {
    Snapshot snap;
    if (Status s = store->LoadAll(&snap); !s.ok()) {
      spdlog::error("cannot load: {}", s.ToString());
      return 1;
    }
    state.Load(std::move(snap));
  }
  auto guild_id = state.GuildOfChannel(*channel_id);
  if (!guild_id) {
    spdlog::error("no channel {} in {}", cfg.channel, cfg.data);
    return 1;
  }
  // Ids in the past (per_ms messages per millisecond, ending now) from node
  // 1023, which a server never uses by default, so they cannot collide with
  // ids the server mints.
  SnowflakeGenerator ids(31, 31);
  int64_t start_ms = NowMs() - cfg.count / cfg.per_ms - 1;
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
    if (Status s = store->CommitBatches(one); !s.ok()) {
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
  fill->add_option("--channel", cfg->channel, "Channel id")->required();
  fill->add_option("--author", cfg->author, "Author user id")->required();
  fill->add_option("--count", cfg->count, "Messages to append")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000000}))
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
