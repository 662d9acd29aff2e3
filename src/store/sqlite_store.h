// SqliteStore: the StoreBackend on an embedded SQLite database (one file,
// WAL mode; `parley serve` uses <data dir>/parley.db). It keeps the contract
// on StoreBackend (store/store.h); what follows is how.
//
// Connections: one writer connection, used by CommitBatches only (i.e. by the
// CommitQueue's writer thread), and one read-only connection per reading
// thread, opened lazily and kept until the store is destroyed. WAL lets the
// readers run concurrently with the writer; each sees the last committed
// state. Prepared statements are cached per connection.
//
// Messages live in a WITHOUT ROWID table keyed by (channel_id, id), so a
// history page is a single index range scan. Commit positions come from a
// one-row table bumped inside each write transaction; SQLite has one writer
// at a time, so they follow commit order.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "store/per_thread.h"
#include "store/store.h"

namespace parley {

namespace store_internal {
struct SqliteConn;  // a sqlite3* and its prepared-statement cache
}  // namespace store_internal

class SqliteStore : public StoreBackend {
 public:
  struct Options {
    // true: fsync the WAL at every commit (an acknowledged write survives
    // power loss). false: synchronous=NORMAL (survives kill -9 of the
    // process, may lose the last commits on power loss or an OS crash).
    bool sync_every_commit = true;
  };
  // Opens (creating it and its directory if missing) the database file
  // `path` and migrates its schema to the current version. On success
  // stores the new store in *out. A file that exists but is empty (0 bytes,
  // no WAL beside it) is Status::Corruption, never a new store.
  static Status Open(const std::string& path, std::unique_ptr<SqliteStore>* out);
  static Status Open(const std::string& path, const Options& options,
                     std::unique_ptr<SqliteStore>* out);

  // REQUIRES: no call into this store is in progress (stop the CommitQueue
  // and the readers first).
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // One read transaction.
  Status LoadAll(Snapshot* out) override;
  // One BEGIN IMMEDIATE ... COMMIT transaction; rolled back on any error.
  Status CommitBatches(std::span<const WriteBatch* const> batches,
                       CommitPosition* position) override;
  // BEGIN IMMEDIATE (the write lock), build, then as CommitBatches.
  Status CommitBuilt(const BuildFn& build, CommitPosition* position) override;
  // Through the calling thread's read connection.
  Status GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) override;
  Status ListMessages(const HistoryQuery& q, std::vector<Message>* out) override;
  Status ScanMessages(const MessageKey& after, int limit, std::vector<Message>* out) override;
  Status CountMessages(uint64_t* n) override;
  std::string Describe() const override;  // "sqlite:<path>"

  // The schema version this binary writes (PRAGMA user_version).
  static int SchemaVersion();

 private:
  using Conn = store_internal::SqliteConn;

  SqliteStore(std::string path, std::unique_ptr<Conn> writer);

  // Sets *conn to the calling thread's read connection, opening it if needed.
  Status ReadConn(Conn** conn);
  Status ApplyBatches(std::span<const WriteBatch* const> batches);
  // In the writer's open transaction: applies `batches`, takes the next
  // position and commits; rolls back on any failure.
  Status FinishTransaction(std::span<const WriteBatch* const> batches, CommitPosition* position);

  const std::string path_;
  std::unique_ptr<Conn> writer_;

  PerThread<Conn> readers_;  // read connections
};

}  // namespace parley
