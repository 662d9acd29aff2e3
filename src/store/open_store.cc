#include "store/open_store.h"

#include <string_view>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace parley {

std::string DefaultStoreUrl(const std::string& dir) {
  return "sqlite:" + (dir.empty() ? std::string(".") : dir) + "/parley.db";
}

namespace {

// "host=db port=5432 dbname=parley ...": libpq's keyword/value form.
bool IsKeywordValueConninfo(std::string_view u) {
  size_t eq = u.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  for (char c : u.substr(0, eq)) {
    bool word = (c >= 'a' && c <= 'z') || c == '_' || c == ' ';
    if (!word) return false;
  }
  return true;
}

}  // namespace

Status OpenStore(const std::string& url, const StoreOptions& options,
                 std::unique_ptr<StoreBackend>* out) {
  std::string_view u = url;
  if (u.starts_with("sqlite:")) {
    std::string path(u.substr(7));
    // sqlite:///abs/path and sqlite://./rel as well as sqlite:path.
    if (path.starts_with("//")) path.erase(0, 2);
    if (path.empty()) return Status::InvalidArgument("store URL '" + url + "' names no file");
    if (!options.replicas.empty())
      return Status::InvalidArgument("read replicas need a PostgreSQL store");
    if (options.commit_log)
      return Status::InvalidArgument(
          "cluster mode needs a PostgreSQL store (--store postgres://...)");
    std::unique_ptr<SqliteStore> store;
    SqliteStore::Options o;
    o.sync_every_commit = options.sync_every_commit;
    Status s = SqliteStore::Open(path, o, &store);
    if (!s.ok()) return s;
    *out = std::move(store);
    return Status::OK();
  }
  if (u.starts_with("postgres://") || u.starts_with("postgresql://") || IsKeywordValueConninfo(u)) {
    if (options.message_partitions < 1 || options.message_partitions > 1024)
      return Status::InvalidArgument("message partitions must be 1..1024");
    std::unique_ptr<PostgresStore> store;
    PostgresStore::Options o;
    o.message_partitions = options.message_partitions;
    o.sync_every_commit = options.sync_every_commit;
    o.replicas = options.replicas;
    o.commit_log = options.commit_log;
    o.node_id = options.node_id;
    Status s = PostgresStore::Open(url, o, &store);
    if (!s.ok()) return s;
    *out = std::move(store);
    return Status::OK();
  }
  return Status::InvalidArgument("unknown store URL '" + url +
                                 "' (want sqlite:PATH or postgres://user@host:port/db)");
}

}  // namespace parley
