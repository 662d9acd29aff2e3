// PostgresStore: the StoreBackend on a PostgreSQL 15 server, through libpq.
// It keeps the contract on StoreBackend (store/store.h); what follows is how,
// and what it adds to it.
//
// Connections. One writer connection, used by CommitBatches only (i.e. by
// the CommitQueue's writer thread), and one read connection per reading
// thread, opened lazily and kept until the store is destroyed. Every
// connection gets application_name=parley, connect_timeout=5 s, TCP
// keepalives (10 s idle, then 3 probes 5 s apart), tcp_user_timeout=60 s and
// target_session_attrs=read-write (with several hosts in the URL, all of
// them land on the primary, so reads see every acknowledged commit); the
// URL may override any of these. client_encoding is always UTF8 and the
// database must be UTF8, so strings reach the server byte for byte. A
// string holding a NUL byte cannot be stored in a PostgreSQL text column:
// its commit fails (Status::IOError) instead of being altered.
//
// Schema. Versioned migrations compiled into the binary, applied by Open in
// transactions holding a transaction-scoped advisory lock, so that of two
// processes opening one database at once exactly one migrates and the other
// waits and then sees the current version. parley_schema holds the version
// and the choices made when the schema was created. Tables mirror
// SqliteStore's, with the same encodings (store/record_encoding.h).
// messages is keyed PRIMARY KEY (channel_id, id) and hash-partitioned by
// channel_id into Options::message_partitions tables messages_p0... (fixed
// when the schema is created), so that a history page is one backward or
// forward range scan of one partition's primary key.
//
// Writes. CommitBatches sends BEGIN, one prepared statement per row change,
// the bump of the commit head (parley_commit_head, one row: the position),
// and COMMIT as one libpq pipeline: one round trip per commit whatever its
// size. The commit head's row lock serializes writers of all processes on a
// database, so positions follow commit order. synchronous_commit is set on
// the writer connection when it connects (on, unless
// Options::sync_every_commit is false).
//
// Reads. Every read is one pipeline too, with its statement_timeout set
// transaction-locally (30 s; LoadAll and CountMessages, which read whole
// tables, 10 min): LoadAll is one REPEATABLE READ READ ONLY transaction,
// every other read a single statement.
//
// Faults. A connection that breaks (or that the server ends: SQLSTATE
// class 08, 57P01..57P03, any FATAL) makes its call return
// Status::Unavailable and is re-established on a later call. A connection
// found dead before anything was sent on it (the server restarted, or
// pg_terminate_backend, while it was idle) is replaced at once, and a call
// whose attempt is known to have done nothing is retried once on the new
// connection, so that a server restart costs no failed call when the
// server is back. When a connection cannot be established, further
// attempts back off: 50 ms, doubling up to 2 s; until then calls on that
// connection fail at once with Status::Unavailable, nothing waits.
//
// One exception to "Unavailable: nothing happened": when the writer's
// connection is lost after COMMIT was sent and before its result arrived,
// the transaction may or may not have committed. CommitBatches then returns
// Status::Unavailable whose message says "outcome unknown" (a caller answers
// 503; the write may be visible later, with its position used up).
//
// Through pgbouncer (1.18 in Debian 12), in any pool mode, transaction mode
// included: no statement is prepared by name, every setting is
// transaction-local (SET LOCAL, set_config(..., true)), and the migration
// lock is a transaction-level advisory lock. Tested through a real pgbouncer
// in transaction mode (tests/integration/pgbouncer.test.mjs). A pooler that
// can route a transaction to a replica must not sit in front of the writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/commit_log.h"
#include "store/per_thread.h"
#include "store/store.h"
#include "util/mutex.h"

namespace parley {

namespace store_internal {
struct PgConn;  // a PGconn* with its reconnect state
// What a commit of CommitMinted does with its ids (Finish).
struct IdsToCommit {
  Snowflake claim_lo = 0;  // > 0: claim [claim_lo, max_id] first
  Snowflake max_id = 0;    // > 0 without a claim: raise the head's max_id to it
};
}  // namespace store_internal

class PostgresStore : public StoreBackend, public CommitLog {
 public:
  struct Options {
    // Hash partitions of messages (1..1024), used only when the schema is
    // created; an existing database keeps the count it was created with.
    int message_partitions = 16;
    // true: synchronous_commit=on, a commit is acknowledged once its WAL is
    // flushed on the server (it survives a crash of the server or its
    // machine). false: synchronous_commit=off, the server acknowledges
    // before the flush; a crash of the server or its machine may lose the
    // commits of the last ~0.6 s (3 x wal_writer_delay) but never leaves the
    // database inconsistent; a crash of this process loses nothing.
    bool sync_every_commit = true;
    // Streaming replicas (conninfo strings or URLs) for history reads that
    // need not see the newest commits: ListMessages with a min_position
    // below kAllCommits goes to a replica (round robin) when that replica
    // has replayed the WAL up to the commit at min_position, else to the
    // primary. A replica that is down or behind costs no failed read.
    std::vector<std::string> replicas;
    // Cluster mode (docs/cluster.md): every commit also appends its batches
    // to the log of commits (parley_log) under its position, in the same
    // transaction, so that other nodes can follow it (ReadLog). `node_id`
    // names this process in the log.
    bool commit_log = false;
    int node_id = 0;
  };

  using LogEntry = parley::LogEntry;

  // `conninfo`: a libpq connection string or URL
  // (postgres://user@host:port/db?...). Connects the writer, creates or
  // migrates the schema, and on success stores the new store in *out.
  // Status::InvalidArgument if `conninfo` cannot be parsed, the options are
  // out of range, or the database is not UTF8; Status::Unavailable (with
  // libpq's message) if the server cannot be reached or refuses the
  // connection; Status::Corruption if the schema is newer than this binary.
  static Status Open(const std::string& conninfo, const Options& options,
                     std::unique_ptr<PostgresStore>* out);

  // REQUIRES: no call into this store is in progress (stop the CommitQueue
  // and the readers first).
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // One REPEATABLE READ READ ONLY transaction, commit head included.
  Status LoadAll(Snapshot* out) override;
  // One transaction, one round trip (see the header comment); a failed
  // statement rolls everything back and leaves the connection usable.
  // May return Unavailable with an unknown outcome (see above).
  Status CommitBatches(std::span<const WriteBatch* const> batches,
                       CommitPosition* position) override;
  // Two exchanges: BEGIN and the commit head's row lock (SELECT ... FOR
  // UPDATE), then, after build, the rows and COMMIT as in CommitBatches. The
  // lock is the one every commit takes last, so plain commits of other
  // processes wait for build; a commit whose rows this one also changes
  // may deadlock with it, and PostgreSQL then fails one of the two.
  Status CommitBuilt(const BuildFn& build, CommitPosition* position) override;
  // Opened with commit_log (a cluster's nodes): mints above the greatest id
  // this store knows was minted, then commits in one exchange whose first
  // statement claims the range (parley_claim_ids: under the commit order
  // lock, every id minted so far is below it; then the head's max_id is
  // raised to its top). If another process minted above meanwhile, the
  // claim is refused and the slow path runs: as CommitBuilt, the lock
  // first, mint again above the head's max_id, the rows, max_id raised,
  // COMMIT. Measured in bench/RESULTS.md "Ids in commit order". Otherwise
  // the default.
  Status CommitMinted(std::span<const WriteBatch* const> batches, const MintFn& mint,
                      CommitPosition* position) override;
  // Through the calling thread's read connection.
  Status GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) override;
  Status ListMessages(const HistoryQuery& q, std::vector<Message>* out) override;
  Status ScanMessages(const MessageKey& after, int limit, std::vector<Message>* out) override;
  Status CountMessages(uint64_t* n) override;
  // "postgres host=... port=... dbname=... user=..." (never the password).
  std::string Describe() const override;
  StoreStats stats() const override;

  // Stores in *plan the server's plan (EXPLAIN) for ListMessages(q), made
  // exactly as ListMessages makes it: for operators and tests to check that
  // a page is one index scan of one partition. Thread-safe.
  Status ExplainListMessages(const HistoryQuery& q, std::string* plan);

  // CommitLog (store/commit_log.h), through the calling thread's read
  // connection. Only commits of stores opened with commit_log are in the
  // log (the commit head row orders them all).
  Status ReadLog(CommitPosition after, int limit, std::vector<LogEntry>* out) override;
  Status TrimLog(CommitPosition before, uint64_t* deleted) override;
  std::string TakeLastEntry(int64_t* committed_ms) override;
  // This store, if opened with commit_log; else null.
  CommitLog* commit_log() override { return options_.commit_log ? this : nullptr; }

  // The schema version this binary writes (parley_schema.version).
  static int SchemaVersion();

 private:
  using Conn = store_internal::PgConn;

  PostgresStore(std::string conninfo, const Options& options);

  // Sets *conn to the calling thread's read connection, creating it (not yet
  // connected) if needed.
  Conn* ReadConn();
  // Fills *out with the rows of the history query `q` (ListMessages' work
  // after the checks) read on `conn`, or with its plan when `explain`. With
  // need_lsn > 0 (a replica), first reads the replica's replay position and,
  // if it is below need_lsn, sets *behind (and *replay_lsn) and reads
  // nothing.
  Status RunHistory(Conn& conn, const HistoryQuery& q, bool explain, std::vector<Message>* out,
                    std::string* plan, uint64_t need_lsn = 0, bool* behind = nullptr,
                    uint64_t* replay_lsn = nullptr);
  // On the writer: TryCommit (the rest of a transaction begun by an earlier
  // exchange, if `begun`), then the position and its WAL end noted.
  // With ids (CommitMinted), also claims them or raises the head's max_id
  // (TryCommit); *refused (if not null): the claim was refused.
  Status Finish(std::span<const WriteBatch* const> batches, bool begun,
                store_internal::IdsToCommit ids, CommitPosition* position, bool* retry,
                bool* refused = nullptr);
  // On the writer: BEGIN and the commit head's row lock; *head and *max_id
  // from its row. Tried once more when a connection that had been idle
  // broke at once; on failure nothing is left open.
  Status BeginLocked(CommitPosition* head, Snowflake* max_id);
  // One try of BeginLocked: *retry says whether another is worth it.
  Status TryBeginLocked(CommitPosition* head, Snowflake* max_id, bool* retry);
  // The calling thread's connection to its next replica (round robin).
  Conn* NextReplicaConn();
  // The WAL position a replica must have replayed to hold every commit up
  // to `position`; false if this process does not know (then: the primary).
  bool LsnFor(CommitPosition position, uint64_t* lsn) const;
  // After a commit at `position` whose WAL ends by `lsn`.
  void NoteCommitLsn(CommitPosition position, uint64_t lsn);

  const std::string conninfo_;
  const Options options_;
  std::string describe_;
  std::unique_ptr<Conn> writer_;
  // The log entry of the writer's last successful commit (TakeLastEntry).
  std::string last_entry_;
  int64_t last_entry_ms_ = 0;
  // The greatest id this store knows a commit minted (CommitMinted's
  // guess); the writer thread's only.
  Snowflake known_max_id_ = 0;
  // Commits left that lock first without claiming (a claim was refused
  // lately); the writer thread's only.
  int lock_first_left_ = 0;

  PerThread<Conn> readers_;  // read connections to the primary

  // Replicas: conninfos (with target_session_attrs=any), each reading
  // thread's connections to them, and the WAL positions of recent commits.
  std::vector<std::string> replica_conninfo_;
  struct ReplicaSet {
    std::vector<std::unique_ptr<Conn>> conns;
    size_t next = 0;
  };
  PerThread<ReplicaSet> replica_readers_;
  mutable Mutex lsn_mu_;
  // (position, WAL end) of this process's last commits, oldest first.
  std::deque<std::pair<CommitPosition, uint64_t>> commit_lsns_ GUARDED_BY(lsn_mu_);
  // At Open: the commit head and the WAL end (every commit up to
  // base_position_ ends before base_lsn_).
  CommitPosition base_position_ = 0;
  uint64_t base_lsn_ = 0;
  std::atomic<uint64_t> replica_reads_{0};
  std::atomic<uint64_t> ids_claimed_{0};
  std::atomic<uint64_t> ids_reminted_{0};
  std::atomic<uint64_t> ids_locked_{0};
  std::atomic<uint64_t> fallbacks_lag_{0};
  std::atomic<uint64_t> fallbacks_down_{0};
  std::atomic<int64_t> replica_lag_bytes_{0};
};

}  // namespace parley
