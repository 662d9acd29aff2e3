#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "store/record_encoding.h"

namespace parley {

using store_encoding::AsciiLower;
using store_encoding::DecodeOverwrites;
using store_encoding::DecodeRoles;
using store_encoding::EncodeOverwrites;
using store_encoding::EncodeRoles;

// ---------------------------------------------------------------------------
// Schema. Each entry migrates version i to version i + 1 (PRAGMA user_version).
// To change the schema, append a step; never edit a step that has shipped.
//
// Snowflakes and other uint64 values are stored as INTEGER via a static_cast
// to int64 (snowflakes keep their top bit 0 for centuries; bit masks round
// trip through the cast). Booleans are 0/1.
// members.roles holds ",id1,id2," (empty string for none), so that a role id
// is found with instr(roles, ',id,'). channels.overwrites holds
// "id:type:allow:deny" entries joined by ';'.
namespace {

constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE users(
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  username_lower TEXT NOT NULL UNIQUE,
  global_name TEXT NOT NULL,
  bot INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  owner_id INTEGER NOT NULL);
CREATE TABLE applications(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  flags INTEGER NOT NULL);
CREATE TABLE sessions(
  hash BLOB PRIMARY KEY,
  user_id INTEGER NOT NULL,
  created_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE guilds(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id INTEGER NOT NULL,
  description TEXT NOT NULL,
  icon TEXT NOT NULL);
CREATE TABLE channels(
  id INTEGER PRIMARY KEY,
  guild_id INTEGER NOT NULL,
  type INTEGER NOT NULL,
  name TEXT NOT NULL,
  topic TEXT NOT NULL,
  position INTEGER NOT NULL,
  parent_id INTEGER NOT NULL,
  nsfw INTEGER NOT NULL,
  rate_limit_per_user INTEGER NOT NULL,
  overwrites TEXT NOT NULL);
CREATE INDEX channels_by_guild ON channels(guild_id);
CREATE TABLE roles(
  id INTEGER PRIMARY KEY,
  guild_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  permissions INTEGER NOT NULL,
  position INTEGER NOT NULL,
  color INTEGER NOT NULL,
  hoist INTEGER NOT NULL,
  mentionable INTEGER NOT NULL);
CREATE INDEX roles_by_guild ON roles(guild_id);
CREATE TABLE members(
  guild_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  nick TEXT NOT NULL,
  roles TEXT NOT NULL,
  joined_at_ms INTEGER NOT NULL,
  PRIMARY KEY(guild_id, user_id)) WITHOUT ROWID;
CREATE TABLE invites(
  code TEXT PRIMARY KEY,
  guild_id INTEGER NOT NULL,
  channel_id INTEGER NOT NULL,
  inviter_id INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  max_age INTEGER NOT NULL,
  max_uses INTEGER NOT NULL,
  uses INTEGER NOT NULL,
  temporary INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX invites_by_guild ON invites(guild_id);
CREATE INDEX invites_by_channel ON invites(channel_id);
CREATE TABLE messages(
  channel_id INTEGER NOT NULL,
  id INTEGER NOT NULL,
  guild_id INTEGER NOT NULL,
  author_id INTEGER NOT NULL,
  content TEXT NOT NULL,
  edited_ms INTEGER NOT NULL,
  tts INTEGER NOT NULL,
  pinned INTEGER NOT NULL,
  type INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  PRIMARY KEY(channel_id, id)) WITHOUT ROWID;
)sql",
    // 1 -> 2: commit positions (StoreBackend::CommitBatches). A store made
    // before them counts from 0 again, which no reader of positions saw.
    R"sql(
CREATE TABLE commit_head(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  position INTEGER NOT NULL);
INSERT INTO commit_head(id, position) VALUES(1, 0);
)sql",
    // 2 -> 3: embeds and message_reference (replies).
    R"sql(
ALTER TABLE messages ADD COLUMN embeds TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN ref_channel_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ref_message_id INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3 -> 4: application commands.
    R"sql(
CREATE TABLE application_commands(
  id INTEGER PRIMARY KEY,
  application_id INTEGER NOT NULL,
  guild_id INTEGER NOT NULL,
  type INTEGER NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX application_commands_by_guild ON application_commands(guild_id);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

#define PARLEY_MESSAGE_COLUMNS                                                                  \
  "channel_id, id, guild_id, author_id, content, edited_ms, tts, pinned, type, flags, embeds, " \
  "ref_channel_id, ref_message_id"

// Every statement either connection may run, prepared once per connection.
enum StmtId : int {
  kBegin,
  kBeginImmediate,
  kCommit,
  kRollback,
  // Writes.
  kPutUser,
  kPutApplication,
  kPutSession,
  kDeleteSession,
  kDeleteUserSessions,
  kPutGuild,
  kDeleteGuildMessages,
  kDeleteGuildInvites,
  kDeleteGuildChannels,
  kDeleteGuildRoles,
  kDeleteGuildMembers,
  kDeleteGuildCommands,
  kDeleteGuild,
  kPutChannel,
  kDeleteChannelMessages,
  kDeleteChannelInvites,
  kDeleteChannel,
  kPutRole,
  kMembersWithRole,
  kSetMemberRoles,
  kDeleteRole,
  kPutMember,
  kDeleteMember,
  kPutInvite,
  kDeleteInvite,
  kPutCommand,
  kDeleteCommand,
  kInsertMessage,
  kUpdateMessage,
  kDeleteMessage,
  kBumpPosition,
  // Reads.
  kLoadPosition,
  kLoadUsers,
  kLoadApplications,
  kLoadSessions,
  kLoadGuilds,
  kLoadChannels,
  kLoadRoles,
  kLoadMembers,
  kLoadInvites,
  kLoadCommands,
  kLoadLastMessageIds,
  kGetMessage,
  kListLatest,
  kListBefore,
  kListAtOrBefore,
  kListAfterAscending,
  kScanMessages,
  kCountMessages,
  kNumStmts
};

constexpr std::array<const char*, kNumStmts> kStmtSql = {
    "BEGIN",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    // kPutUser. An upsert on id only: a clash on username_lower with another
    // row fails with SQLITE_CONSTRAINT_UNIQUE (INSERT OR REPLACE would
    // silently delete that other user).
    "INSERT INTO users(id, username, username_lower, global_name, bot, password_hash, owner_id) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET "
    "username = excluded.username, username_lower = excluded.username_lower, "
    "global_name = excluded.global_name, bot = excluded.bot, "
    "password_hash = excluded.password_hash, owner_id = excluded.owner_id",
    // kPutApplication
    "INSERT INTO applications(id, name, owner_id, flags) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, "
    "flags = excluded.flags",
    // kPutSession
    "INSERT INTO sessions(hash, user_id, created_ms) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(hash) DO UPDATE SET user_id = excluded.user_id, "
    "created_ms = excluded.created_ms",
    // kDeleteSession
    "DELETE FROM sessions WHERE hash = ?1",
    // kDeleteUserSessions
    "DELETE FROM sessions WHERE user_id = ?1",
    // kPutGuild
    "INSERT INTO guilds(id, name, owner_id, description, icon) VALUES(?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, "
    "description = excluded.description, icon = excluded.icon",
    // kDeleteGuildMessages: one primary-key range per channel of the guild.
    "DELETE FROM messages WHERE channel_id IN (SELECT id FROM channels WHERE guild_id = ?1)",
    // kDeleteGuildInvites
    "DELETE FROM invites WHERE guild_id = ?1",
    // kDeleteGuildChannels
    "DELETE FROM channels WHERE guild_id = ?1",
    // kDeleteGuildRoles
    "DELETE FROM roles WHERE guild_id = ?1",
    // kDeleteGuildMembers
    "DELETE FROM members WHERE guild_id = ?1",
    // kDeleteGuildCommands
    "DELETE FROM application_commands WHERE guild_id = ?1",
    // kDeleteGuild
    "DELETE FROM guilds WHERE id = ?1",
    // kPutChannel
    "INSERT INTO channels(id, guild_id, type, name, topic, position, parent_id, nsfw, "
    "rate_limit_per_user, overwrites) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "ON CONFLICT(id) DO UPDATE SET guild_id = excluded.guild_id, type = excluded.type, "
    "name = excluded.name, topic = excluded.topic, position = excluded.position, "
    "parent_id = excluded.parent_id, nsfw = excluded.nsfw, "
    "rate_limit_per_user = excluded.rate_limit_per_user, overwrites = excluded.overwrites",
    // kDeleteChannelMessages
    "DELETE FROM messages WHERE channel_id = ?1",
    // kDeleteChannelInvites
    "DELETE FROM invites WHERE channel_id = ?1",
    // kDeleteChannel
    "DELETE FROM channels WHERE id = ?1",
    // kPutRole
    "INSERT INTO roles(id, guild_id, name, permissions, position, color, hoist, mentionable) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO UPDATE SET "
    "guild_id = excluded.guild_id, name = excluded.name, permissions = excluded.permissions, "
    "position = excluded.position, color = excluded.color, hoist = excluded.hoist, "
    "mentionable = excluded.mentionable",
    // kMembersWithRole: ?2 is ",<role id>,".
    "SELECT user_id, roles FROM members WHERE guild_id = ?1 AND instr(roles, ?2) > 0",
    // kSetMemberRoles
    "UPDATE members SET roles = ?3 WHERE guild_id = ?1 AND user_id = ?2",
    // kDeleteRole
    "DELETE FROM roles WHERE guild_id = ?1 AND id = ?2",
    // kPutMember
    "INSERT INTO members(guild_id, user_id, nick, roles, joined_at_ms) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(guild_id, user_id) DO UPDATE SET "
    "nick = excluded.nick, roles = excluded.roles, joined_at_ms = excluded.joined_at_ms",
    // kDeleteMember
    "DELETE FROM members WHERE guild_id = ?1 AND user_id = ?2",
    // kPutInvite
    "INSERT INTO invites(code, guild_id, channel_id, inviter_id, created_ms, max_age, "
    "max_uses, uses, temporary) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT(code) DO UPDATE SET guild_id = excluded.guild_id, "
    "channel_id = excluded.channel_id, inviter_id = excluded.inviter_id, "
    "created_ms = excluded.created_ms, max_age = excluded.max_age, "
    "max_uses = excluded.max_uses, uses = excluded.uses, temporary = excluded.temporary",
    // kDeleteInvite
    "DELETE FROM invites WHERE code = ?1",
    // kPutCommand
    "INSERT INTO application_commands(id, application_id, guild_id, type, name, version, body) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET "
    "application_id = excluded.application_id, guild_id = excluded.guild_id, "
    "type = excluded.type, name = excluded.name, version = excluded.version, "
    "body = excluded.body",
    // kDeleteCommand
    "DELETE FROM application_commands WHERE id = ?3 AND application_id = ?1 AND guild_id = ?2",
    // kInsertMessage: a plain INSERT, a duplicate id is an error.
    "INSERT INTO messages(" PARLEY_MESSAGE_COLUMNS
    ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    // kUpdateMessage
    "UPDATE messages SET content = ?3, edited_ms = ?4, pinned = ?5, flags = ?6, embeds = ?7 "
    "WHERE channel_id = ?1 AND id = ?2",
    // kDeleteMessage
    "DELETE FROM messages WHERE channel_id = ?1 AND id = ?2",
    // kBumpPosition: the transaction's CommitPosition. The writer holds the
    // database's write lock, so positions follow commit order.
    "UPDATE commit_head SET position = position + 1 WHERE id = 1 RETURNING position",
    // kLoadPosition
    "SELECT position FROM commit_head WHERE id = 1",
    // kLoadUsers
    "SELECT id, username, global_name, bot, password_hash, owner_id FROM users ORDER BY id",
    // kLoadApplications
    "SELECT id, name, owner_id, flags FROM applications ORDER BY id",
    // kLoadSessions
    "SELECT hash, user_id, created_ms FROM sessions ORDER BY hash",
    // kLoadGuilds
    "SELECT id, name, owner_id, description, icon FROM guilds ORDER BY id",
    // kLoadChannels
    "SELECT id, guild_id, type, name, topic, position, parent_id, nsfw, rate_limit_per_user, "
    "overwrites FROM channels ORDER BY id",
    // kLoadRoles
    "SELECT id, guild_id, name, permissions, position, color, hoist, mentionable FROM roles "
    "ORDER BY id",
    // kLoadMembers
    "SELECT guild_id, user_id, nick, roles, joined_at_ms FROM members ORDER BY guild_id, user_id",
    // kLoadInvites
    "SELECT code, guild_id, channel_id, inviter_id, created_ms, max_age, max_uses, uses, "
    "temporary FROM invites ORDER BY code",
    // kLoadCommands
    "SELECT id, application_id, guild_id, type, name, version, body FROM application_commands "
    "ORDER BY id",
    // kLoadLastMessageIds: a skip scan over the distinct channel ids of the
    // primary key, then one seek per channel: O(channels * log(messages))
    // rather than a scan of every message.
    "WITH RECURSIVE ch(cid) AS ("
    "  SELECT (SELECT MIN(channel_id) FROM messages)"
    "  UNION ALL"
    "  SELECT (SELECT MIN(m.channel_id) FROM messages m WHERE m.channel_id > ch.cid) FROM ch"
    "  WHERE ch.cid IS NOT NULL) "
    "SELECT cid, (SELECT MAX(m.id) FROM messages m WHERE m.channel_id = ch.cid) FROM ch "
    "WHERE cid IS NOT NULL",
    // kGetMessage
    "SELECT " PARLEY_MESSAGE_COLUMNS " FROM messages WHERE channel_id = ?1 AND id = ?2",
    // kListLatest
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE channel_id = ?1 "
    "ORDER BY id DESC LIMIT ?2",
    // kListBefore
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE channel_id = ?1 AND id < ?2 "
    "ORDER BY id DESC LIMIT ?3",
    // kListAtOrBefore
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE channel_id = ?1 AND id <= ?2 "
    "ORDER BY id DESC LIMIT ?3",
    // kListAfterAscending
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE channel_id = ?1 AND id > ?2 "
    "ORDER BY id ASC LIMIT ?3",
    // kScanMessages: the primary key's order, from just after a key.
    "SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE (channel_id, id) > (?1, ?2) "
    "ORDER BY channel_id, id LIMIT ?3",
    // kCountMessages
    "SELECT count(*) FROM messages",
};

#undef PARLEY_MESSAGE_COLUMNS

// Maps an SQLite (extended) result code to a Status.
Status SqliteError(int rc, sqlite3* db, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Status::Conflict(msg);
      }
      return Status::InvalidArgument(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg);
    default:
      return Status::IOError(msg);
  }
}

inline int64_t ToDb(uint64_t v) {
  return static_cast<int64_t>(v);
}
inline uint64_t FromDb(int64_t v) {
  return static_cast<uint64_t>(v);
}

// An anchor id as a bound for comparisons against stored ids: ids above
// INT64_MAX cannot be stored, so they clamp to INT64_MAX.
inline int64_t AnchorToDb(Snowflake id) {
  return id > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(id);
}

}  // namespace

// ---------------------------------------------------------------------------
// Connections and statements.

namespace store_internal {

struct SqliteConn {
  sqlite3* db = nullptr;
  std::array<sqlite3_stmt*, kNumStmts> stmts{};

  SqliteConn() = default;
  SqliteConn(const SqliteConn&) = delete;
  SqliteConn& operator=(const SqliteConn&) = delete;
  ~SqliteConn() {
    for (sqlite3_stmt* s : stmts) sqlite3_finalize(s);  // no-op on nullptr
    sqlite3_close_v2(db);                               // no-op on nullptr
  }

  // Opens `path` with `flags`, extended result codes and the busy timeout.
  Status Open(const std::string& path, int flags) {
    int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return SqliteError(rc, db, "open " + path);
    sqlite3_extended_result_codes(db, 1);
    rc = sqlite3_busy_timeout(db, 5000);
    if (rc != SQLITE_OK) return SqliteError(rc, db, "busy_timeout");
    return Status::OK();
  }

  // Runs `sql` (one or more statements, no parameters) outside the cache.
  Status Exec(const char* sql) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::OK() : SqliteError(rc, db, sql);
  }

  // Sets *out to the cached statement `id`, preparing it on first use.
  Status Prepare(StmtId id, sqlite3_stmt** out) {
    if (stmts[id] == nullptr) {
      int rc =
          sqlite3_prepare_v3(db, kStmtSql[id], -1, SQLITE_PREPARE_PERSISTENT, &stmts[id], nullptr);
      if (rc != SQLITE_OK) return SqliteError(rc, db, kStmtSql[id]);
    }
    *out = stmts[id];
    return Status::OK();
  }
};

}  // namespace store_internal

namespace {

using store_internal::SqliteConn;

// One execution of a cached statement: binds parameters in order, steps, and
// resets the statement when it goes out of scope. The first error sticks in
// status(); later calls are then no-ops.
class Query {
 public:
  Query(SqliteConn& c, StmtId id) : db_(c.db) { status_ = c.Prepare(id, &stmt_); }
  ~Query() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  const Status& status() const { return status_; }

  template <typename T>
  requires std::is_integral_v<T> Query& Bind(T v) {
    if (status_.ok()) Check(sqlite3_bind_int64(stmt_, ++param_, static_cast<int64_t>(v)));
    return *this;
  }
  Query& Bind(std::string_view s) {
    // SQLITE_STATIC: `s` outlives the step (bound values are used only then).
    if (status_.ok()) {
      Check(sqlite3_bind_text64(stmt_, ++param_, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8));
    }
    return *this;
  }
  Query& BindBlob(const void* p, size_t n) {
    if (status_.ok()) Check(sqlite3_bind_blob64(stmt_, ++param_, p, n, SQLITE_STATIC));
    return *this;
  }

  // Steps once: true if a row is available, false when done or on error.
  bool Next() {
    if (!status_.ok() || done_) return false;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    done_ = true;
    if (rc != SQLITE_DONE) status_ = SqliteError(rc, db_, sqlite3_sql(stmt_));
    return false;
  }
  // Steps to completion, for statements without results.
  Status Run() {
    while (Next()) {
    }
    return status_;
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  uint64_t U64(int col) const { return FromDb(sqlite3_column_int64(stmt_, col)); }
  bool Bool(int col) const { return sqlite3_column_int64(stmt_, col) != 0; }
  int Int32(int col) const { return static_cast<int>(sqlite3_column_int64(stmt_, col)); }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::string_view Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p == nullptr ? std::string_view()
                        : std::string_view(static_cast<const char*>(p),
                                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) status_ = SqliteError(rc, db_, "bind");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
  int param_ = 0;
  bool done_ = false;
};

Status RunStmt(SqliteConn& c, StmtId id) {
  return Query(c, id).Run();
}

// A read transaction: every query in its scope sees the same snapshot.
class ReadTxn {
 public:
  explicit ReadTxn(SqliteConn& c) : c_(c) { status_ = RunStmt(c, kBegin); }
  ~ReadTxn() {
    if (status_.ok() && sqlite3_get_autocommit(c_.db) == 0) RunStmt(c_, kRollback);
  }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  const Status& status() const { return status_; }

 private:
  SqliteConn& c_;
  Status status_;
};

// Columns in PARLEY_MESSAGE_COLUMNS order.
void RowToMessage(const Query& q, Message* m) {
  m->channel_id = q.U64(0);
  m->id = q.U64(1);
  m->guild_id = q.U64(2);
  m->author_id = q.U64(3);
  m->content = q.Text(4);
  m->nonce.clear();
  m->edited_ms = q.Int(5);
  m->tts = q.Bool(6);
  m->pinned = q.Bool(7);
  m->type = q.Int32(8);
  m->flags = q.Int32(9);
  m->embeds = q.Text(10);
  m->ref_channel_id = q.U64(11);
  m->ref_message_id = q.U64(12);
}

// Appends every row of `q` to *out, in row order.
Status ReadMessages(Query& q, std::vector<Message>* out) {
  while (q.Next()) {
    out->emplace_back();
    RowToMessage(q, &out->back());
  }
  return q.status();
}

// Applies one Mutation through the writer connection.
class Applier {
 public:
  explicit Applier(SqliteConn& c) : c_(c) {}

  Status operator()(const mut::PutUser& m) {
    const User& u = m.user;
    std::string lower = AsciiLower(u.username);
    Status s = Query(c_, kPutUser)
                   .Bind(ToDb(u.id))
                   .Bind(u.username)
                   .Bind(lower)
                   .Bind(u.global_name)
                   .Bind(u.bot)
                   .Bind(u.password_hash)
                   .Bind(ToDb(u.owner_id))
                   .Run();
    if (s.IsConflict()) return Status::Conflict("username taken: " + u.username);
    return s;
  }
  Status operator()(const mut::PutApplication& m) {
    const Application& a = m.app;
    return Query(c_, kPutApplication)
        .Bind(ToDb(a.id))
        .Bind(a.name)
        .Bind(ToDb(a.owner_id))
        .Bind(ToDb(a.flags))
        .Run();
  }
  Status operator()(const mut::PutSession& m) {
    const Session& s = m.session;
    return Query(c_, kPutSession)
        .BindBlob(s.hash.data(), s.hash.size())
        .Bind(ToDb(s.user_id))
        .Bind(s.created_ms)
        .Run();
  }
  Status operator()(const mut::DeleteSession& m) {
    return Query(c_, kDeleteSession).BindBlob(m.hash.data(), m.hash.size()).Run();
  }
  Status operator()(const mut::DeleteUserSessions& m) {
    return Query(c_, kDeleteUserSessions).Bind(ToDb(m.user_id)).Run();
  }
  Status operator()(const mut::PutGuild& m) {
    const Guild& g = m.guild;
    return Query(c_, kPutGuild)
        .Bind(ToDb(g.id))
        .Bind(g.name)
        .Bind(ToDb(g.owner_id))
        .Bind(g.description)
        .Bind(g.icon)
        .Run();
  }
  Status operator()(const mut::DeleteGuild& m) {
    // Messages first: they are found through the guild's channels.
    for (StmtId id : {kDeleteGuildMessages, kDeleteGuildInvites, kDeleteGuildChannels,
                      kDeleteGuildRoles, kDeleteGuildMembers, kDeleteGuildCommands, kDeleteGuild}) {
      Status s = Query(c_, id).Bind(ToDb(m.guild_id)).Run();
      if (!s.ok()) return s;
    }
    return Status::OK();
  }
  Status operator()(const mut::PutChannel& m) {
    const Channel& ch = m.channel;
    std::string overwrites = EncodeOverwrites(ch.overwrites);
    return Query(c_, kPutChannel)
        .Bind(ToDb(ch.id))
        .Bind(ToDb(ch.guild_id))
        .Bind(ch.type)
        .Bind(ch.name)
        .Bind(ch.topic)
        .Bind(ch.position)
        .Bind(ToDb(ch.parent_id))
        .Bind(ch.nsfw)
        .Bind(ch.rate_limit_per_user)
        .Bind(overwrites)
        .Run();
  }
  Status operator()(const mut::DeleteChannel& m) {
    for (StmtId id : {kDeleteChannelMessages, kDeleteChannelInvites, kDeleteChannel}) {
      Status s = Query(c_, id).Bind(ToDb(m.channel_id)).Run();
      if (!s.ok()) return s;
    }
    return Status::OK();
  }
  Status operator()(const mut::PutRole& m) {
    const Role& r = m.role;
    return Query(c_, kPutRole)
        .Bind(ToDb(r.id))
        .Bind(ToDb(r.guild_id))
        .Bind(r.name)
        .Bind(ToDb(r.permissions))
        .Bind(r.position)
        .Bind(r.color)
        .Bind(r.hoist)
        .Bind(r.mentionable)
        .Run();
  }
  Status operator()(const mut::DeleteRole& m) {
    // Collect the members holding the role first, then rewrite them: no
    // updates to a table while a SELECT over it is still stepping.
    std::vector<std::pair<int64_t, std::vector<Snowflake>>> affected;
    {
      std::string needle = "," + std::to_string(m.role_id) + ",";
      Query q(c_, kMembersWithRole);
      q.Bind(ToDb(m.guild_id)).Bind(needle);
      while (q.Next()) {
        std::vector<Snowflake> roles;
        if (!DecodeRoles(q.Text(1), &roles)) {
          return Status::Corruption("members.roles of user " + std::to_string(q.U64(0)));
        }
        affected.emplace_back(q.Int(0), std::move(roles));
      }
      if (!q.status().ok()) return q.status();
    }
    for (auto& [user_id, roles] : affected) {
      std::erase(roles, m.role_id);
      std::string encoded = EncodeRoles(roles);
      Status s =
          Query(c_, kSetMemberRoles).Bind(ToDb(m.guild_id)).Bind(user_id).Bind(encoded).Run();
      if (!s.ok()) return s;
    }
    return Query(c_, kDeleteRole).Bind(ToDb(m.guild_id)).Bind(ToDb(m.role_id)).Run();
  }
  Status operator()(const mut::PutMember& m) {
    const Member& mb = m.member;
    std::string roles = EncodeRoles(mb.roles);
    return Query(c_, kPutMember)
        .Bind(ToDb(mb.guild_id))
        .Bind(ToDb(mb.user_id))
        .Bind(mb.nick)
        .Bind(roles)
        .Bind(mb.joined_at_ms)
        .Run();
  }
  Status operator()(const mut::DeleteMember& m) {
    return Query(c_, kDeleteMember).Bind(ToDb(m.guild_id)).Bind(ToDb(m.user_id)).Run();
  }
  Status operator()(const mut::PutInvite& m) {
    const Invite& i = m.invite;
    return Query(c_, kPutInvite)
        .Bind(i.code)
        .Bind(ToDb(i.guild_id))
        .Bind(ToDb(i.channel_id))
        .Bind(ToDb(i.inviter_id))
        .Bind(i.created_ms)
        .Bind(i.max_age)
        .Bind(i.max_uses)
        .Bind(i.uses)
        .Bind(i.temporary)
        .Run();
  }
  Status operator()(const mut::DeleteInvite& m) {
    return Query(c_, kDeleteInvite).Bind(m.code).Run();
  }
  Status operator()(const mut::InsertMessage& m) {
    const Message& msg = m.message;
    Status s = Query(c_, kInsertMessage)
                   .Bind(ToDb(msg.channel_id))
                   .Bind(ToDb(msg.id))
                   .Bind(ToDb(msg.guild_id))
                   .Bind(ToDb(msg.author_id))
                   .Bind(msg.content)
                   .Bind(msg.edited_ms)
                   .Bind(msg.tts)
                   .Bind(msg.pinned)
                   .Bind(msg.type)
                   .Bind(msg.flags)
                   .Bind(msg.embeds)
                   .Bind(ToDb(msg.ref_channel_id))
                   .Bind(ToDb(msg.ref_message_id))
                   .Run();
    if (s.IsConflict()) return Status::Conflict("duplicate message id " + std::to_string(msg.id));
    return s;
  }
  Status operator()(const mut::UpdateMessage& m) {
    const Message& msg = m.message;
    return Query(c_, kUpdateMessage)
        .Bind(ToDb(msg.channel_id))
        .Bind(ToDb(msg.id))
        .Bind(msg.content)
        .Bind(msg.edited_ms)
        .Bind(msg.pinned)
        .Bind(msg.flags)
        .Bind(msg.embeds)
        .Run();
  }
  Status operator()(const mut::DeleteMessages& m) {
    for (Snowflake id : m.ids) {
      Status s = Query(c_, kDeleteMessage).Bind(ToDb(m.channel_id)).Bind(ToDb(id)).Run();
      if (!s.ok()) return s;
    }
    return Status::OK();
  }
  Status operator()(const mut::PutCommand& m) {
    const ApplicationCommand& x = m.command;
    return Query(c_, kPutCommand)
        .Bind(ToDb(x.id))
        .Bind(ToDb(x.application_id))
        .Bind(ToDb(x.guild_id))
        .Bind(x.type)
        .Bind(x.name)
        .Bind(ToDb(x.version))
        .Bind(x.body)
        .Run();
  }
  Status operator()(const mut::DeleteCommand& m) {
    return Query(c_, kDeleteCommand)
        .Bind(ToDb(m.application_id))
        .Bind(ToDb(m.guild_id))
        .Bind(ToDb(m.id))
        .Run();
  }

 private:
  SqliteConn& c_;
};

// Brings the schema of `c` up to kSchemaVersion, one transaction per step.
Status Migrate(SqliteConn& c) {
  for (;;) {
    Status s = c.Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    // Read the version inside the write transaction: another process may
    // have migrated meanwhile.
    int version = -1;
    {
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v2(c.db, "PRAGMA user_version", -1, &stmt, nullptr);
      if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        version = sqlite3_column_int(stmt, 0);
      }
      sqlite3_finalize(stmt);
    }
    if (version < 0) {
      s = Status::IOError("cannot read PRAGMA user_version");
    } else if (version > kSchemaVersion) {
      s = Status::Corruption("database schema version " + std::to_string(version) +
                             " is newer than this binary's (" + std::to_string(kSchemaVersion) +
                             ")");
    } else if (version == kSchemaVersion) {
      return c.Exec("COMMIT");
    } else {
      s = c.Exec(kMigrations[version]);
      if (s.ok()) s = c.Exec(("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
      if (s.ok()) s = c.Exec("COMMIT");
      if (s.ok()) continue;
    }
    if (sqlite3_get_autocommit(c.db) == 0) c.Exec("ROLLBACK");
    return s;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// SqliteStore.

int SqliteStore::SchemaVersion() {
  return kSchemaVersion;
}

std::string SqliteStore::Describe() const {
  return "sqlite:" + path_;
}

SqliteStore::SqliteStore(std::string path, std::unique_ptr<Conn> writer)
    : path_(std::move(path)), writer_(std::move(writer)) {}

SqliteStore::~SqliteStore() {
  // Readers first, so that the writer's close (the last connection) can
  // checkpoint the WAL into the database file.
  readers_.Clear();
  writer_.reset();
}

Status SqliteStore::Open(const std::string& path, std::unique_ptr<SqliteStore>* out) {
  return Open(path, Options{}, out);
}

Status SqliteStore::Open(const std::string& path, const Options& options,
                         std::unique_ptr<SqliteStore>* out) {
  if (path.empty()) return Status::InvalidArgument("empty SQLite database path");
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("create directory " + dir.string() + ": " + ec.message());
  }
  // SQLite takes a zero-length file for a new, empty database: a store
  // truncated by accident (a failed copy, a full disk) would start as a new
  // server with every token refused. Only a missing file makes a new store.
  // (A crash right after creation can leave an empty file beside a WAL that
  // holds the first commits: SQLite recovers that one.)
  {
    std::error_code ec, wal_ec;
    const auto size = std::filesystem::file_size(path, ec);
    const auto wal = std::filesystem::file_size(path + "-wal", wal_ec);
    if (!ec && size == 0 && (wal_ec || wal == 0)) {
      return Status::Corruption(path +
                                " is empty (0 bytes): not a Parley store. Restore it from a "
                                "backup, or remove it to start a new, empty server");
    }
  }

  auto writer = std::make_unique<Conn>();
  Status s = writer->Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!s.ok()) return s;

  // WAL: readers never block the writer nor the writer them.
  {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(writer->db, "PRAGMA journal_mode = WAL", -1, &stmt, nullptr);
    std::string mode;
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(stmt, 0);
      if (p != nullptr) mode = reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) return SqliteError(rc, writer->db, "PRAGMA journal_mode");
    if (mode != "wal") return Status::IOError("cannot enable WAL mode (got '" + mode + "')");
  }
  // Durability. With WAL, synchronous=NORMAL already survives a kill -9 of
  // the process (a commit is in the OS page cache once COMMIT returns) but
  // may lose the last commits on power loss or an OS crash. FULL also fsyncs
  // the WAL at every commit, so an acknowledged write survives power loss
  // too; group commit amortizes that fsync over every batch of a commit.
  s = writer->Exec(options.sync_every_commit ? "PRAGMA synchronous = FULL"
                                             : "PRAGMA synchronous = NORMAL");
  if (!s.ok()) return s;

  s = Migrate(*writer);
  if (!s.ok()) return s;

  out->reset(new SqliteStore(path, std::move(writer)));
  return Status::OK();
}

Status SqliteStore::ReadConn(Conn** conn) {
  return readers_.Get(
      [this](std::unique_ptr<Conn>* out) {
        auto c = std::make_unique<Conn>();
        Status s = c->Open(path_, SQLITE_OPEN_READONLY);
        if (s.ok()) *out = std::move(c);
        return s;
      },
      conn);
}

Status SqliteStore::LoadAll(Snapshot* out) {
  *out = Snapshot();
  Conn* c = nullptr;
  Status s = ReadConn(&c);
  if (!s.ok()) return s;
  ReadTxn txn(*c);
  if (!txn.status().ok()) return txn.status();

  {
    Query q(*c, kLoadUsers);
    while (q.Next()) {
      User& u = out->users.emplace_back();
      u.id = q.U64(0);
      u.username = q.Text(1);
      u.global_name = q.Text(2);
      u.bot = q.Bool(3);
      u.password_hash = q.Text(4);
      u.owner_id = q.U64(5);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadApplications);
    while (q.Next()) {
      Application& a = out->applications.emplace_back();
      a.id = q.U64(0);
      a.name = q.Text(1);
      a.owner_id = q.U64(2);
      a.flags = q.U64(3);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadSessions);
    while (q.Next()) {
      Session& x = out->sessions.emplace_back();
      std::string_view hash = q.Blob(0);
      if (hash.size() != x.hash.size()) return Status::Corruption("sessions.hash is not 32 bytes");
      std::memcpy(x.hash.data(), hash.data(), hash.size());
      x.user_id = q.U64(1);
      x.created_ms = q.Int(2);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadGuilds);
    while (q.Next()) {
      Guild& g = out->guilds.emplace_back();
      g.id = q.U64(0);
      g.name = q.Text(1);
      g.owner_id = q.U64(2);
      g.description = q.Text(3);
      g.icon = q.Text(4);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadChannels);
    while (q.Next()) {
      Channel& ch = out->channels.emplace_back();
      ch.id = q.U64(0);
      ch.guild_id = q.U64(1);
      ch.type = q.Int32(2);
      ch.name = q.Text(3);
      ch.topic = q.Text(4);
      ch.position = q.Int32(5);
      ch.parent_id = q.U64(6);
      ch.nsfw = q.Bool(7);
      ch.rate_limit_per_user = q.Int32(8);
      if (!DecodeOverwrites(q.Text(9), &ch.overwrites)) {
        return Status::Corruption("channels.overwrites of channel " + std::to_string(ch.id));
      }
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadRoles);
    while (q.Next()) {
      Role& r = out->roles.emplace_back();
      r.id = q.U64(0);
      r.guild_id = q.U64(1);
      r.name = q.Text(2);
      r.permissions = q.U64(3);
      r.position = q.Int32(4);
      r.color = static_cast<uint32_t>(q.Int(5));
      r.hoist = q.Bool(6);
      r.mentionable = q.Bool(7);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadMembers);
    while (q.Next()) {
      Member& m = out->members.emplace_back();
      m.guild_id = q.U64(0);
      m.user_id = q.U64(1);
      m.nick = q.Text(2);
      if (!DecodeRoles(q.Text(3), &m.roles)) {
        return Status::Corruption("members.roles of user " + std::to_string(m.user_id));
      }
      m.joined_at_ms = q.Int(4);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadInvites);
    while (q.Next()) {
      Invite& i = out->invites.emplace_back();
      i.code = q.Text(0);
      i.guild_id = q.U64(1);
      i.channel_id = q.U64(2);
      i.inviter_id = q.U64(3);
      i.created_ms = q.Int(4);
      i.max_age = q.Int32(5);
      i.max_uses = q.Int32(6);
      i.uses = q.Int32(7);
      i.temporary = q.Bool(8);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadCommands);
    while (q.Next()) {
      ApplicationCommand& x = out->commands.emplace_back();
      x.id = q.U64(0);
      x.application_id = q.U64(1);
      x.guild_id = q.U64(2);
      x.type = q.Int32(3);
      x.name = q.Text(4);
      x.version = q.U64(5);
      x.body = q.Text(6);
    }
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadLastMessageIds);
    while (q.Next()) out->last_message_ids.emplace_back(q.U64(0), q.U64(1));
    if (!q.status().ok()) return q.status();
  }
  {
    Query q(*c, kLoadPosition);
    if (!q.Next())
      return q.status().ok() ? Status::Corruption("commit_head has no row") : q.status();
    out->position = q.U64(0);
  }
  return RunStmt(*c, kCommit);
}

Status SqliteStore::CommitBatches(std::span<const WriteBatch* const> batches,
                                  CommitPosition* position) {
  if (batches.empty()) return Status::OK();
  Status s = RunStmt(*writer_, kBeginImmediate);
  if (!s.ok()) return s;
  return FinishTransaction(batches, position);
}

Status SqliteStore::CommitBuilt(const BuildFn& build, CommitPosition* position) {
  Conn& c = *writer_;
  // BEGIN IMMEDIATE takes the database's write lock, which orders commits.
  Status s = RunStmt(c, kBeginImmediate);
  if (!s.ok()) return s;
  CommitPosition head = 0;
  {
    Query q(c, kLoadPosition);
    if (q.Next()) head = q.U64(0);
    s = q.status();
  }
  WriteBatch batch;
  if (s.ok()) s = build(head, &batch);
  if (!s.ok() || batch.empty()) {
    RunStmt(c, kRollback);
    return s;
  }
  const WriteBatch* one[] = {&batch};
  return FinishTransaction(std::span<const WriteBatch* const>(one, 1), position);
}

Status SqliteStore::FinishTransaction(std::span<const WriteBatch* const> batches,
                                      CommitPosition* position) {
  Conn& c = *writer_;
  Status s = ApplyBatches(batches);
  CommitPosition pos = 0;
  if (s.ok()) {
    Query q(c, kBumpPosition);
    if (q.Next()) pos = q.U64(0);
    s = q.status();
    if (s.ok() && pos == 0) s = Status::Corruption("commit_head has no row");
  }
  if (s.ok()) s = RunStmt(c, kCommit);
  // A failed statement leaves the transaction open; so may a failed COMMIT.
  if (!s.ok() && sqlite3_get_autocommit(c.db) == 0) RunStmt(c, kRollback);
  if (s.ok() && position != nullptr) *position = pos;
  return s;
}

Status SqliteStore::ApplyBatches(std::span<const WriteBatch* const> batches) {
  Applier apply(*writer_);
  for (const WriteBatch* batch : batches) {
    for (const Mutation& m : *batch) {
      Status s = std::visit(apply, m);
      if (!s.ok()) return s;
    }
  }
  return Status::OK();
}

Status SqliteStore::GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) {
  Conn* c = nullptr;
  Status s = ReadConn(&c);
  if (!s.ok()) return s;
  Query q(*c, kGetMessage);
  q.Bind(ToDb(channel_id)).Bind(ToDb(message_id));
  if (q.Next()) {
    RowToMessage(q, out);
    return Status::OK();
  }
  if (!q.status().ok()) return q.status();
  return Status::NotFound("message " + std::to_string(message_id) + " not in channel " +
                          std::to_string(channel_id));
}

Status SqliteStore::ListMessages(const HistoryQuery& hq, std::vector<Message>* out) {
  out->clear();
  if (hq.limit < 1 || hq.limit > 100) {
    return Status::InvalidArgument("history limit must be 1..100, got " + std::to_string(hq.limit));
  }
  Conn* c = nullptr;
  Status s = ReadConn(&c);
  if (!s.ok()) return s;
  const int64_t channel = ToDb(hq.channel_id);
  const int64_t anchor = AnchorToDb(hq.anchor);
  out->reserve(static_cast<size_t>(hq.limit));

  switch (hq.mode) {
    case HistoryQuery::Mode::kLatest: {
      Query q(*c, kListLatest);
      q.Bind(channel).Bind(hq.limit);
      return ReadMessages(q, out);
    }
    case HistoryQuery::Mode::kBefore: {
      if (hq.anchor > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        // Above every storable id: the newest page (a clamp to INT64_MAX
        // with "<" would drop a message with that id).
        Query q(*c, kListLatest);
        q.Bind(channel).Bind(hq.limit);
        return ReadMessages(q, out);
      }
      Query q(*c, kListBefore);
      q.Bind(channel).Bind(anchor).Bind(hq.limit);
      return ReadMessages(q, out);
    }
    case HistoryQuery::Mode::kAfter: {
      // The oldest `limit` after the anchor, then newest first.
      Query q(*c, kListAfterAscending);
      q.Bind(channel).Bind(anchor).Bind(hq.limit);
      s = ReadMessages(q, out);
      std::reverse(out->begin(), out->end());
      return s;
    }
    case HistoryQuery::Mode::kAround: {
      const int older = (hq.limit + 1) / 2;  // id <= anchor, includes the anchor
      const int newer = hq.limit / 2;        // id > anchor
      ReadTxn txn(*c);                       // both halves from one snapshot
      if (!txn.status().ok()) return txn.status();
      if (newer > 0) {
        Query q(*c, kListAfterAscending);
        q.Bind(channel).Bind(anchor).Bind(newer);
        s = ReadMessages(q, out);
        if (!s.ok()) return s;
        std::reverse(out->begin(), out->end());
      }
      Query q(*c, kListAtOrBefore);
      q.Bind(channel).Bind(anchor).Bind(older);
      s = ReadMessages(q, out);
      if (!s.ok()) return s;
      return Status::OK();  // ~ReadTxn ends the read transaction
    }
  }
  return Status::InvalidArgument("unknown history mode");
}

Status SqliteStore::ScanMessages(const MessageKey& after, int limit, std::vector<Message>* out) {
  out->clear();
  if (limit < 1) return Status::InvalidArgument("scan limit must be positive");
  Conn* c = nullptr;
  Status s = ReadConn(&c);
  if (!s.ok()) return s;
  Query q(*c, kScanMessages);
  q.Bind(AnchorToDb(after.channel_id)).Bind(AnchorToDb(after.id)).Bind(limit);
  return ReadMessages(q, out);
}

Status SqliteStore::CountMessages(uint64_t* n) {
  Conn* c = nullptr;
  Status s = ReadConn(&c);
  if (!s.ok()) return s;
  Query q(*c, kCountMessages);
  if (q.Next()) *n = q.U64(0);
  return q.status();
}

}  // namespace parley
