// SqliteStore: the StoreBackend on an embedded SQLite database
// (<dir>/parley.db, WAL mode).
//
// Connections: one writer connection, used by CommitBatches only (i.e. by the
// CommitQueue's writer thread), and one read-only connection per reading
// thread, opened lazily and kept until the store is destroyed. WAL lets the
// readers run concurrently with the writer; each sees the last committed
// state. Prepared statements are cached per connection.
//
// Messages live in a WITHOUT ROWID table keyed by (channel_id, id), so a
// history page is a single index range scan.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "store/store.h"

namespace parley {

namespace store_internal {
struct SqliteConn;  // a sqlite3* and its prepared-statement cache
}  // namespace store_internal

class SqliteStore : public StoreBackend {
 public:
  // Opens (creating if missing) the directory `dir` and the database
  // dir + "/parley.db", and migrates its schema to the current version.
  // On success stores the new store in *out.
  struct Options {
    // true: fsync the WAL at every commit (an acknowledged write survives
    // power loss). false: synchronous=NORMAL (survives kill -9 of the
    // process, may lose the last commits on power loss or an OS crash).
    bool sync_every_commit = true;
  };
  static Status Open(const std::string& dir, std::unique_ptr<SqliteStore>* out);
  static Status Open(const std::string& dir, const Options& options,
                     std::unique_ptr<SqliteStore>* out);

  // REQUIRES: no call into this store is in progress (stop the CommitQueue
  // and the readers first).
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Reads every table but messages, in one read transaction. Thread-safe.
  Status LoadAll(Snapshot* out) override;

  // Applies every mutation of every batch in one BEGIN IMMEDIATE ... COMMIT
  // transaction; on any error rolls back and returns it. PutUser whose
  // username (case-insensitively) belongs to another user, and InsertMessage
  // of an existing (channel_id, id), return Status::Conflict. Updates and
  // deletes of absent rows are no-ops.
  // REQUIRES: called from one thread at a time (the writer thread).
  Status CommitBatches(std::span<const WriteBatch* const> batches) override;

  // Thread-safe. Status::NotFound if the message is not in that channel.
  Status GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) override;
  // Thread-safe. Fills *out newest first (see HistoryQuery):
  //   kLatest: the newest `limit` messages.
  //   kBefore: the newest `limit` messages with id < anchor.
  //   kAfter:  the oldest `limit` messages with id > anchor.
  //   kAround: the newest ceil(limit/2) with id <= anchor and the oldest
  //            floor(limit/2) with id > anchor.
  // Status::InvalidArgument unless 1 <= limit <= 100.
  Status ListMessages(const HistoryQuery& q, std::vector<Message>* out) override;

  // The schema version this binary writes (PRAGMA user_version).
  static int SchemaVersion();

 private:
  using Conn = store_internal::SqliteConn;

  SqliteStore(std::string path, std::unique_ptr<Conn> writer);

  // Sets *conn to the calling thread's read connection, opening it if needed.
  Status ReadConn(Conn** conn);
  Status ApplyBatches(std::span<const WriteBatch* const> batches);

  const std::string path_;
  const uint64_t uid_;  // unique per store instance: keys the thread-local cache
  std::unique_ptr<Conn> writer_;

  std::mutex readers_mu_;
  std::unordered_map<std::thread::id, std::unique_ptr<Conn>> readers_;  // guarded by readers_mu_
};

}  // namespace parley
