// The libpq wire layer under PostgresStore (store/postgres_store.h): one
// connection with its reconnect and backoff state (PgConn), statement
// parameters and result rows in libpq's formats (Params, Row), one
// round trip of pipelined statements (Pipeline), a statement outside any
// pipeline (Exec), and a read retried once on a new connection (RunRead).
// Nothing here knows Parley's schema or statements.
//
// Errors, as the Status of a call:
//   Status::Unavailable: the connection broke or the server ended the
//     session (SQLSTATE class 08, 57P01..57P03, any FATAL or PANIC), or no
//     connection could be established (or the connection is backing off);
//     also a deadlock or serialization failure (40P01, 40001: rolled back,
//     worth trying again).
//   Status::Conflict: a unique violation (SQLSTATE 23505).
//   Status::Corruption: SQLSTATE XX001 (data_corrupted).
//   Status::IOError: any other statement the server rejected.
// Messages of Unavailable and IOError start with "postgres: ".
#pragma once

#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/snowflake.h"
#include "util/status.h"

#ifndef LIBPQ_HAS_PIPELINING
#error "PostgresStore needs libpq 14 or newer (pipeline mode)"
#endif

namespace parley {
namespace store_internal {

// Ids and other uint64 values are stored as BIGINT via a static_cast to
// int64 (snowflakes keep their top bit 0; bit masks round-trip through the
// cast).
inline int64_t ToDb(uint64_t v) {
  return static_cast<int64_t>(v);
}
inline uint64_t FromDb(int64_t v) {
  return static_cast<uint64_t>(v);
}

// `msg` (which may be null: "") without the newline libpq's messages end
// with, and without trailing spaces.
std::string Trimmed(const char* msg);

// Parameters of one statement, in the form libpq sends them: numbers and
// booleans as text, strings and bytes in binary format (their raw bytes, so
// no terminating NUL and no copy: what they point to must stay valid until
// the statement is queued). At most 16 parameters: one more aborts the
// process, as does a string or byte range longer than INT_MAX.
class Params {
 public:
  Params() = default;
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;

  // Each appends one parameter and returns *this.
  Params& Int(int64_t v) {
    char* buf = digits_[n_].data();
    char* end = std::to_chars(buf, buf + kDigits - 1, v).ptr;
    *end = '\0';
    return Add(buf, 0, 0);
  }
  Params& Bool(bool v) { return Add(v ? "t" : "f", 0, 0); }
  Params& Text(std::string_view s) {
    // A null pointer would be sent as SQL NULL; "" must stay "".
    return Add(s.data() != nullptr ? s.data() : "", s.size(), 1);
  }
  Params& Bytes(const void* p, size_t n) { return Add(static_cast<const char*>(p), n, 1); }
  // A BIGINT[] of `ids` (each through ToDb).
  // REQUIRES: no earlier IdArray on this Params (else the process aborts).
  Params& IdArray(const std::vector<Snowflake>& ids);

  // For libpq's PQsend* calls.
  int size() const { return n_; }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  static constexpr int kMax = 16;
  static constexpr size_t kDigits = 24;  // "-9223372036854775808" and a NUL

  Params& Add(const char* v, size_t len, int format) {
    if (n_ == kMax || len > static_cast<size_t>(std::numeric_limits<int>::max())) std::abort();
    values_[n_] = v;
    lengths_[n_] = static_cast<int>(len);
    formats_[n_] = format;
    ++n_;
    return *this;
  }

  int n_ = 0;
  std::array<const char*, kMax> values_{};
  std::array<int, kMax> lengths_{};
  std::array<int, kMax> formats_{};
  std::array<std::array<char, kDigits>, kMax> digits_{};
  std::string array_;
};

// One row of a result in binary format (every Pipeline statement asks for
// binary results). REQUIRES: `r` outlives the Row, and 0 <= row <
// PQntuples(r).
class Row {
 public:
  Row(const PGresult* r, int row) : r_(r), row_(row) {}

  // INTEGER, BIGINT and SMALLINT columns (big-endian, sign-extended); 0 for
  // NULL.
  int64_t Int(int col) const {
    const int n = PQgetlength(r_, row_, col);
    if (n != 2 && n != 4 && n != 8) return 0;  // NULL
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row_, col));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
    const int shift = 64 - 8 * n;  // sign-extend from n bytes
    return static_cast<int64_t>(v << shift) >> shift;
  }
  // Int through FromDb.
  uint64_t U64(int col) const { return FromDb(Int(col)); }
  int Int32(int col) const { return static_cast<int>(Int(col)); }
  // A BOOLEAN column; false for NULL.
  bool Bool(int col) const {
    return PQgetlength(r_, row_, col) == 1 && PQgetvalue(r_, row_, col)[0] != 0;
  }
  // TEXT and BYTEA columns, byte for byte. Bytes points into the result.
  std::string_view Bytes(int col) const {
    return std::string_view(PQgetvalue(r_, row_, col),
                            static_cast<size_t>(PQgetlength(r_, row_, col)));
  }
  std::string Text(int col) const { return std::string(Bytes(col)); }

 private:
  const PGresult* r_;
  int row_;
};

// One exchange with the server in libpq's pipeline mode: every queued
// statement is sent without waiting, then a Sync, and Run reads the results
// back in order, so the whole exchange costs one round trip.
//
// When a statement fails, the server skips the rest up to the Sync (their
// results are PGRES_PIPELINE_ABORTED), so an explicit BEGIN ... COMMIT in the
// pipeline never commits, and Run rolls that transaction back. A pipeline
// without BEGIN is one implicit transaction, ended at the Sync. Run always
// leaves the connection outside pipeline mode and idle (unless
// KeepTransactionOpen), or lost() (then the owner must drop it). Queued statements must be executed
// with libpq's blocking calls: while its output does not fit the socket, libpq reads (and buffers)
// the results already coming back, so a long pipeline cannot deadlock with the server.
//
// A failure to send (the connection broke) makes the pipeline lost(): later
// statements are still given indexes but not sent, and Run sends nothing.
class Pipeline {
 public:
  // REQUIRES: `pg` is connected, idle, and not in pipeline mode; it
  // outlives the Pipeline and is used by nothing else until Run returns.
  explicit Pipeline(PGconn* pg);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Each queues one statement and returns its index; `keep`: hold its
  // result for result(i). Results are asked for in binary format (see Row).
  // REQUIRES: Run has not been called; what `p` points to stays valid until
  // the call returns.
  //
  // The statement prepared on this connection as `name`.
  int Prepared(const char* name, const Params& p, bool keep = false);
  // `sql` (one statement, parsed at each use: an unnamed statement).
  int Sql(const char* sql, const Params& p, bool keep = false);
  // Prepares `sql` as the named statement `name`.
  int Prepare(const char* name, const char* sql);

  // Sends the Sync and reads every result (see the class comment).
  // REQUIRES: called at most once.
  void Run();
  // Makes Run leave an explicit transaction open when every statement
  // succeeded, for a transaction that spans several exchanges (the caller
  // goes on with another Pipeline and must end it: COMMIT or ROLLBACK). A
  // failed transaction is still rolled back.
  // REQUIRES: called before Run.
  void KeepTransactionOpen() { keep_transaction_ = true; }

  // After Run:
  // Every statement succeeded and the connection is fine.
  bool ok() const { return !lost_ && failed_at_ < 0; }
  // The connection is unusable (broken, or ended by the server).
  bool lost() const { return lost_; }
  // Whether statement i was handed to libpq (all before a send failure).
  bool queued(int i) const { return i < queued_; }
  // Whether statement i's success reached us.
  bool done(int i) const { return entries_[i].done; }
  // The first statement the server rejected, or -1.
  int failed_at() const { return failed_at_; }
  // Whether the server's rejection of failed_at() ended the session
  // (SQLSTATE class 08, 57P01..57P03, FATAL, PANIC).
  bool failure_ends_session() const;
  // The SQLSTATE and message of failed_at()'s rejection ("" if none).
  const std::string& sqlstate() const { return sqlstate_; }
  const std::string& error() const { return error_; }
  // REQUIRES: done(i) and statement i was queued with keep.
  const PGresult* result(int i) const { return entries_[i].result; }

  // What went wrong, as a Status (OK if nothing did): the server's
  // rejection of failed_at() if any (mapped as in the file comment), else
  // Unavailable "postgres: connection lost: ..." if lost().
  Status status() const;
  // libpq's message for the loss of the connection ("" if not lost()).
  const std::string& lost_error() const { return lost_error_; }

 private:
  struct Entry {
    bool keep = false;
    bool done = false;
    PGresult* result = nullptr;
  };

  int Add(bool keep);
  void SendFailed();
  bool keep_transaction_ = false;
  void Lost(const char* msg);
  // Reads statement i's result and the NULL that ends it.
  void ReadResult(size_t i);
  void OnError(int i, const PGresult* r);

  PGconn* const pg_;
  std::vector<Entry> entries_;
  int queued_ = 0;
  bool send_failed_ = false;
  bool lost_ = false;
  std::string lost_error_;
  int failed_at_ = -1;
  std::string sqlstate_, severity_, error_;
};

// Runs `sql` (one or more statements, no parameters) outside any pipeline,
// with PQexec. On success, if `out` is not null, stores the (last)
// result in *out, which the caller must PQclear. Errors as in the file
// comment; a failure libpq made rather than the server (no SQLSTATE), or
// one that left the connection bad, is Unavailable.
// REQUIRES: `pg` is connected and not in pipeline mode.
Status Exec(PGconn* pg, const char* sql, PGresult** out = nullptr);

// A connection to the server, connected lazily and re-established after it
// breaks, with a backoff after failed attempts. Every connection gets
// application_name=parley, connect_timeout=5 s, TCP keepalives (10 s idle,
// then 3 probes 5 s apart), tcp_user_timeout=60 s and
// target_session_attrs=read-write, unless `conninfo` says otherwise, and
// always client_encoding=UTF8. Server messages outside results (NOTICE,
// WARNING, FATAL) go to the log; a FATAL (the server closing an idle
// session) also makes the next Ensure replace the connection. Not
// thread-safe.
struct PgConn {
  // REQUIRES: `conninfo` outlives the PgConn.
  explicit PgConn(const std::string& conninfo, std::function<Status(PgConn&)> on_connect = {})
      : conninfo(conninfo), on_connect(std::move(on_connect)) {}
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Makes `pg` a live, idle connection, connecting if needed (unless still
  // backing off after a failed attempt: then Status::Unavailable at once).
  // *reused: whether it was connected before this call (a fresh connection
  // that fails is not worth an immediate retry). A connection found dead
  // while idle (before anything of this call was sent) is replaced at once.
  // A failed attempt (including a failed on_connect) backs off further
  // attempts: 50 ms, doubling up to 2 s.
  Status Ensure(bool* reused);

  // Closes the connection, if any (pg becomes null). The next Ensure
  // connects again.
  void Drop();

  const std::string& conninfo;
  // Run on each new connection (pg connected, idle) before Ensure returns
  // it, to set up its session; if it fails, the connection is dropped and
  // its Status is Ensure's. May be empty. May be replaced between calls.
  std::function<Status(PgConn&)> on_connect;
  // The connection: null, or what Ensure last made live.
  PGconn* pg = nullptr;

 private:
  Status Connect();

  bool server_closing_ = false;  // set when the server sends FATAL or PANIC
  // Backoff after failed connection attempts: none before retry_at_.
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  std::string last_error_;
};

// Runs one read on `c`: queue(Pipeline&) adds its statements (after BEGIN
// ISOLATION LEVEL REPEATABLE READ READ ONLY when `snapshot`, and the
// statement `timeout_sql`, e.g. a transaction-local statement_timeout),
// then consume(const Pipeline&) reads their results once all succeeded and
// its Status is RunRead's. Reads are idempotent, so a read that failed
// because a reused connection turned out dead is tried once more on a new
// one (queue may then be called twice). Otherwise the Status of Ensure or
// of the pipeline (Pipeline::status); a lost connection is dropped.
template <typename Queue, typename Consume>
Status RunRead(PgConn& c, bool snapshot, const char* timeout_sql, Queue&& queue,
               Consume&& consume) {
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    Status s = c.Ensure(&reused);
    if (!s.ok()) return s;
    Pipeline p(c.pg);
    const Params none;
    if (snapshot) p.Sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", none);
    p.Sql(timeout_sql, none);
    queue(p);
    if (snapshot) p.Sql("COMMIT", none);
    p.Run();
    if (p.lost()) c.Drop();
    if (p.ok()) return consume(static_cast<const Pipeline&>(p));
    if (attempt == 0 && reused && p.lost()) continue;
    return p.status();
  }
}

}  // namespace store_internal
}  // namespace parley
