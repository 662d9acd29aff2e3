// `parley migrate`: copies everything from one store to another (SQLite to
// PostgreSQL or back), then verifies that both hold the same records, table
// by table (count and SHA-256). Run it with the servers stopped.
//
// Records other than messages are copied as upserts, so copying them again
// changes nothing. Messages are copied in key order, (channel_id, id), each
// chunk in one transaction: the target's newest message of its highest
// channel is therefore where an interrupted copy stopped, and --resume goes
// on from there.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/store_setup.h"
#include "store/record_digest.h"

namespace parley::cli {

namespace {

struct MigrateConfig {
  std::string from;
  std::string to;
  int batch = 10000;
  bool resume = false;
  bool verify = true;
};

// A progress bar on stderr: redrawn in place on a terminal, a line per 10%
// otherwise (logs).
class Progress {
 public:
  Progress(uint64_t total, uint64_t done) : total_(total), start_done_(done), tty_(isatty(2)) {}
  void Update(uint64_t done, bool final = false) {
    auto now = std::chrono::steady_clock::now();
    int pct = total_ ? static_cast<int>(done * 100 / total_) : 100;
    if (!final) {
      if (tty_ && now - last_ < std::chrono::milliseconds(200)) return;
      if (!tty_ && pct / 10 == last_pct_ / 10) return;
    }
    last_ = now;
    last_pct_ = pct;
    double secs = std::chrono::duration<double>(now - t0_).count();
    double rate = secs > 0 ? static_cast<double>(done - start_done_) / secs : 0;
    constexpr int kWidth = 30;
    int filled = pct * kWidth / 100;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "%s[%s] %3d%%  %llu / %llu messages  %.0f/s%s", tty_ ? "\r" : "",
                 bar.c_str(), pct, static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total_), rate, tty_ && !final ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  const uint64_t total_;
  const uint64_t start_done_;
  const bool tty_;
  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
  int last_pct_ = -1;
};

Status CommitOne(StoreBackend& store, const WriteBatch& batch) {
  if (batch.empty()) return Status::OK();
  const WriteBatch* one[] = {&batch};
  return store.CommitBatches(one, nullptr);
}

// Upserts every record of `snap` but messages into `to`, `chunk` at a time.
Status CopyRecords(const Snapshot& snap, StoreBackend& to, size_t chunk) {
  WriteBatch batch;
  Status s;
  auto add = [&](Mutation m) {
    batch.push_back(std::move(m));
    if (batch.size() >= chunk) {
      s = CommitOne(to, batch);
      batch.clear();
    }
    return s.ok();
  };
  for (const User& x : snap.users)
    if (!add(mut::PutUser{x})) return s;
  for (const Application& x : snap.applications)
    if (!add(mut::PutApplication{x})) return s;
  for (const Session& x : snap.sessions)
    if (!add(mut::PutSession{x})) return s;
  for (const Guild& x : snap.guilds)
    if (!add(mut::PutGuild{x})) return s;
  for (const Channel& x : snap.channels)
    if (!add(mut::PutChannel{x})) return s;
  for (const Role& x : snap.roles)
    if (!add(mut::PutRole{x})) return s;
  for (const Member& x : snap.members)
    if (!add(mut::PutMember{x})) return s;
  for (const Invite& x : snap.invites)
    if (!add(mut::PutInvite{x})) return s;
  for (const ApplicationCommand& x : snap.commands)
    if (!add(mut::PutCommand{x})) return s;
  return CommitOne(to, batch);
}

// One digest per table, in the order of kTables.
constexpr const char* kTables[] = {
    "users",   "applications",         "sessions", "guilds", "channels", "roles", "members",
    "invites", "application_commands", "messages"};
constexpr size_t kNumTables = std::size(kTables);

Status Digest(StoreBackend& store, int batch, std::vector<RecordDigest>* out) {
  out->assign(kNumTables, RecordDigest());
  Snapshot snap;
  Status s = store.LoadAll(&snap);
  if (!s.ok()) return s;
  auto& d = *out;
  for (const auto& x : snap.users) d[0].Add(x);
  for (const auto& x : snap.applications) d[1].Add(x);
  for (const auto& x : snap.sessions) d[2].Add(x);
  for (const auto& x : snap.guilds) d[3].Add(x);
  for (const auto& x : snap.channels) d[4].Add(x);
  for (const auto& x : snap.roles) d[5].Add(x);
  for (const auto& x : snap.members) d[6].Add(x);
  for (const auto& x : snap.invites) d[7].Add(x);
  for (const auto& x : snap.commands) d[8].Add(x);
  MessageKey after;
  std::vector<Message> page;
  for (;;) {
    s = store.ScanMessages(after, batch, &page);
    if (!s.ok() || page.empty()) return s;
    for (const Message& m : page) d[9].Add(m);
    after = {page.back().channel_id, page.back().id};
  }
}

int RunMigrate(const MigrateConfig& cfg) {
  std::unique_ptr<StoreBackend> from, to;
  if (Status s = OpenStore(cfg.from, {}, &from); !s.ok()) {
    spdlog::error("cannot open --from store: {}", s.ToString());
    return s.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  if (Status s = OpenStore(cfg.to, {}, &to); !s.ok()) {
    spdlog::error("cannot open --to store: {}", s.ToString());
    return s.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  if (from->Describe() == to->Describe()) {
    spdlog::error("--from and --to are the same store ({})", from->Describe());
    return 2;
  }
  Snapshot src, dst;
  if (Status s = from->LoadAll(&src); !s.ok()) {
    spdlog::error("cannot read {}: {}", from->Describe(), s.ToString());
    return 1;
  }
  if (Status s = to->LoadAll(&dst); !s.ok()) {
    spdlog::error("cannot read {}: {}", to->Describe(), s.ToString());
    return 1;
  }
  const bool target_empty = dst.users.empty() && dst.guilds.empty() && dst.last_message_ids.empty();
  if (!target_empty && !cfg.resume) {
    spdlog::error(
        "{} is not empty: pass --resume to go on with an interrupted migration into it, or use "
        "an empty store",
        to->Describe());
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "copying %s -> %s\n", from->Describe().c_str(), to->Describe().c_str());
  if (Status s = CopyRecords(src, *to, static_cast<size_t>(cfg.batch)); !s.ok()) {
    spdlog::error("copying records failed: {}", s.ToString());
    return 1;
  }
  std::fprintf(stderr,
               "records: %zu users, %zu applications, %zu sessions, %zu guilds, %zu channels, "
               "%zu roles, %zu members, %zu invites, %zu commands\n",
               src.users.size(), src.applications.size(), src.sessions.size(), src.guilds.size(),
               src.channels.size(), src.roles.size(), src.members.size(), src.invites.size(),
               src.commands.size());

  // Where an interrupted copy stopped: the newest message of the highest
  // channel the target holds (chunks commit in key order).
  MessageKey after;
  for (const auto& [channel, last] : dst.last_message_ids)
    if (channel > after.channel_id) after = {channel, last};
  uint64_t total = 0, done = 0;
  if (Status s = from->CountMessages(&total); !s.ok()) {
    spdlog::error("cannot count messages: {}", s.ToString());
    return 1;
  }
  if (Status s = to->CountMessages(&done); !s.ok()) {
    spdlog::error("cannot count messages: {}", s.ToString());
    return 1;
  }
  if (done > 0) std::fprintf(stderr, "resuming after %llu messages\n", (unsigned long long)done);
  Progress progress(total, done);
  std::vector<Message> page;
  for (;;) {
    if (Status s = from->ScanMessages(after, cfg.batch, &page); !s.ok()) {
      spdlog::error("reading messages failed: {}", s.ToString());
      return 1;
    }
    if (page.empty()) break;
    WriteBatch batch;
    batch.reserve(page.size());
    for (Message& m : page) batch.push_back(mut::InsertMessage{std::move(m)});
    const Message& last = std::get<mut::InsertMessage>(batch.back()).message;
    after = {last.channel_id, last.id};
    if (Status s = CommitOne(*to, batch); !s.ok()) {
      spdlog::error("writing messages failed after {}: {} (run again with --resume)", done,
                    s.ToString());
      return 1;
    }
    done += batch.size();
    progress.Update(done);
  }
  progress.Update(done, true);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "copied in %.1f s\n", secs);
  if (!cfg.verify) return 0;

  std::vector<RecordDigest> a, b;
  if (Status s = Digest(*from, cfg.batch, &a); !s.ok()) {
    spdlog::error("verify: reading {} failed: {}", from->Describe(), s.ToString());
    return 1;
  }
  if (Status s = Digest(*to, cfg.batch, &b); !s.ok()) {
    spdlog::error("verify: reading {} failed: {}", to->Describe(), s.ToString());
    return 1;
  }
  bool same = true;
  std::printf("%-20s %12s %12s  %s\n", "table", "source", "target", "sha-256 (source)");
  for (size_t i = 0; i < kNumTables; ++i) {
    bool eq = a[i].count() == b[i].count() && a[i].Hex() == b[i].Hex();
    same = same && eq;
    std::printf("%-20s %12llu %12llu  %s %s\n", kTables[i],
                static_cast<unsigned long long>(a[i].count()),
                static_cast<unsigned long long>(b[i].count()), a[i].Hex().substr(0, 16).c_str(),
                eq ? "ok" : "DIFFERENT");
  }
  std::printf("%s\n", same ? "verified: both stores hold the same records"
                           : "MISMATCH: the stores differ (see above)");
  return same ? 0 : 1;
}

}  // namespace

void AddMigrateCommand(CLI::App& app, int* exit_code) {
  auto cfg = std::make_shared<MigrateConfig>();
  CLI::App* cmd = app.add_subcommand(
      "migrate",
      "Copy every record from one store to another and verify the copy (servers stopped)");
  cmd->add_option("--from", cfg->from, "Source store URL (sqlite:PATH or postgres://...)")
      ->required();
  cmd->add_option("--to", cfg->to, "Target store URL; must be empty unless --resume")->required();
  cmd->add_option("--batch", cfg->batch, "Records per transaction")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_flag("--resume", cfg->resume,
                "Go on with an interrupted migration into a non-empty target");
  cmd->add_flag("!--no-verify", cfg->verify, "Skip comparing the two stores afterwards");
  cmd->callback([cfg, exit_code] { *exit_code = RunMigrate(*cfg); });
}

}  // namespace parley::cli
