// OpenStore: the one place that turns a store URL into a StoreBackend, used
// by `parley serve`, `parley fill` and every other tool.
//
//   sqlite:PATH                  the embedded store in the file PATH (its
//                                directory is created if missing)
//   postgres://user@host:port/db?...   a PostgreSQL 15 server; the URL is
//   postgresql://...                   handed to libpq as it is
//   host=... dbname=... ...            the same in libpq's keyword=value form
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace parley {

struct StoreOptions {
  // true: every commit is durable against power loss (SQLite fsyncs its
  // WAL; PostgreSQL commits with synchronous_commit=on). false: durable
  // against a crash of the process only (SQLite synchronous=NORMAL).
  bool sync_every_commit = true;
  // PostgreSQL: hash partitions of the messages table, used only when the
  // schema is created.
  int message_partitions = 16;
  // PostgreSQL: streaming replicas (URLs as above) that may serve history
  // reads which do not need the newest commits (HistoryQuery::min_position).
  std::vector<std::string> replicas;
  // PostgreSQL, cluster mode: every commit also appends its batches to the
  // log of commits (StoreBackend::commit_log), under `node_id`.
  bool commit_log = false;
  int node_id = 0;
};

// The URL of the embedded store in data directory `dir`.
std::string DefaultStoreUrl(const std::string& dir);

// Opens the store `url` names, creating or migrating its schema. A bad URL
// is Status::InvalidArgument; an unreachable server Status::Unavailable; a
// schema newer than this binary Status::Corruption. On success stores the
// store in *out.
Status OpenStore(const std::string& url, const StoreOptions& options,
                 std::unique_ptr<StoreBackend>* out);

}  // namespace parley
