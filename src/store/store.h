// Store: durable state behind one small interface, so that the API never
// knows which engine holds its data (SQLite embedded now, PostgreSQL later).
//
// Writes: every WriteBatch goes through one writer (CommitQueue) that commits
// many batches per transaction (group commit). A batch's callback runs only
// after its transaction is durable.
// Reads: guild/channel/role/member/user/invite records are loaded once at
// start-up (LoadAll) into the in-memory State; afterwards only messages are
// read from the store, by (channel_id, message_id) range scans.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/types.h"
#include "util/status.h"

namespace parley {

// Everything but messages, as loaded at start-up.
struct Snapshot {
  std::vector<User> users;
  std::vector<Application> applications;
  std::vector<Session> sessions;
  std::vector<Guild> guilds;
  std::vector<Channel> channels;
  std::vector<Role> roles;
  std::vector<Member> members;
  std::vector<Invite> invites;
  // channel id -> newest message id, for channels that have messages.
  std::vector<std::pair<Snowflake, Snowflake>> last_message_ids;
};

// A history query: newest first, at most `limit` messages.
struct HistoryQuery {
  enum class Mode { kLatest, kBefore, kAfter, kAround };
  Snowflake channel_id = 0;
  Mode mode = Mode::kLatest;
  Snowflake anchor = 0;  // the before/after/around id
  int limit = 50;        // 1..100
};

// The engine side of a store. Implementations: SqliteStore (src/store/sqlite_store.h).
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;

  virtual Status LoadAll(Snapshot* out) = 0;

  // Applies every batch in one transaction; on any failure nothing of it
  // stays. Called from the writer thread only.
  virtual Status CommitBatches(std::span<const WriteBatch* const> batches) = 0;

  // Reads; thread-safe (each thread reads through its own connection).
  virtual Status GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) = 0;
  // Fills `out` newest first.
  virtual Status ListMessages(const HistoryQuery& q, std::vector<Message>* out) = 0;
};

// Group commit over a StoreBackend: one writer thread takes every batch that
// is waiting when it becomes free (up to max_batches) and commits them in one
// transaction. A lone write is committed at once; a burst costs few commits.
class CommitQueue {
 public:
  // Gets the commit's status and the batch itself (so that the caller can
  // apply exactly what was committed without keeping a copy).
  using Callback = std::function<void(Status, const WriteBatch&)>;
  struct Options {
    size_t max_batches_per_commit = 1024;
    // Called on the writer thread after each successful transaction with
    // the number of batches it held and how long it took (metrics).
    std::function<void(size_t batches, double seconds)> on_commit;
  };
  struct Stats {
    uint64_t commits = 0;
    uint64_t batches = 0;
    uint64_t failed_batches = 0;
  };

  CommitQueue(StoreBackend* backend, Options options);
  ~CommitQueue();  // Stops after committing everything already submitted.
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // Queues a batch. `done` runs on the writer thread after the commit (OK:
  // durable) or its failure; it must be quick (post work elsewhere). A batch
  // whose transaction failed is retried alone, so one bad batch does not
  // fail its neighbours. After Stop, `done` runs at once with an error.
  void Submit(WriteBatch batch, Callback done);
  // Like Submit, and `prepare` runs on the writer thread just before the
  // batch's group commits, in submission order: what it assigns there (e.g.
  // message ids) follows commit order.
  using Prepare = std::function<void(WriteBatch*)>;
  void Submit(WriteBatch batch, Callback done, Prepare prepare);

  // Read-modify-write without races: `build` runs on the writer thread when
  // everything submitted before it is committed and its callbacks have run
  // (so a State applied in those callbacks is current), fills the batch (or
  // returns an error: then nothing is committed), and the batch is committed
  // alone. An empty batch commits nothing and reports OK. `done` gets the
  // build's or the commit's status.
  using Builder = std::function<Status(WriteBatch*)>;
  void SubmitBuilder(Builder build, Callback done);

  // Finishes everything submitted so far, then ends the writer thread.
  void Stop();

  Stats stats() const;
  size_t queue_depth() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley
