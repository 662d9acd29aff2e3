#include "store/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string_view>
#include <utility>
#include <variant>

#include "store/batch_codec.h"
#include "store/postgres_conn.h"
#include "store/record_encoding.h"
#include "util/time_format.h"

namespace parley {

using store_encoding::AsciiLower;
using store_encoding::DecodeOverwrites;
using store_encoding::DecodeRoles;
using store_encoding::EncodeOverwrites;
using store_encoding::EncodeRoles;
using store_internal::Exec;
using store_internal::Params;
using store_internal::PgConn;
using store_internal::Pipeline;
using store_internal::Row;
using store_internal::RunRead;
using store_internal::ToDb;
using store_internal::Trimmed;

// ---------------------------------------------------------------------------
// Schema. Each entry migrates version i to version i + 1 (parley_schema.version);
// Migrate runs it with the custom setting parley.message_partitions set to
// Options::message_partitions. To change the schema, append a step; never
// edit a step that has shipped.
//
// Ids and other uint64 values are BIGINT via a static_cast to int64, as in
// SqliteStore (snowflakes keep their top bit 0; bit masks round-trip through
// the cast); small ints are INTEGER, booleans BOOLEAN, strings TEXT.
// members.roles and channels.overwrites use record_encoding's encodings.
// Keys compared as strings (username_lower, invite codes) use the "C"
// collation: byte order, as in SQLite, whatever the database's locale.
// parley_next_position() bumps the commit head and fails (SQLSTATE XX001)
// rather than commit without a position if its row is missing.
namespace {

constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE parley_schema(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  message_partitions INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  migrated_at TIMESTAMPTZ NOT NULL DEFAULT now());
INSERT INTO parley_schema(id, version, message_partitions)
  VALUES(1, 0, current_setting('parley.message_partitions')::INTEGER);
CREATE TABLE parley_commit_head(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  position BIGINT NOT NULL);
INSERT INTO parley_commit_head(id, position) VALUES(1, 0);
CREATE FUNCTION parley_next_position() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
  p BIGINT;
BEGIN
  UPDATE parley_commit_head SET position = position + 1 WHERE id = 1 RETURNING position INTO p;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'parley_commit_head has no row' USING ERRCODE = 'data_corrupted';
  END IF;
  RETURN p;
END
$$;
CREATE TABLE users(
  id BIGINT PRIMARY KEY,
  username TEXT NOT NULL,
  username_lower TEXT COLLATE "C" NOT NULL UNIQUE,
  global_name TEXT NOT NULL,
  bot BOOLEAN NOT NULL,
  password_hash TEXT NOT NULL,
  owner_id BIGINT NOT NULL);
CREATE TABLE applications(
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id BIGINT NOT NULL,
  flags BIGINT NOT NULL);
CREATE TABLE sessions(
  hash BYTEA PRIMARY KEY,
  user_id BIGINT NOT NULL,
  created_ms BIGINT NOT NULL);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE guilds(
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id BIGINT NOT NULL,
  description TEXT NOT NULL,
  icon TEXT NOT NULL);
CREATE TABLE channels(
  id BIGINT PRIMARY KEY,
  guild_id BIGINT NOT NULL,
  type INTEGER NOT NULL,
  name TEXT NOT NULL,
  topic TEXT NOT NULL,
  position INTEGER NOT NULL,
  parent_id BIGINT NOT NULL,
  nsfw BOOLEAN NOT NULL,
  rate_limit_per_user INTEGER NOT NULL,
  overwrites TEXT NOT NULL);
CREATE INDEX channels_by_guild ON channels(guild_id);
CREATE TABLE roles(
  id BIGINT PRIMARY KEY,
  guild_id BIGINT NOT NULL,
  name TEXT NOT NULL,
  permissions BIGINT NOT NULL,
  position INTEGER NOT NULL,
  color BIGINT NOT NULL,
  hoist BOOLEAN NOT NULL,
  mentionable BOOLEAN NOT NULL);
CREATE INDEX roles_by_guild ON roles(guild_id);
CREATE TABLE members(
  guild_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  nick TEXT NOT NULL,
  roles TEXT NOT NULL,
  joined_at_ms BIGINT NOT NULL,
  PRIMARY KEY(guild_id, user_id));
CREATE TABLE invites(
  code TEXT COLLATE "C" PRIMARY KEY,
  guild_id BIGINT NOT NULL,
  channel_id BIGINT NOT NULL,
  inviter_id BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  max_age INTEGER NOT NULL,
  max_uses INTEGER NOT NULL,
  uses INTEGER NOT NULL,
  temporary BOOLEAN NOT NULL);
CREATE INDEX invites_by_guild ON invites(guild_id);
CREATE INDEX invites_by_channel ON invites(channel_id);
CREATE TABLE messages(
  channel_id BIGINT NOT NULL,
  id BIGINT NOT NULL,
  guild_id BIGINT NOT NULL,
  author_id BIGINT NOT NULL,
  content TEXT NOT NULL,
  edited_ms BIGINT NOT NULL,
  tts BOOLEAN NOT NULL,
  pinned BOOLEAN NOT NULL,
  type INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  PRIMARY KEY(channel_id, id)) PARTITION BY HASH (channel_id);
DO $$
DECLARE
  n INTEGER := current_setting('parley.message_partitions')::INTEGER;
BEGIN
  FOR i IN 0 .. n - 1 LOOP
    EXECUTE format('CREATE TABLE messages_p%s PARTITION OF messages '
                   'FOR VALUES WITH (MODULUS %s, REMAINDER %s)', i, n, i);
  END LOOP;
END
$$;
)sql",
    // 2: the log of commits that other nodes follow (docs/cluster.md),
    // written only by stores opened with Options::commit_log.
    R"sql(
CREATE TABLE parley_log(
  position BIGINT PRIMARY KEY,
  node INTEGER NOT NULL,
  committed_ms BIGINT NOT NULL,
  batches BYTEA NOT NULL);
)sql",
    // 3: the greatest id a commit minted (CommitMinted), so that ids
    // increase in commit order across nodes (docs/cluster.md).
    // parley_claim_ids(lo, hi), a commit's first statement: takes the
    // commit order lock and, if every id minted so far is below lo, raises
    // max_id to hi; else fails with SQLSTATE PY001 (the commit then mints
    // again under the lock).
    R"sql(
ALTER TABLE parley_commit_head ADD COLUMN max_id BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION parley_claim_ids(lo BIGINT, hi BIGINT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
  UPDATE parley_commit_head SET max_id = hi WHERE id = 1 AND max_id < lo;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ids minted below the commit head''s max_id' USING ERRCODE = 'PY001';
  END IF;
END
$$;
)sql",
    // 4: embeds and message_reference (replies). A constant default: no
    // table rewrite.
    R"sql(
ALTER TABLE messages ADD COLUMN embeds TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN ref_channel_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ref_message_id BIGINT NOT NULL DEFAULT 0;
)sql",
    // 5: application commands.
    R"sql(
CREATE TABLE application_commands(
  id BIGINT PRIMARY KEY,
  application_id BIGINT NOT NULL,
  guild_id BIGINT NOT NULL,
  type INTEGER NOT NULL,
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX application_commands_by_guild ON application_commands(guild_id);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr const char* kSeedMaxId =
    "UPDATE parley_commit_head SET max_id = (SELECT COALESCE(MAX(id), 0) FROM messages) "
    "WHERE id = 1 AND max_id = 0";

// The advisory lock every migration holds ("parley" in ASCII). Advisory
// locks are per database, so stores in other databases never wait on it.
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(x'7061726c6579'::BIGINT)";

// Per-statement time limits of reads, set transaction-locally so that no
// session state is left behind (pgbouncer).
constexpr const char* kReadTimeoutSql = "SELECT set_config('statement_timeout', '30s', true)";
// LoadAll reads whole tables at start-up, which may take long on a big store.
constexpr const char* kLoadTimeoutSql = "SELECT set_config('statement_timeout', '10min', true)";

#define PARLEY_MESSAGE_COLUMNS                                                                  \
  "channel_id, id, guild_id, author_id, content, edited_ms, tts, pinned, type, flags, embeds, " \
  "ref_channel_id, ref_message_id"

// The writer's statements (sent unnamed, see kSyncCommitOn).
enum WriterStmt : int {
  kBegin,
  kCommit,
  kNextPosition,
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
  kDropRoleFromMembers,
  kDeleteRole,
  kPutMember,
  kDeleteMember,
  kPutInvite,
  kDeleteInvite,
  kPutCommand,
  kDeleteCommand,
  kInsertMessage,
  kUpdateMessage,
  kDeleteMessages,
  kNumWriterStmts
};

constexpr std::array<const char*, kNumWriterStmts> kWriterSql = {
    // kBegin: READ COMMITTED whatever the server's default, so that a
    // writer waiting on the commit head (held by another process) bumps the
    // value that one committed instead of failing to serialize.
    "BEGIN ISOLATION LEVEL READ COMMITTED",
    "COMMIT",
    // kNextPosition: the row lock it takes is held until COMMIT, so the
    // positions of all processes' commits follow their commit order.
    "SELECT parley_next_position()",
    // kPutUser. An upsert on id only: a clash on username_lower with another
    // row is a unique violation.
    "INSERT INTO users(id, username, username_lower, global_name, bot, password_hash, owner_id) "
    "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO UPDATE SET "
    "username = excluded.username, username_lower = excluded.username_lower, "
    "global_name = excluded.global_name, bot = excluded.bot, "
    "password_hash = excluded.password_hash, owner_id = excluded.owner_id",
    // kPutApplication
    "INSERT INTO applications(id, name, owner_id, flags) VALUES($1, $2, $3, $4) "
    "ON CONFLICT(id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, "
    "flags = excluded.flags",
    // kPutSession
    "INSERT INTO sessions(hash, user_id, created_ms) VALUES($1, $2, $3) "
    "ON CONFLICT(hash) DO UPDATE SET user_id = excluded.user_id, "
    "created_ms = excluded.created_ms",
    // kDeleteSession
    "DELETE FROM sessions WHERE hash = $1",
    // kDeleteUserSessions
    "DELETE FROM sessions WHERE user_id = $1",
    // kPutGuild
    "INSERT INTO guilds(id, name, owner_id, description, icon) VALUES($1, $2, $3, $4, $5) "
    "ON CONFLICT(id) DO UPDATE SET name = excluded.name, owner_id = excluded.owner_id, "
    "description = excluded.description, icon = excluded.icon",
    // kDeleteGuildMessages: before the channels they are found through; one
    // primary-key range per channel (in whichever partition holds it).
    "DELETE FROM messages WHERE channel_id IN (SELECT id FROM channels WHERE guild_id = $1)",
    // kDeleteGuildInvites
    "DELETE FROM invites WHERE guild_id = $1",
    // kDeleteGuildChannels
    "DELETE FROM channels WHERE guild_id = $1",
    // kDeleteGuildRoles
    "DELETE FROM roles WHERE guild_id = $1",
    // kDeleteGuildMembers
    "DELETE FROM members WHERE guild_id = $1",
    // kDeleteGuildCommands
    "DELETE FROM application_commands WHERE guild_id = $1",
    // kDeleteGuild
    "DELETE FROM guilds WHERE id = $1",
    // kPutChannel
    "INSERT INTO channels(id, guild_id, type, name, topic, position, parent_id, nsfw, "
    "rate_limit_per_user, overwrites) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT(id) DO UPDATE SET guild_id = excluded.guild_id, type = excluded.type, "
    "name = excluded.name, topic = excluded.topic, position = excluded.position, "
    "parent_id = excluded.parent_id, nsfw = excluded.nsfw, "
    "rate_limit_per_user = excluded.rate_limit_per_user, overwrites = excluded.overwrites",
    // kDeleteChannelMessages
    "DELETE FROM messages WHERE channel_id = $1",
    // kDeleteChannelInvites
    "DELETE FROM invites WHERE channel_id = $1",
    // kDeleteChannel
    "DELETE FROM channels WHERE id = $1",
    // kPutRole
    "INSERT INTO roles(id, guild_id, name, permissions, position, color, hoist, mentionable) "
    "VALUES($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT(id) DO UPDATE SET "
    "guild_id = excluded.guild_id, name = excluded.name, permissions = excluded.permissions, "
    "position = excluded.position, color = excluded.color, hoist = excluded.hoist, "
    "mentionable = excluded.mentionable",
    // kDropRoleFromMembers: $2 is ",<role id>,", $3 "<role id>". Rewrites
    // ",a,b," as EncodeRoles(DecodeRoles(roles) minus every $3) would, in
    // SQL, so that a role deletion costs no round trip: split, drop, join,
    // and "" for an empty list.
    "UPDATE members SET roles = COALESCE(',' || NULLIF(array_to_string(array_remove("
    "string_to_array(trim(BOTH ',' FROM roles), ','), $3), ','), '') || ',', '') "
    "WHERE guild_id = $1 AND strpos(roles, $2) > 0",
    // kDeleteRole
    "DELETE FROM roles WHERE guild_id = $1 AND id = $2",
    // kPutMember
    "INSERT INTO members(guild_id, user_id, nick, roles, joined_at_ms) "
    "VALUES($1, $2, $3, $4, $5) ON CONFLICT(guild_id, user_id) DO UPDATE SET "
    "nick = excluded.nick, roles = excluded.roles, joined_at_ms = excluded.joined_at_ms",
    // kDeleteMember
    "DELETE FROM members WHERE guild_id = $1 AND user_id = $2",
    // kPutInvite
    "INSERT INTO invites(code, guild_id, channel_id, inviter_id, created_ms, max_age, "
    "max_uses, uses, temporary) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT(code) DO UPDATE SET guild_id = excluded.guild_id, "
    "channel_id = excluded.channel_id, inviter_id = excluded.inviter_id, "
    "created_ms = excluded.created_ms, max_age = excluded.max_age, "
    "max_uses = excluded.max_uses, uses = excluded.uses, temporary = excluded.temporary",
    // kDeleteInvite
    "DELETE FROM invites WHERE code = $1",
    // kPutCommand
    "INSERT INTO application_commands(id, application_id, guild_id, type, name, version, body) "
    "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO UPDATE SET "
    "application_id = excluded.application_id, guild_id = excluded.guild_id, "
    "type = excluded.type, name = excluded.name, version = excluded.version, "
    "body = excluded.body",
    // kDeleteCommand
    "DELETE FROM application_commands WHERE id = $3 AND application_id = $1 AND guild_id = $2",
    // kInsertMessage: a plain INSERT, a duplicate key is an error.
    "INSERT INTO messages(" PARLEY_MESSAGE_COLUMNS
    ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    // kUpdateMessage
    "UPDATE messages SET content = $3, edited_ms = $4, pinned = $5, flags = $6, embeds = $7 "
    "WHERE channel_id = $1 AND id = $2",
    // kDeleteMessages: $2 is an array of ids.
    "DELETE FROM messages WHERE channel_id = $1 AND id = ANY($2)",
};

// Readers' statements: unnamed (parsed at each use, which also plans each
// history page for its own channel id, so that only its partition is in
// the plan).
constexpr const char* kLoadUsers =
    "SELECT id, username, global_name, bot, password_hash, owner_id FROM users ORDER BY id";
constexpr const char* kLoadApplications =
    "SELECT id, name, owner_id, flags FROM applications ORDER BY id";
constexpr const char* kLoadSessions =
    "SELECT hash, user_id, created_ms FROM sessions ORDER BY hash";
constexpr const char* kLoadGuilds =
    "SELECT id, name, owner_id, description, icon FROM guilds ORDER BY id";
constexpr const char* kLoadChannels =
    "SELECT id, guild_id, type, name, topic, position, parent_id, nsfw, rate_limit_per_user, "
    "overwrites FROM channels ORDER BY id";
constexpr const char* kLoadRoles =
    "SELECT id, guild_id, name, permissions, position, color, hoist, mentionable FROM roles "
    "ORDER BY id";
constexpr const char* kLoadMembers =
    "SELECT guild_id, user_id, nick, roles, joined_at_ms FROM members ORDER BY guild_id, user_id";
constexpr const char* kLoadInvites =
    "SELECT code, guild_id, channel_id, inviter_id, created_ms, max_age, max_uses, uses, "
    "temporary FROM invites ORDER BY code";
constexpr const char* kLoadCommands =
    "SELECT id, application_id, guild_id, type, name, version, body FROM application_commands "
    "ORDER BY id";
// A skip scan over the distinct channel ids of the primary keys, then one
// seek per channel: O(channels * partitions * log(messages)) rather than a
// scan of every message.
constexpr const char* kLoadLastMessageIds =
    "WITH RECURSIVE ch(cid) AS ("
    "  SELECT min(channel_id) FROM messages"
    "  UNION ALL"
    "  SELECT (SELECT min(m.channel_id) FROM messages m WHERE m.channel_id > ch.cid) FROM ch"
    "  WHERE ch.cid IS NOT NULL) "
    "SELECT cid, (SELECT max(m.id) FROM messages m WHERE m.channel_id = ch.cid) FROM ch "
    "WHERE cid IS NOT NULL ORDER BY cid";
constexpr const char* kLoadPosition = "SELECT position FROM parley_commit_head WHERE id = 1";
constexpr const char* kGetMessage =
    "SELECT " PARLEY_MESSAGE_COLUMNS " FROM messages WHERE channel_id = $1 AND id = $2";
constexpr const char* kListLatest = "SELECT " PARLEY_MESSAGE_COLUMNS
                                    " FROM messages WHERE channel_id = $1 "
                                    "ORDER BY id DESC LIMIT $2";
constexpr const char* kListBefore = "SELECT " PARLEY_MESSAGE_COLUMNS
                                    " FROM messages WHERE channel_id = $1 AND id < $2 "
                                    "ORDER BY id DESC LIMIT $3";
constexpr const char* kListAfterAscending = "SELECT " PARLEY_MESSAGE_COLUMNS
                                            " FROM messages WHERE channel_id = $1 AND id > $2 "
                                            "ORDER BY id ASC LIMIT $3";
// Both halves in one statement, hence from one snapshot.
constexpr const char* kListAround =
    "SELECT * FROM ("
    "(SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE channel_id = $1 AND id <= $2 ORDER BY id DESC LIMIT $3) "
    "UNION ALL "
    "(SELECT " PARLEY_MESSAGE_COLUMNS
    " FROM messages WHERE channel_id = $1 AND id > $2 ORDER BY id ASC LIMIT $4)"
    ") page ORDER BY id DESC";
constexpr const char* kScanMessages = "SELECT " PARLEY_MESSAGE_COLUMNS
                                      " FROM messages WHERE (channel_id, id) > ($1, $2) "
                                      "ORDER BY channel_id, id LIMIT $3";
constexpr const char* kCountMessages = "SELECT count(*) FROM messages";
// After parley_next_position() in the same transaction: the row it bumped
// holds this commit's position.
constexpr const char* kAppendLog =
    "INSERT INTO parley_log(position, node, committed_ms, batches) "
    "SELECT position, $1, $2, $3 FROM parley_commit_head WHERE id = 1";
// CommitBuilt's and CommitMinted's first statement: the commit order lock,
// the head, and the greatest id minted so far.
constexpr const char* kLockHead =
    "SELECT position, max_id FROM parley_commit_head WHERE id = 1 FOR UPDATE";
// CommitMinted, before parley_next_position(), under the lock.
constexpr const char* kRaiseMaxId =
    "UPDATE parley_commit_head SET max_id = GREATEST(max_id, $1) WHERE id = 1";
// CommitMinted's one-exchange path: its first statement after BEGIN.
constexpr const char* kClaimIds = "SELECT parley_claim_ids($1, $2)";
constexpr const char* kClaimRefused = "PY001";
// One trimmer at a time (a transaction-level advisory lock; the others
// skip): a range of the primary key, so no scan of what stays.
constexpr const char* kTrimLog =
    "WITH l AS (SELECT pg_try_advisory_xact_lock(7248517) AS got) "
    "DELETE FROM parley_log WHERE position < $1 AND (SELECT got FROM l)";
constexpr const char* kReadLog =
    "SELECT position, node, committed_ms, batches FROM parley_log WHERE position > $1 "
    "ORDER BY position LIMIT $2";

#undef PARLEY_MESSAGE_COLUMNS

// The largest id a store can hold.
constexpr uint64_t kMaxStoredId = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// An anchor id as a bound for comparisons against stored ids: ids above
// INT64_MAX cannot be stored, so they clamp to INT64_MAX. (Exact for "> a",
// ">= a" and "<= a"; "< a" needs care when a > INT64_MAX.)
inline int64_t AnchorToDb(Snowflake id) {
  return static_cast<int64_t>(std::min<uint64_t>(id, kMaxStoredId));
}

// Columns in PARLEY_MESSAGE_COLUMNS order.
void RowToMessage(const Row& q, Message* m) {
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

// Appends every row of `r` to *out, in row order.
void ReadMessages(const PGresult* r, std::vector<Message>* out) {
  const int n = PQntuples(r);
  out->reserve(out->size() + static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    out->emplace_back();
    RowToMessage(Row(r, i), &out->back());
  }
}

// ---------------------------------------------------------------------------
// Writes.

// The writer's statements are sent unnamed (parsed with each commit), never
// prepared: a prepared statement lives in one server session, which a pooler
// in transaction mode (pgbouncer 1.18) does not keep. Measured on this
// machine (bench/rest.sh writes, STORE=postgres, 2026-12-02): 25,540 vs
// 26,500 acknowledged posts/s prepared, about 4% for working behind any
// pooler. For the same reason durability is set per transaction (SET LOCAL
// after BEGIN), never per session.
constexpr const char* kSyncCommitOn = "SET LOCAL synchronous_commit TO on";
constexpr const char* kSyncCommitOff = "SET LOCAL synchronous_commit TO off";

// Queues the statements of one Mutation on the writer's pipeline, and
// remembers which mutation each statement belongs to (for the messages of
// conflicts).
class Applier {
 public:
  Applier(Pipeline& p, std::vector<const Mutation*>* owners) : p_(p), owners_(owners) {}

  void Apply(const Mutation& m) {
    current_ = &m;
    std::visit(*this, m);
    current_ = nullptr;
  }
  int Queue(WriterStmt id, const Params& params, bool keep = false) {
    return QueueSql(kWriterSql[id], params, keep);
  }
  int QueueSql(const char* sql, const Params& params, bool keep = false) {
    owners_->push_back(current_);
    return p_.Sql(sql, params, keep);
  }

  void operator()(const mut::PutUser& m) {
    const User& u = m.user;
    std::string lower = AsciiLower(u.username);
    Params p;
    p.Int(ToDb(u.id))
        .Text(u.username)
        .Text(lower)
        .Text(u.global_name)
        .Bool(u.bot)
        .Text(u.password_hash)
        .Int(ToDb(u.owner_id));
    Queue(kPutUser, p);
  }
  void operator()(const mut::PutApplication& m) {
    const Application& a = m.app;
    Params p;
    p.Int(ToDb(a.id)).Text(a.name).Int(ToDb(a.owner_id)).Int(ToDb(a.flags));
    Queue(kPutApplication, p);
  }
  void operator()(const mut::PutSession& m) {
    const Session& s = m.session;
    Params p;
    p.Bytes(s.hash.data(), s.hash.size()).Int(ToDb(s.user_id)).Int(s.created_ms);
    Queue(kPutSession, p);
  }
  void operator()(const mut::DeleteSession& m) {
    Params p;
    p.Bytes(m.hash.data(), m.hash.size());
    Queue(kDeleteSession, p);
  }
  void operator()(const mut::DeleteUserSessions& m) {
    Params p;
    p.Int(ToDb(m.user_id));
    Queue(kDeleteUserSessions, p);
  }
  void operator()(const mut::PutGuild& m) {
    const Guild& g = m.guild;
    Params p;
    p.Int(ToDb(g.id)).Text(g.name).Int(ToDb(g.owner_id)).Text(g.description).Text(g.icon);
    Queue(kPutGuild, p);
  }
  void operator()(const mut::DeleteGuild& m) {
    Params p;
    p.Int(ToDb(m.guild_id));
    // Messages first: they are found through the guild's channels.
    for (WriterStmt id :
         {kDeleteGuildMessages, kDeleteGuildInvites, kDeleteGuildChannels, kDeleteGuildRoles,
          kDeleteGuildMembers, kDeleteGuildCommands, kDeleteGuild}) {
      Queue(id, p);
    }
  }
  void operator()(const mut::PutChannel& m) {
    const Channel& ch = m.channel;
    std::string overwrites = EncodeOverwrites(ch.overwrites);
    Params p;
    p.Int(ToDb(ch.id))
        .Int(ToDb(ch.guild_id))
        .Int(ch.type)
        .Text(ch.name)
        .Text(ch.topic)
        .Int(ch.position)
        .Int(ToDb(ch.parent_id))
        .Bool(ch.nsfw)
        .Int(ch.rate_limit_per_user)
        .Text(overwrites);
    Queue(kPutChannel, p);
  }
  void operator()(const mut::DeleteChannel& m) {
    Params p;
    p.Int(ToDb(m.channel_id));
    for (WriterStmt id : {kDeleteChannelMessages, kDeleteChannelInvites, kDeleteChannel}) {
      Queue(id, p);
    }
  }
  void operator()(const mut::PutRole& m) {
    const Role& r = m.role;
    Params p;
    p.Int(ToDb(r.id))
        .Int(ToDb(r.guild_id))
        .Text(r.name)
        .Int(ToDb(r.permissions))
        .Int(r.position)
        .Int(r.color)
        .Bool(r.hoist)
        .Bool(r.mentionable);
    Queue(kPutRole, p);
  }
  void operator()(const mut::DeleteRole& m) {
    const std::string id = std::to_string(m.role_id);
    const std::string needle = "," + id + ",";
    Params drop;
    drop.Int(ToDb(m.guild_id)).Text(needle).Text(id);
    Queue(kDropRoleFromMembers, drop);
    Params del;
    del.Int(ToDb(m.guild_id)).Int(ToDb(m.role_id));
    Queue(kDeleteRole, del);
  }
  void operator()(const mut::PutMember& m) {
    const Member& mb = m.member;
    std::string roles = EncodeRoles(mb.roles);
    Params p;
    p.Int(ToDb(mb.guild_id)).Int(ToDb(mb.user_id)).Text(mb.nick).Text(roles).Int(mb.joined_at_ms);
    Queue(kPutMember, p);
  }
  void operator()(const mut::DeleteMember& m) {
    Params p;
    p.Int(ToDb(m.guild_id)).Int(ToDb(m.user_id));
    Queue(kDeleteMember, p);
  }
  void operator()(const mut::PutInvite& m) {
    const Invite& i = m.invite;
    Params p;
    p.Text(i.code)
        .Int(ToDb(i.guild_id))
        .Int(ToDb(i.channel_id))
        .Int(ToDb(i.inviter_id))
        .Int(i.created_ms)
        .Int(i.max_age)
        .Int(i.max_uses)
        .Int(i.uses)
        .Bool(i.temporary);
    Queue(kPutInvite, p);
  }
  void operator()(const mut::DeleteInvite& m) {
    Params p;
    p.Text(m.code);
    Queue(kDeleteInvite, p);
  }
  void operator()(const mut::InsertMessage& m) {
    const Message& msg = m.message;
    Params p;
    p.Int(ToDb(msg.channel_id))
        .Int(ToDb(msg.id))
        .Int(ToDb(msg.guild_id))
        .Int(ToDb(msg.author_id))
        .Text(msg.content)
        .Int(msg.edited_ms)
        .Bool(msg.tts)
        .Bool(msg.pinned)
        .Int(msg.type)
        .Int(msg.flags)
        .Text(msg.embeds)
        .Int(ToDb(msg.ref_channel_id))
        .Int(ToDb(msg.ref_message_id));
    Queue(kInsertMessage, p);
  }
  void operator()(const mut::UpdateMessage& m) {
    const Message& msg = m.message;
    Params p;
    p.Int(ToDb(msg.channel_id))
        .Int(ToDb(msg.id))
        .Text(msg.content)
        .Int(msg.edited_ms)
        .Bool(msg.pinned)
        .Int(msg.flags)
        .Text(msg.embeds);
    Queue(kUpdateMessage, p);
  }
  void operator()(const mut::DeleteMessages& m) {
    if (m.ids.empty()) return;
    Params p;
    p.Int(ToDb(m.channel_id)).IdArray(m.ids);
    Queue(kDeleteMessages, p);
  }
  void operator()(const mut::PutCommand& m) {
    const ApplicationCommand& x = m.command;
    Params p;
    p.Int(ToDb(x.id))
        .Int(ToDb(x.application_id))
        .Int(ToDb(x.guild_id))
        .Int(x.type)
        .Text(x.name)
        .Int(ToDb(x.version))
        .Text(x.body);
    Queue(kPutCommand, p);
  }
  void operator()(const mut::DeleteCommand& m) {
    Params p;
    p.Int(ToDb(m.application_id)).Int(ToDb(m.guild_id)).Int(ToDb(m.id));
    Queue(kDeleteCommand, p);
  }

 private:
  Pipeline& p_;
  std::vector<const Mutation*>* owners_;
  const Mutation* current_ = nullptr;
};

// The Status of a unique violation by `m`, worded as SqliteStore words it.
Status ConflictOf(const Mutation* m, const std::string& pg_message) {
  if (m != nullptr) {
    if (const auto* u = std::get_if<mut::PutUser>(m)) {
      return Status::Conflict("username taken: " + u->user.username);
    }
    if (const auto* im = std::get_if<mut::InsertMessage>(m)) {
      return Status::Conflict("duplicate message id " + std::to_string(im->message.id));
    }
  }
  return Status::Conflict(pg_message);
}

// One attempt at committing `batches` on the writer connection `c` (which
// Ensure made live): one pipeline, BEGIN ... COMMIT. Sets *retry when the
// attempt is known to have changed nothing and failed only because the
// connection did (so that a new connection may succeed).
// WAL positions, as text ("16/B374D848") and as numbers.
constexpr const char* kCurrentLsn = "SELECT pg_current_wal_lsn()::text";
constexpr const char* kReplayLsn = "SELECT pg_last_wal_replay_lsn()::text";
bool ParseLsn(std::string_view text, uint64_t* out) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  uint64_t hi = 0, lo = 0;
  auto a = std::from_chars(text.data(), text.data() + slash, hi, 16);
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
  if (a.ec != std::errc() || b.ec != std::errc()) return false;
  *out = (hi << 32) | lo;
  return true;
}

// `conninfo` in keyword form with target_session_attrs=any (a replica is
// read-only; the default here is read-write), unless it says otherwise.
// "" if it does not parse.
std::string ReplicaConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return std::string();
  }
  auto quoted = [](std::string_view v) {
    std::string q = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') q += '\\';
      q += c;
    }
    return q + "'";
  };
  std::string out;
  bool attrs = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    attrs = attrs || std::string_view(o->keyword) == "target_session_attrs";
    if (!out.empty()) out += ' ';
    out += o->keyword;
    out += '=';
    out += quoted(o->val);
  }
  PQconninfoFree(opts);
  if (!attrs) out += " target_session_attrs=any";
  return out;
}

// With commit_lsn set, also reads the WAL end after the commit (for
// replicas: one that has replayed up to it holds the commit).
// With `log` set, also appends the batches to parley_log under this
// commit's position (log->node names the writer), and leaves in log->encoded
// and log->committed_ms what it wrote.
struct LogAppend {
  int node = 0;
  std::string encoded;
  int64_t committed_ms = 0;
};
// With `begun`, the transaction was begun (and its durability set) by an
// earlier exchange on `c` (CommitBuilt), and this one finishes it.
// CommitMinted: with claim_lo > 0 (and !begun), first claims the ids
// [claim_lo, max_id] (kClaimIds; refused: Status::Busy and *refused); with
// max_id > 0 and no claim, raises the head's max_id to it before the bump.
using store_internal::IdsToCommit;
Status TryCommit(PgConn& c, std::span<const WriteBatch* const> batches, bool sync_commit,
                 bool begun, IdsToCommit ids, LogAppend* log, CommitPosition* position, bool* retry,
                 bool* refused, uint64_t* commit_lsn) {
  *retry = false;
  *refused = false;
  Pipeline p(c.pg);
  std::vector<const Mutation*> owners;
  Applier apply(p, &owners);
  const Params none;
  if (!begun) {
    apply.Queue(kBegin, none);
    apply.QueueSql(sync_commit ? kSyncCommitOn : kSyncCommitOff, none);
  }
  Params claim_params;
  int claim = -1;
  if (ids.claim_lo > 0) {
    claim_params.Int(ToDb(ids.claim_lo)).Int(ToDb(ids.max_id));
    claim = apply.QueueSql(kClaimIds, claim_params);
  }
  for (const WriteBatch* batch : batches) {
    for (const Mutation& m : *batch) apply.Apply(m);
  }
  Params max_params;
  if (ids.max_id > 0 && ids.claim_lo == 0) {
    max_params.Int(ToDb(ids.max_id));
    apply.QueueSql(kRaiseMaxId, max_params);
  }
  const int bump = apply.Queue(kNextPosition, none, /*keep=*/true);
  Params log_params;  // points into log->encoded, which outlives the Run
  if (log != nullptr) {
    log->encoded.clear();
    EncodeBatches(batches, &log->encoded);
    log->committed_ms = NowMs();
    log_params.Int(log->node)
        .Int(log->committed_ms)
        .Bytes(log->encoded.data(), log->encoded.size());
    apply.QueueSql(kAppendLog, log_params);
  }
  const int commit = apply.Queue(kCommit, none);
  const int lsn = commit_lsn != nullptr ? p.Sql(kCurrentLsn, none, /*keep=*/true) : -1;
  p.Run();
  if (p.lost()) c.Drop();

  if (p.done(commit)) {  // committed, even if the connection broke right after
    const PGresult* r = p.result(bump);
    CommitPosition pos = PQntuples(r) == 1 ? Row(r, 0).U64(0) : 0;
    if (pos == 0) return Status::Corruption("parley_next_position() returned no position");
    if (position != nullptr) *position = pos;
    if (commit_lsn != nullptr) {
      // If the connection broke before the answer, no replica will be
      // trusted with this commit (0: unknown).
      *commit_lsn = 0;
      if (p.done(lsn) && PQntuples(p.result(lsn)) == 1)
        ParseLsn(Row(p.result(lsn), 0).Text(0), commit_lsn);
    }
    return Status::OK();
  }
  const int failed = p.failed_at();
  // The server rejected a statement before COMMIT (then it skipped the
  // rest, COMMIT included), or rejected COMMIT without ending the session:
  // nothing was committed.
  if (failed >= 0 && (failed < commit || !p.failure_ends_session())) {
    if (p.failure_ends_session()) {
      *retry = true;
      return Status::Unavailable("postgres: " + p.error() + " (nothing was committed)");
    }
    if (p.sqlstate() == "23505") return ConflictOf(owners[failed], p.error());
    if (failed == claim && p.sqlstate() == kClaimRefused) {
      *refused = true;
      return Status::Busy("postgres: ids minted below another commit's (nothing was committed)");
    }
    return p.status();
  }
  // The connection failed before COMMIT was handed to libpq: the server
  // cannot have committed (it rolls back when the connection closes).
  if (failed < 0 && !p.queued(commit)) {
    *retry = true;
    return Status::Unavailable("postgres: connection lost: " + p.lost_error() +
                               " (nothing was committed)");
  }
  // COMMIT may have reached the server, and its answer did not reach us.
  const std::string why = failed >= 0 ? p.error() : p.lost_error();
  return Status::Unavailable("postgres: connection lost during COMMIT, outcome unknown: " + why);
}

// Brings the schema up to kSchemaVersion, one transaction per step, each
// holding the migration lock: of two processes opening at once, the second
// waits on the lock and then reads the version the first committed.
Status Migrate(PGconn* pg, int message_partitions) {
  for (;;) {
    Status s = Exec(pg, "BEGIN ISOLATION LEVEL READ COMMITTED");
    if (!s.ok()) return s;
    int version = -1;
    s = Exec(pg, kMigrationLockSql);
    // READ COMMITTED: these statements' snapshots are taken after the lock.
    bool exists = false;
    if (s.ok()) {
      PGresult* r = nullptr;
      s = Exec(pg, "SELECT to_regclass('parley_schema') IS NOT NULL", &r);
      if (s.ok()) exists = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
      PQclear(r);
    }
    if (s.ok() && !exists) version = 0;
    if (s.ok() && exists) {
      PGresult* r = nullptr;
      s = Exec(pg, "SELECT version FROM parley_schema WHERE id = 1", &r);
      if (s.ok()) {
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
          std::string_view v = PQgetvalue(r, 0, 0);
          std::from_chars(v.data(), v.data() + v.size(), version);
        }
        if (version < 0) s = Status::Corruption("parley_schema has no valid version row");
      }
      PQclear(r);
    }
    if (s.ok()) {
      if (version > kSchemaVersion) {
        s = Status::Corruption("database schema version " + std::to_string(version) +
                               " is newer than this binary's (" + std::to_string(kSchemaVersion) +
                               ")");
      } else if (version == kSchemaVersion) {
        return Exec(pg, "COMMIT");
      } else {
        std::string set = "SELECT set_config('parley.message_partitions', '" +
                          std::to_string(message_partitions) + "', true)";
        s = Exec(pg, set.c_str());
        if (s.ok()) s = Exec(pg, kMigrations[version]);
        if (s.ok()) {
          std::string bump = "UPDATE parley_schema SET version = " + std::to_string(version + 1) +
                             ", migrated_at = now() WHERE id = 1";
          s = Exec(pg, bump.c_str());
        }
        if (s.ok()) s = Exec(pg, "COMMIT");
        if (s.ok()) continue;
      }
    }
    if (PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_IDLE) {
      Exec(pg, "ROLLBACK");
    }
    return s;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// PostgresStore.

int PostgresStore::SchemaVersion() {
  return kSchemaVersion;
}

PostgresStore::PostgresStore(std::string conninfo, const Options& options)
    : conninfo_(std::move(conninfo)),
      options_(options),
      writer_(std::make_unique<Conn>(conninfo_)) {}

PostgresStore::~PostgresStore() {
  replica_readers_.Clear();
  readers_.Clear();
  writer_.reset();
}

Status PostgresStore::Open(const std::string& conninfo, const Options& options,
                           std::unique_ptr<PostgresStore>* out) {
  if (options.message_partitions < 1 || options.message_partitions > 1024) {
    return Status::InvalidArgument("message partitions must be 1..1024, got " +
                                   std::to_string(options.message_partitions));
  }
  {
    char* err = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
    if (parsed == nullptr) {
      std::string msg = Trimmed(err != nullptr ? err : "out of memory");
      PQfreemem(err);
      return Status::InvalidArgument("bad PostgreSQL connection string: " + msg);
    }
    PQconninfoFree(parsed);
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(conninfo, options));
  for (const std::string& r : options.replicas) {
    std::string c = ReplicaConninfo(r);
    if (c.empty()) return Status::InvalidArgument("bad PostgreSQL replica connection string");
    store->replica_conninfo_.push_back(std::move(c));
  }
  Conn& w = *store->writer_;
  bool reused = false;
  Status s = w.Ensure(&reused);
  if (!s.ok()) return s;

  // Strings must reach the server byte for byte: no encoding conversion.
  const char* encoding = PQparameterStatus(w.pg, "server_encoding");
  if (encoding == nullptr || std::string_view(encoding) != "UTF8") {
    return Status::InvalidArgument(std::string("database encoding is ") +
                                   (encoding != nullptr ? encoding : "unknown") +
                                   "; Parley needs UTF8");
  }
  s = Migrate(w.pg, options.message_partitions);
  if (!s.ok()) return s;
  if (options.commit_log) {
    // The head's max_id is 0 on a database whose messages came from
    // elsewhere (`parley migrate`, or written before schema step 3): start
    // it at their greatest id, so that ids minted from here on are above
    // every message's (one scan, the first time only).
    s = Exec(w.pg, kSeedMaxId);
    if (!s.ok()) return s;
  }

  if (!store->replica_conninfo_.empty()) {
    // Every commit made before this process started ends by now.
    PGresult* r = nullptr;
    s = Exec(w.pg, "SELECT position, pg_current_wal_lsn()::text FROM parley_commit_head", &r);
    if (s.ok() && (PQntuples(r) != 1 || !ParseLsn(PQgetvalue(r, 0, 1), &store->base_lsn_)))
      s = Status::IOError("cannot read the commit head and pg_current_wal_lsn()");
    if (s.ok()) store->base_position_ = std::strtoull(PQgetvalue(r, 0, 0), nullptr, 10);
    PQclear(r);
    if (!s.ok()) return s;
  }
  auto str = [](const char* v) { return std::string(v != nullptr && *v != '\0' ? v : "-"); };
  store->describe_ = "postgres host=" + str(PQhost(w.pg)) + " port=" + str(PQport(w.pg)) +
                     " dbname=" + str(PQdb(w.pg)) + " user=" + str(PQuser(w.pg));
  *out = std::move(store);
  return Status::OK();
}

std::string PostgresStore::Describe() const {
  return describe_;
}

PostgresStore::Conn* PostgresStore::ReadConn() {
  Conn* conn = nullptr;
  // Never fails: the connection is made (and remade) on use.
  readers_.Get(
      [this](std::unique_ptr<Conn>* out) {
        *out = std::make_unique<Conn>(conninfo_);
        return Status::OK();
      },
      &conn);
  return conn;
}

Status PostgresStore::LoadAll(Snapshot* out) {
  *out = Snapshot();
  int users = 0, apps = 0, sessions = 0, guilds = 0, channels = 0, roles = 0, members = 0,
      invites = 0, commands = 0, last_ids = 0, position = 0;
  auto queue = [&](Pipeline& p) {
    const Params none;
    users = p.Sql(kLoadUsers, none, true);
    apps = p.Sql(kLoadApplications, none, true);
    sessions = p.Sql(kLoadSessions, none, true);
    guilds = p.Sql(kLoadGuilds, none, true);
    channels = p.Sql(kLoadChannels, none, true);
    roles = p.Sql(kLoadRoles, none, true);
    members = p.Sql(kLoadMembers, none, true);
    invites = p.Sql(kLoadInvites, none, true);
    commands = p.Sql(kLoadCommands, none, true);
    last_ids = p.Sql(kLoadLastMessageIds, none, true);
    position = p.Sql(kLoadPosition, none, true);
  };
  auto consume = [&](const Pipeline& p) -> Status {
    const PGresult* r = p.result(users);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      User& u = out->users.emplace_back();
      u.id = q.U64(0);
      u.username = q.Text(1);
      u.global_name = q.Text(2);
      u.bot = q.Bool(3);
      u.password_hash = q.Text(4);
      u.owner_id = q.U64(5);
    }
    r = p.result(apps);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      Application& a = out->applications.emplace_back();
      a.id = q.U64(0);
      a.name = q.Text(1);
      a.owner_id = q.U64(2);
      a.flags = q.U64(3);
    }
    r = p.result(sessions);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      Session& x = out->sessions.emplace_back();
      std::string_view hash = q.Bytes(0);
      if (hash.size() != x.hash.size()) return Status::Corruption("sessions.hash is not 32 bytes");
      std::memcpy(x.hash.data(), hash.data(), hash.size());
      x.user_id = q.U64(1);
      x.created_ms = q.Int(2);
    }
    r = p.result(guilds);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      Guild& g = out->guilds.emplace_back();
      g.id = q.U64(0);
      g.name = q.Text(1);
      g.owner_id = q.U64(2);
      g.description = q.Text(3);
      g.icon = q.Text(4);
    }
    r = p.result(channels);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
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
      if (!DecodeOverwrites(q.Bytes(9), &ch.overwrites)) {
        return Status::Corruption("channels.overwrites of channel " + std::to_string(ch.id));
      }
    }
    r = p.result(roles);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      Role& x = out->roles.emplace_back();
      x.id = q.U64(0);
      x.guild_id = q.U64(1);
      x.name = q.Text(2);
      x.permissions = q.U64(3);
      x.position = q.Int32(4);
      x.color = static_cast<uint32_t>(q.Int(5));
      x.hoist = q.Bool(6);
      x.mentionable = q.Bool(7);
    }
    r = p.result(members);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      Member& m = out->members.emplace_back();
      m.guild_id = q.U64(0);
      m.user_id = q.U64(1);
      m.nick = q.Text(2);
      if (!DecodeRoles(q.Bytes(3), &m.roles)) {
        return Status::Corruption("members.roles of user " + std::to_string(m.user_id));
      }
      m.joined_at_ms = q.Int(4);
    }
    r = p.result(invites);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      Invite& x = out->invites.emplace_back();
      x.code = q.Text(0);
      x.guild_id = q.U64(1);
      x.channel_id = q.U64(2);
      x.inviter_id = q.U64(3);
      x.created_ms = q.Int(4);
      x.max_age = q.Int32(5);
      x.max_uses = q.Int32(6);
      x.uses = q.Int32(7);
      x.temporary = q.Bool(8);
    }
    r = p.result(commands);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      ApplicationCommand& x = out->commands.emplace_back();
      x.id = q.U64(0);
      x.application_id = q.U64(1);
      x.guild_id = q.U64(2);
      x.type = q.Int32(3);
      x.name = q.Text(4);
      x.version = q.U64(5);
      x.body = q.Text(6);
    }
    r = p.result(last_ids);
    for (int i = 0, n = PQntuples(r); i < n; ++i) {
      Row q(r, i);
      out->last_message_ids.emplace_back(q.U64(0), q.U64(1));
    }
    r = p.result(position);
    if (PQntuples(r) != 1) return Status::Corruption("parley_commit_head has no row");
    out->position = Row(r, 0).U64(0);
    return Status::OK();
  };
  Status s = RunRead(*ReadConn(), /*snapshot=*/true, kLoadTimeoutSql, queue, consume);
  if (!s.ok()) *out = Snapshot();
  return s;
}

Status PostgresStore::CommitBatches(std::span<const WriteBatch* const> batches,
                                    CommitPosition* position) {
  if (batches.empty()) return Status::OK();
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    Status s = writer_->Ensure(&reused);
    if (!s.ok()) return s;
    bool retry = false;
    s = Finish(batches, /*begun=*/false, {}, position, &retry);
    // Once, and only on a connection that had been idle: one that fails at
    // once is a server that is going away, not worth hammering.
    if (!retry || !reused || attempt > 0) return s;
  }
}

Status PostgresStore::BeginLocked(CommitPosition* head, Snowflake* max_id) {
  for (int attempt = 0;; ++attempt) {
    bool retry = false;
    Status s = TryBeginLocked(head, max_id, &retry);
    if (s.ok() || !retry || attempt > 0) return s;
  }
}

Status PostgresStore::TryBeginLocked(CommitPosition* head, Snowflake* max_id, bool* retry) {
  *retry = false;
  bool reused = false;
  Status s = writer_->Ensure(&reused);
  if (!s.ok()) return s;
  // Begin and take the commit head's row lock, which every committer of the
  // database takes before its COMMIT (kNextPosition) and holds until then;
  // from here on no other commit can happen.
  Pipeline p(writer_->pg);
  const Params none;
  p.Sql(kWriterSql[kBegin], none);
  p.Sql(options_.sync_every_commit ? kSyncCommitOn : kSyncCommitOff, none);
  const int lock = p.Sql(kLockHead, none, /*keep=*/true);
  p.KeepTransactionOpen();
  p.Run();
  if (p.lost()) writer_->Drop();
  if (!p.ok()) {
    // Nothing was done: worth once more, on a connection that had been idle.
    *retry = (p.lost() || p.failure_ends_session()) && reused;
    return p.status();
  }
  if (PQntuples(p.result(lock)) != 1) {
    if (!Exec(writer_->pg, "ROLLBACK").ok()) writer_->Drop();
    return Status::Corruption("parley_commit_head has no row");
  }
  Row row(p.result(lock), 0);
  *head = row.U64(0);
  *max_id = row.U64(1);
  return Status::OK();
}

Status PostgresStore::CommitBuilt(const BuildFn& build, CommitPosition* position) {
  // First exchange: begin, the lock.
  CommitPosition head = 0;
  Snowflake max_id = 0;
  Status s = BeginLocked(&head, &max_id);
  if (!s.ok()) return s;
  WriteBatch batch;
  s = build(head, &batch);
  if (!s.ok() || batch.empty()) {
    if (!Exec(writer_->pg, "ROLLBACK").ok()) writer_->Drop();
    return s;
  }
  // Second exchange: the rows, the position, the log, COMMIT. The
  // transaction is gone either way: not retried (build ran against it).
  const WriteBatch* one[] = {&batch};
  bool retry = false;
  return Finish(std::span<const WriteBatch* const>(one, 1), /*begun=*/true, {}, position, &retry);
}

Status PostgresStore::CommitMinted(std::span<const WriteBatch* const> batches, const MintFn& mint,
                                   CommitPosition* position) {
  // One process: its own order is the order (the default).
  if (!options_.commit_log) return StoreBackend::CommitMinted(batches, mint, position);
  // One exchange, as CommitBatches, when no other process minted above the
  // greatest id this one knows of since: mint above it and claim the range
  // first thing in the transaction (under the commit order lock).
  const MintedIds guess = mint(known_max_id_);
  if (guess.hi == 0) return CommitBatches(batches, position);
  // While other processes mint at the same time, most claims are refused
  // (the other committed ids above this guess first), and a refused claim
  // costs an exchange more than locking first: after a refusal, lock first
  // for kLockFirstCommits commits, then claim again to see whether that is
  // over. Measured: bench/RESULTS.md "Ids in commit order".
  constexpr int kLockFirstCommits = 16;
  const bool lock_first = lock_first_left_ > 0;
  if (lock_first) --lock_first_left_;
  for (int attempt = 0; !lock_first; ++attempt) {
    bool reused = false;
    Status s = writer_->Ensure(&reused);
    if (!s.ok()) return s;
    bool retry = false, refused = false;
    s = Finish(batches, /*begun=*/false, {guess.lo, guess.hi}, position, &retry, &refused);
    if (s.ok()) {
      known_max_id_ = guess.hi;
      ids_claimed_.fetch_add(1, std::memory_order_relaxed);
    }
    if (refused) {
      lock_first_left_ = kLockFirstCommits;
      break;
    }
    if (!retry || !reused || attempt > 0) return s;
  }
  // Another process minted above: take the lock first, then mint above the
  // head's max_id (the greatest of all), and raise it before the bump.
  for (int attempt = 0;; ++attempt) {
    CommitPosition head = 0;
    Snowflake floor = 0;
    Status s = BeginLocked(&head, &floor);
    if (!s.ok()) return s;
    bool retry = false;
    const MintedIds minted = mint(floor);
    s = Finish(batches, /*begun=*/true, {0, minted.hi}, position, &retry);
    if (s.ok()) {
      known_max_id_ = std::max(floor, minted.hi);
      (lock_first ? ids_locked_ : ids_reminted_).fetch_add(1, std::memory_order_relaxed);
    }
    // As CommitBatches: nothing was committed, once more (mint runs again).
    if (!retry || attempt > 0) return s;
  }
}

Status PostgresStore::Finish(std::span<const WriteBatch* const> batches, bool begun,
                             IdsToCommit ids, CommitPosition* position, bool* retry,
                             bool* refused) {
  LogAppend log{options_.node_id};
  uint64_t lsn = 0;
  CommitPosition pos = 0;
  bool refused_here = false;
  Status s = TryCommit(*writer_, batches, options_.sync_every_commit, begun, ids,
                       options_.commit_log ? &log : nullptr, &pos, retry, &refused_here,
                       replica_conninfo_.empty() ? nullptr : &lsn);
  if (refused != nullptr) *refused = refused_here;
  if (s.ok()) {
    if (position != nullptr) *position = pos;
    if (!replica_conninfo_.empty()) NoteCommitLsn(pos, lsn);
    if (options_.commit_log) {
      last_entry_ = std::move(log.encoded);
      last_entry_ms_ = log.committed_ms;
    }
  }
  return s;
}

std::string PostgresStore::TakeLastEntry(int64_t* committed_ms) {
  *committed_ms = last_entry_ms_;
  return std::move(last_entry_);
}

Status PostgresStore::GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) {
  Params params;
  params.Int(ToDb(channel_id)).Int(ToDb(message_id));
  int idx = 0;
  bool found = false;
  Status s = RunRead(
      *ReadConn(), /*snapshot=*/false, kReadTimeoutSql,
      [&](Pipeline& p) { idx = p.Sql(kGetMessage, params, true); },
      [&](const Pipeline& p) {
        const PGresult* r = p.result(idx);
        found = PQntuples(r) > 0;
        if (found) RowToMessage(Row(r, 0), out);
        return Status::OK();
      });
  if (!s.ok()) return s;
  if (!found) {
    return Status::NotFound("message " + std::to_string(message_id) + " not in channel " +
                            std::to_string(channel_id));
  }
  return Status::OK();
}

Status PostgresStore::ListMessages(const HistoryQuery& hq, std::vector<Message>* out) {
  out->clear();
  if (hq.limit < 1 || hq.limit > 100) {
    return Status::InvalidArgument("history limit must be 1..100, got " + std::to_string(hq.limit));
  }
  uint64_t need = 0;
  if (!replica_conninfo_.empty() && hq.min_position != kAllCommits &&
      LsnFor(hq.min_position, &need)) {
    bool behind = false;
    uint64_t replay = 0;
    Status rs = RunHistory(*NextReplicaConn(), hq, /*explain=*/false, out, nullptr,
                           std::max<uint64_t>(need, 1), &behind, &replay);
    if (rs.ok() && !behind) {
      replica_reads_.fetch_add(1, std::memory_order_relaxed);
      replica_lag_bytes_.store(0, std::memory_order_relaxed);
      return rs;
    }
    if (rs.ok()) {
      fallbacks_lag_.fetch_add(1, std::memory_order_relaxed);
      replica_lag_bytes_.store(static_cast<int64_t>(need - std::min(need, replay)),
                               std::memory_order_relaxed);
    } else {
      fallbacks_down_.fetch_add(1, std::memory_order_relaxed);
    }
    out->clear();
  }
  Status s = RunHistory(*ReadConn(), hq, /*explain=*/false, out, nullptr);
  if (!s.ok()) out->clear();
  return s;
}

Status PostgresStore::ExplainListMessages(const HistoryQuery& hq, std::string* plan) {
  plan->clear();
  if (hq.limit < 1 || hq.limit > 100) {
    return Status::InvalidArgument("history limit must be 1..100, got " + std::to_string(hq.limit));
  }
  return RunHistory(*ReadConn(), hq, /*explain=*/true, nullptr, plan);
}

Status PostgresStore::RunHistory(Conn& conn, const HistoryQuery& hq, bool explain,
                                 std::vector<Message>* out, std::string* plan, uint64_t need_lsn,
                                 bool* behind, uint64_t* replay_lsn) {
  const int64_t channel = ToDb(hq.channel_id);
  const int64_t anchor = AnchorToDb(hq.anchor);
  Params params;
  const char* sql = nullptr;
  bool ascending = false;  // rows come oldest first
  switch (hq.mode) {
    case HistoryQuery::Mode::kLatest:
      sql = kListLatest;
      params.Int(channel).Int(hq.limit);
      break;
    case HistoryQuery::Mode::kBefore:
      if (hq.anchor > kMaxStoredId) {
        // Above every stored id (a clamped bound would drop INT64_MAX).
        sql = kListLatest;
        params.Int(channel).Int(hq.limit);
      } else {
        sql = kListBefore;
        params.Int(channel).Int(anchor).Int(hq.limit);
      }
      break;
    case HistoryQuery::Mode::kAfter:
      // The oldest `limit` after the anchor, then newest first.
      sql = kListAfterAscending;
      params.Int(channel).Int(anchor).Int(hq.limit);
      ascending = true;
      break;
    case HistoryQuery::Mode::kAround:
      // ceil(limit/2) at or before the anchor, floor(limit/2) after it.
      sql = kListAround;
      params.Int(channel).Int(anchor).Int((hq.limit + 1) / 2).Int(hq.limit / 2);
      break;
  }
  if (sql == nullptr) return Status::InvalidArgument("unknown history mode");
  const std::string text = explain ? std::string("EXPLAIN ") + sql : std::string(sql);
  int idx = 0;
  int lsn_idx = -1;
  const Params none;
  return RunRead(
      conn, /*snapshot=*/false, kReadTimeoutSql,
      [&](Pipeline& p) {
        // The replay position first: the page's snapshot is taken after it.
        if (need_lsn > 0) lsn_idx = p.Sql(kReplayLsn, none, true);
        idx = p.Sql(text.c_str(), params, true);
      },
      [&](const Pipeline& p) {
        if (lsn_idx >= 0) {
          const PGresult* lr = p.result(lsn_idx);
          uint64_t replay = 0;
          if (PQntuples(lr) != 1 || PQgetisnull(lr, 0, 0) ||
              !ParseLsn(Row(lr, 0).Text(0), &replay)) {
            return Status::IOError("not a replica (pg_last_wal_replay_lsn() is null)");
          }
          if (replay_lsn != nullptr) *replay_lsn = replay;
          if (replay < need_lsn) {
            *behind = true;
            return Status::OK();
          }
        }
        const PGresult* r = p.result(idx);
        if (explain) {
          for (int i = 0, n = PQntuples(r); i < n; ++i) {
            *plan += Row(r, i).Text(0);
            *plan += '\n';
          }
          return Status::OK();
        }
        out->clear();
        ReadMessages(r, out);
        if (ascending) std::reverse(out->begin(), out->end());
        return Status::OK();
      });
}

Status PostgresStore::ScanMessages(const MessageKey& after, int limit, std::vector<Message>* out) {
  out->clear();
  if (limit < 1) return Status::InvalidArgument("scan limit must be positive");
  // A channel id above every storable one: nothing comes after it.
  if (after.channel_id > kMaxStoredId) return Status::OK();
  Params params;
  params.Int(AnchorToDb(after.channel_id)).Int(AnchorToDb(after.id)).Int(limit);
  int idx = 0;
  Status s = RunRead(
      *ReadConn(), /*snapshot=*/false, kReadTimeoutSql,
      [&](Pipeline& p) { idx = p.Sql(kScanMessages, params, true); },
      [&](const Pipeline& p) {
        out->clear();
        ReadMessages(p.result(idx), out);
        return Status::OK();
      });
  if (!s.ok()) out->clear();
  return s;
}

Status PostgresStore::ReadLog(CommitPosition after, int limit, std::vector<LogEntry>* out) {
  out->clear();
  if (limit < 1 || limit > 10000) return Status::InvalidArgument("log read limit must be 1..10000");
  if (after > kMaxStoredId) return Status::InvalidArgument("log position out of range");
  Params params;
  params.Int(static_cast<int64_t>(after)).Int(limit);
  int idx = 0;
  Status s = RunRead(
      *ReadConn(), /*snapshot=*/false, kReadTimeoutSql,
      [&](Pipeline& p) { idx = p.Sql(kReadLog, params, true); },
      [&](const Pipeline& p) {
        const PGresult* r = p.result(idx);
        for (int i = 0, n = PQntuples(r); i < n; ++i) {
          Row q(r, i);
          LogEntry& e = out->emplace_back();
          e.position = static_cast<CommitPosition>(q.Int(0));
          e.node = q.Int32(1);
          e.committed_ms = q.Int(2);
          Status d = DecodeBatches(q.Bytes(3), &e.batches);
          if (!d.ok()) {
            return Status::Corruption("parley_log position " + std::to_string(e.position) + ": " +
                                      d.ToString());
          }
        }
        return Status::OK();
      });
  if (!s.ok()) out->clear();
  return s;
}

Status PostgresStore::TrimLog(CommitPosition before, uint64_t* deleted) {
  *deleted = 0;
  if (before > kMaxStoredId) return Status::InvalidArgument("log position out of range");
  Params params;
  params.Int(static_cast<int64_t>(before));
  int idx = 0;
  return RunRead(
      *ReadConn(), /*snapshot=*/false, kLoadTimeoutSql,
      [&](Pipeline& p) { idx = p.Sql(kTrimLog, params, true); },
      [&](const Pipeline& p) {
        const char* n = PQcmdTuples(const_cast<PGresult*>(p.result(idx)));
        *deleted = n && *n ? std::strtoull(n, nullptr, 10) : 0;
        return Status::OK();
      });
}

Status PostgresStore::CountMessages(uint64_t* n) {
  int idx = 0;
  const Params none;
  return RunRead(
      *ReadConn(), /*snapshot=*/false, kLoadTimeoutSql,
      [&](Pipeline& p) { idx = p.Sql(kCountMessages, none, true); },
      [&](const Pipeline& p) {
        *n = Row(p.result(idx), 0).U64(0);
        return Status::OK();
      });
}

PostgresStore::Conn* PostgresStore::NextReplicaConn() {
  ReplicaSet* set = nullptr;
  replica_readers_.Get(
      [this](std::unique_ptr<ReplicaSet>* out) {
        *out = std::make_unique<ReplicaSet>();
        for (const std::string& c : replica_conninfo_)
          (*out)->conns.push_back(std::make_unique<Conn>(c));
        return Status::OK();
      },
      &set);
  Conn* c = set->conns[set->next % set->conns.size()].get();
  ++set->next;
  return c;
}

bool PostgresStore::LsnFor(CommitPosition position, uint64_t* lsn) const {
  if (position <= base_position_) {  // committed before Open
    *lsn = base_lsn_;
    return true;
  }
  MutexLock l(&lsn_mu_);
  // The first recorded commit at or after `position` ends after it.
  auto it = std::lower_bound(
      commit_lsns_.begin(), commit_lsns_.end(), position,
      [](const std::pair<CommitPosition, uint64_t>& e, CommitPosition p) { return e.first < p; });
  // Not one of this process's recent commits (another process made it), or
  // its WAL end is unknown: only the primary is sure to have it.
  if (it == commit_lsns_.end() || it->second == 0) return false;
  *lsn = std::max(it->second, base_lsn_);
  return true;
}

void PostgresStore::NoteCommitLsn(CommitPosition position, uint64_t lsn) {
  constexpr size_t kKept = 4096;
  MutexLock l(&lsn_mu_);
  commit_lsns_.emplace_back(position, lsn);
  if (commit_lsns_.size() > kKept) commit_lsns_.pop_front();
}

StoreStats PostgresStore::stats() const {
  StoreStats st;
  st.replica_reads = replica_reads_.load(std::memory_order_relaxed);
  st.replica_fallbacks_lag = fallbacks_lag_.load(std::memory_order_relaxed);
  st.replica_fallbacks_down = fallbacks_down_.load(std::memory_order_relaxed);
  st.replica_lag_bytes = replica_lag_bytes_.load(std::memory_order_relaxed);
  st.ids_claimed = ids_claimed_.load(std::memory_order_relaxed);
  st.ids_reminted = ids_reminted_.load(std::memory_order_relaxed);
  st.ids_locked = ids_locked_.load(std::memory_order_relaxed);
  return st;
}

}  // namespace parley
