// Test support for PostgreSQL: the test server named by the environment and
// throw-away databases on it. Header-only, for tests only.
//
// PARLEY_TEST_PG holds a libpq conninfo or URL of a server on which tests may
// CREATE DATABASE, e.g. postgres://postgres@127.0.0.1:PORT/postgres
// (scripts/pg-cluster.sh starts one and prints it). Unset: no PostgreSQL
// tests (they skip, or fail when PARLEY_REQUIRE_PG=1).
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

namespace parley {

// The test server's conninfo, or "" if none is configured.
inline std::string PostgresTestServer() {
  const char* v = std::getenv("PARLEY_TEST_PG");
  return v != nullptr ? std::string(v) : std::string();
}

// `conninfo` (a conninfo string or URL) with its database replaced by
// `dbname`, as a key=value conninfo string. "" if `conninfo` does not parse.
inline std::string PostgresConninfoWithDb(const std::string& conninfo, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return std::string();
  }
  auto quoted = [](const std::string& v) {
    std::string q = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') q += '\\';
      q += c;
    }
    return q + "'";
  };
  std::string out = "dbname=" + quoted(dbname);
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0' || std::string(o->keyword) == "dbname") continue;
    out += " ";
    out += o->keyword;
    out += "=" + quoted(o->val);
  }
  PQconninfoFree(opts);
  return out;
}

// A database of its own on the test server, for one test: created (empty,
// UTF8, C collation) by the constructor, dropped by the destructor. Names
// are unique across threads and processes (pid, a process-wide counter and
// a random suffix), so parallel test processes never collide.
// REQUIRES: PostgresTestServer() is not "". The constructor throws
// std::runtime_error (with libpq's message) if the database cannot be made.
class PostgresTestDb {
 public:
  PostgresTestDb() {
    static std::atomic<uint64_t> counter{0};
    std::random_device rd;
    char suffix[9];
    std::snprintf(suffix, sizeof(suffix), "%08x", static_cast<unsigned>(rd()));
    name_ =
        "parley_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + suffix;
    // TEMPLATE template0: independent of whatever template1 holds; encoding
    // and collation fixed, whatever the server's defaults.
    std::string error = Admin("CREATE DATABASE " + name_ +
                              " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
    if (!error.empty()) throw std::runtime_error("cannot create test database: " + error);
    conninfo_ = PostgresConninfoWithDb(PostgresTestServer(), name_);
  }
  ~PostgresTestDb() {
    // FORCE (PG 13+): ends sessions a test left connected.
    std::string error = Admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    if (!error.empty())
      std::fprintf(stderr, "cannot drop test database %s: %s\n", name_.c_str(), error.c_str());
  }
  PostgresTestDb(const PostgresTestDb&) = delete;
  PostgresTestDb& operator=(const PostgresTestDb&) = delete;

  // A conninfo string for this database (the server's, with dbname replaced).
  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }

 private:
  // Runs `sql` on the test server's own database; "" or the error.
  static std::string Admin(const std::string& sql) {
    const std::string server = PostgresTestServer();
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {"10", server.c_str(), nullptr};
    PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    std::string error;
    if (PQstatus(c) != CONNECTION_OK) {
      error = PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(c);
    return error;
  }

  std::string name_;
  std::string conninfo_;
};

}  // namespace parley
