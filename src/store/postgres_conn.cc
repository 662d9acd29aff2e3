#include "store/postgres_conn.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace parley {
namespace store_internal {

namespace {

// Connection parameters. Those before "dbname" are defaults the caller's
// conninfo (expanded in place of "dbname") may override; those after it
// always apply.
constexpr const char* kConnectKeys[] = {"application_name",
                                        "connect_timeout",
                                        "keepalives",
                                        "keepalives_idle",
                                        "keepalives_interval",
                                        "keepalives_count",
                                        "tcp_user_timeout",
                                        "target_session_attrs",
                                        "dbname",
                                        "client_encoding",
                                        nullptr};
constexpr const char* kConnectDefaults[] = {
    "parley", "5", "1", "10", "5", "3",
    // Sent data unacknowledged this long (ms) means the server is gone.
    "60000",
    // With several hosts, land on the primary: reads must see every
    // acknowledged commit.
    "read-write"};
static_assert(std::size(kConnectDefaults) + 3 == std::size(kConnectKeys));

// Reconnect backoff after a failed connection attempt.
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};

// Whether an error means the server has ended (or is ending) the session:
// connection exceptions (class 08), admin/crash shutdown and "cannot connect
// now" (57P01..57P03), and anything FATAL or PANIC.
bool EndsSession(std::string_view sqlstate, std::string_view severity) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03" || severity == "FATAL" || severity == "PANIC";
}

// The Status of a statement the server rejected.
Status ServerError(std::string_view sqlstate, std::string_view severity, const std::string& msg) {
  if (EndsSession(sqlstate, severity)) return Status::Unavailable("postgres: " + msg);
  if (sqlstate == "23505") return Status::Conflict(msg);
  // deadlock_detected, serialization_failure: the transaction was rolled
  // back and the same call may succeed at once (PostgresStore::CommitBuilt).
  if (sqlstate == "40P01" || sqlstate == "40001") {
    return Status::Unavailable("postgres: " + msg + " (nothing was committed)");
  }
  if (sqlstate == "XX001") return Status::Corruption(msg);
  return Status::IOError("postgres: " + msg);
}

// Server messages outside results (NOTICE, WARNING, and the FATAL a server
// sends before it closes an idle connection) go to the log; a FATAL also
// marks the connection for replacement before its next use.
void OnNotice(void* arg, const PGresult* r) {
  bool* server_closing = static_cast<bool*>(arg);
  const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  std::string_view severity = sev != nullptr ? sev : "";
  std::string msg = Trimmed(PQresultErrorMessage(r));
  if (severity == "FATAL" || severity == "PANIC") {
    *server_closing = true;
    spdlog::warn("postgres: {}", msg);
  } else if (severity == "WARNING" || severity == "ERROR") {
    spdlog::warn("postgres: {}", msg);
  } else {
    spdlog::debug("postgres: {}", msg);
  }
}

}  // namespace

// libpq's messages end with a newline.
std::string Trimmed(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------
// Params.

Params& Params::IdArray(const std::vector<Snowflake>& ids) {
  if (!array_.empty()) std::abort();
  array_ = "{";
  for (Snowflake id : ids) {
    if (array_.size() > 1) array_ += ',';
    array_ += std::to_string(ToDb(id));
  }
  array_ += '}';
  return Add(array_.c_str(), 0, 0);
}

// ---------------------------------------------------------------------------
// Pipeline.

Pipeline::Pipeline(PGconn* pg) : pg_(pg) {
  if (PQenterPipelineMode(pg_) != 1) SendFailed();
}

Pipeline::~Pipeline() {
  for (Entry& e : entries_) PQclear(e.result);  // PQclear(nullptr) is a no-op
}

int Pipeline::Prepared(const char* name, const Params& p, bool keep) {
  int i = Add(keep);
  if (!send_failed_ && PQsendQueryPrepared(pg_, name, p.size(), p.values(), p.lengths(),
                                           p.formats(), /*resultFormat=*/1) != 1) {
    SendFailed();
  }
  return i;
}

int Pipeline::Sql(const char* sql, const Params& p, bool keep) {
  int i = Add(keep);
  if (!send_failed_ && PQsendQueryParams(pg_, sql, p.size(), nullptr, p.values(), p.lengths(),
                                         p.formats(), /*resultFormat=*/1) != 1) {
    SendFailed();
  }
  return i;
}

int Pipeline::Prepare(const char* name, const char* sql) {
  int i = Add(false);
  if (!send_failed_ && PQsendPrepare(pg_, name, sql, 0, nullptr) != 1) SendFailed();
  return i;
}

void Pipeline::Run() {
  if (!send_failed_ && PQpipelineSync(pg_) != 1) SendFailed();
  if (send_failed_) return;
  for (size_t i = 0; i < entries_.size() && !lost_; ++i) ReadResult(i);
  if (!lost_) {
    PGresult* r = PQgetResult(pg_);
    if (r == nullptr || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
      Lost(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(pg_));
    }
    PQclear(r);
  }
  if (!lost_ && PQexitPipelineMode(pg_) != 1) Lost(PQerrorMessage(pg_));
  const bool keep = keep_transaction_ && failed_at_ < 0;
  if (!lost_ && !(keep && PQtransactionStatus(pg_) == PQTRANS_INTRANS) &&
      PQtransactionStatus(pg_) != PQTRANS_IDLE) {
    PGresult* r = PQexec(pg_, "ROLLBACK");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQtransactionStatus(pg_) != PQTRANS_IDLE) Lost(PQerrorMessage(pg_));
  }
}

bool Pipeline::failure_ends_session() const {
  return EndsSession(sqlstate_, severity_);
}

Status Pipeline::status() const {
  if (failed_at_ >= 0) return ServerError(sqlstate_, severity_, error_);
  if (lost_) return Status::Unavailable("postgres: connection lost: " + lost_error_);
  return Status::OK();
}

int Pipeline::Add(bool keep) {
  entries_.push_back(Entry{keep});
  if (!send_failed_) queued_ = static_cast<int>(entries_.size());
  return static_cast<int>(entries_.size()) - 1;
}

void Pipeline::SendFailed() {
  if (!send_failed_ && !entries_.empty()) queued_ = static_cast<int>(entries_.size()) - 1;
  send_failed_ = true;
  Lost(PQerrorMessage(pg_));
}

void Pipeline::Lost(const char* msg) {
  if (lost_error_.empty()) lost_error_ = Trimmed(msg);
  lost_ = true;
}

void Pipeline::ReadResult(size_t i) {
  PGresult* r = PQgetResult(pg_);
  if (r == nullptr) {
    Lost(PQerrorMessage(pg_));
    return;
  }
  switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
      entries_[i].done = true;
      if (entries_[i].keep) {
        entries_[i].result = r;
        r = nullptr;
      }
      break;
    case PGRES_PIPELINE_ABORTED:  // skipped after an earlier failure
      break;
    default:
      OnError(static_cast<int>(i), r);
      break;
  }
  PQclear(r);
  while (!lost_) {
    if (PQstatus(pg_) == CONNECTION_BAD) {
      Lost(PQerrorMessage(pg_));
      break;
    }
    PGresult* extra = PQgetResult(pg_);
    if (extra == nullptr) break;
    if (PQresultStatus(extra) == PGRES_FATAL_ERROR) OnError(static_cast<int>(i), extra);
    PQclear(extra);
  }
}

void Pipeline::OnError(int i, const PGresult* r) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  std::string msg = Trimmed(PQresultErrorMessage(r));
  if (state == nullptr) {  // made by libpq, not the server: the connection failed
    Lost(msg.c_str());
    return;
  }
  if (failed_at_ < 0) {
    failed_at_ = i;
    sqlstate_ = state;
    severity_ = severity != nullptr ? severity : "";
    error_ = msg;
  }
  if (EndsSession(state, severity != nullptr ? severity : "")) Lost(msg.c_str());
}

// ---------------------------------------------------------------------------
// Exec.

Status Exec(PGconn* pg, const char* sql, PGresult** out) {
  PGresult* r = PQexec(pg, sql);
  ExecStatusType st = PQresultStatus(r);
  Status s;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    std::string msg = Trimmed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    s = state == nullptr || PQstatus(pg) == CONNECTION_BAD
            ? Status::Unavailable("postgres: " + msg)
            : ServerError(state, severity != nullptr ? severity : "", msg);
  }
  if (s.ok() && out != nullptr) {
    *out = r;
  } else {
    PQclear(r);
  }
  return s;
}

// ---------------------------------------------------------------------------
// PgConn.

PgConn::~PgConn() {
  Drop();
}

Status PgConn::Ensure(bool* reused) {
  *reused = false;
  if (pg != nullptr) {
    // Whatever the server sent while the connection was idle (the FATAL
    // it sends before closing a terminated session, or the close itself)
    // shows up here, before anything of this call is sent.
    if (PQconsumeInput(pg) == 1) PQisBusy(pg);
    if (PQstatus(pg) == CONNECTION_OK && !server_closing_ &&
        PQtransactionStatus(pg) == PQTRANS_IDLE) {
      *reused = true;
      return Status::OK();
    }
    Drop();  // dead while idle: nothing of this call was sent; reconnect now
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
    return Status::Unavailable("postgres: backing off, next connection attempt in " +
                               std::to_string(ms) + " ms; last attempt: " + last_error_);
  }
  Status s = Connect();
  if (!s.ok()) {
    backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    last_error_ = s.message();
    return s;
  }
  backoff_ = std::chrono::milliseconds(0);
  retry_at_ = {};
  return Status::OK();
}

void PgConn::Drop() {
  if (pg != nullptr) PQfinish(pg);
  pg = nullptr;
}

Status PgConn::Connect() {
  const char* values[std::size(kConnectKeys)] = {};
  size_t i = 0;
  for (; i < std::size(kConnectDefaults); ++i) values[i] = kConnectDefaults[i];
  values[i++] = conninfo.c_str();  // "dbname": expanded as a conninfo
  values[i++] = "UTF8";            // "client_encoding"
  values[i] = nullptr;
  PGconn* c = PQconnectdbParams(kConnectKeys, values, /*expand_dbname=*/1);
  if (c == nullptr) return Status::Unavailable("postgres: cannot allocate a connection");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = Trimmed(PQerrorMessage(c));
    PQfinish(c);
    return Status::Unavailable("postgres: " + msg);
  }
  pg = c;
  server_closing_ = false;
  PQsetNoticeReceiver(pg, OnNotice, &server_closing_);
  Status s = on_connect ? on_connect(*this) : Status::OK();
  if (!s.ok()) Drop();
  return s;
}

}  // namespace store_internal
}  // namespace parley
