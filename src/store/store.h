// Store: durable state behind one small interface, so that the API never
// knows which engine holds its data. Implementations: SqliteStore
// (store/sqlite_store.h, the embedded default) and PostgresStore
// (store/postgres_store.h). OpenStore (store/open_store.h) picks one from a
// URL. store_test.cc runs one suite of tests on every implementation: a
// backend is correct when it passes exactly those tests.
//
// Writes: every WriteBatch goes through one writer per process (CommitQueue,
// store/commit_queue.h) that commits many batches per transaction (group
// commit). Reads: records other than messages are loaded once at start-up
// (LoadAll) into the in-memory State; afterwards only messages are read from
// the store, by (channel_id, message_id) range scans, on a reader pool
// (store/read_pool.h), never on an event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model/types.h"
#include "util/status.h"

namespace parley {

// A commit's place in the store's total order of commits: the first commit
// ever made to a store is 1, and each later one is exactly one more (no
// gaps, no reuse, whichever process made it). 0 means "before any commit".
using CommitPosition = uint64_t;

// Everything but messages, as loaded at start-up.
struct Snapshot {
  std::vector<User> users;
  std::vector<Application> applications;
  std::vector<Session> sessions;
  std::vector<Guild> guilds;
  std::vector<Channel> channels;
  std::vector<Role> roles;
  std::vector<Member> members;
  std::vector<Invite> invites;
  std::vector<ApplicationCommand> commands;
  // channel id -> newest message id, for channels that have messages.
  std::vector<std::pair<Snowflake, Snowflake>> last_message_ids;
  // The snapshot holds exactly the commits at positions 1..position.
  CommitPosition position = 0;
};

// As a HistoryQuery::min_position: every commit acknowledged so far.
constexpr CommitPosition kAllCommits = ~CommitPosition{0};

// A history query: newest first, at most `limit` messages.
struct HistoryQuery {
  enum class Mode { kLatest, kBefore, kAfter, kAround };
  Snowflake channel_id = 0;
  Mode mode = Mode::kLatest;
  Snowflake anchor = 0;  // the before/after/around id
  int limit = 50;        // 1..100
  // The page must reflect at least the commits at positions 1..min_position
  // (a store with read replicas may answer from a replica that has them).
  // kAllCommits: every commit whose CommitBatches returned before the read.
  CommitPosition min_position = kAllCommits;
};

// A message's key: (channel_id, id), the order ScanMessages walks in.
struct MessageKey {
  Snowflake channel_id = 0;
  Snowflake id = 0;
};

// What a store reports about itself, for metrics.
struct StoreStats {
  uint64_t replica_reads = 0;           // history reads a replica answered
  uint64_t replica_fallbacks_lag = 0;   // ... that went to the primary: replica behind
  uint64_t replica_fallbacks_down = 0;  // ... that went to the primary: replica unreachable
  int64_t replica_lag_bytes = 0;        // WAL bytes the last replica checked was behind
  uint64_t ids_claimed = 0;             // CommitMinted commits whose first mint held (one exchange)
  uint64_t ids_reminted = 0;            // ... that minted again under the lock (another node's ids)
  uint64_t ids_locked = 0;  // ... that locked first, claims being refused lately (two exchanges)
};

// The engine side of a store. Every implementation keeps this contract:
//
// Values. Snowflakes and other 64-bit fields round-trip for every value
// below 2^63 (they are stored as signed 64-bit integers); bit masks
// (permissions, flags) round-trip for all 64 bits. Strings round-trip
// byte for byte, including empty strings. Message::nonce is never stored
// (reads return it empty).
//
// Errors. Status::Unavailable: the engine cannot be reached right now (a
// database server down or restarting); nothing happened, and the same call
// may succeed later. Status::Conflict: a uniqueness rule (below) was broken.
// Status::Corruption: stored data cannot be decoded, or the schema is newer
// than this binary. Other failures: Status::IOError.
class CommitLog;  // store/commit_log.h

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;

  // Fills *out (replacing what it held) with every record but messages, all
  // read from one consistent snapshot, each vector in key order (users,
  // applications, guilds, channels, roles, commands by id; sessions by
  // hash; members by (guild_id, user_id); invites by code), and out->position with the
  // position of the last commit the snapshot contains.
  // Thread-safe.
  virtual Status LoadAll(Snapshot* out) = 0;

  // Applies every mutation of every batch, in order, as one atomic
  // transaction: on success all of it is durable (it survives a crash of
  // this process, and of the machine unless the store was opened with
  // relaxed durability) and *position (if not null) is set to the
  // transaction's CommitPosition; on failure none of it stays and no
  // position is used up.
  //
  // Semantics of the mutations:
  // - Put*: insert or replace the record with that key (users, applications,
  //   guilds, channels, roles, commands by id; sessions by hash; members by
  //   (guild_id, user_id); invites by code). DeleteCommand deletes the
  //   command of that id only if its application_id and guild_id match.
  // - PutUser whose username equals another user's ignoring ASCII case:
  //   Status::Conflict. InsertMessage of an existing (channel_id, id):
  //   Status::Conflict.
  // - UpdateMessage changes content, edited_ms, pinned and flags of an
  //   existing message; updates and deletes of absent records are no-ops.
  // - DeleteGuild also deletes the guild's channels, roles, members, invites,
  //   commands and the messages of its channels. DeleteChannel also deletes the
  //   channel's invites and messages. DeleteRole also removes the role from
  //   the roles of every member of that guild (members of other guilds keep
  //   theirs). DeleteUserSessions deletes every session of one user.
  //
  // REQUIRES: one call at a time per process (the CommitQueue's writer
  // thread, or a tool that has the store to itself).
  virtual Status CommitBatches(std::span<const WriteBatch* const> batches,
                               CommitPosition* position) = 0;

  // Like CommitBatches, for batches that mint ids (message ids) which must
  // increase in commit order across every process committing to the store
  // (history order is delivery order; docs/cluster.md "Ids in commit
  // order"). mint(floor) assigns the ids in the batches, each above
  // `floor`, and returns the range they lie in ({0, 0}: none). The store
  // commits them only if every id an earlier commit minted, in any
  // process, is below that range; otherwise it calls mint again with a
  // floor at least that high, once the commit's place in the order is
  // settled. `mint` may also run again for a retry on a fresh connection;
  // its last run is what commits. The default implementation, for
  // single-process stores (whose own order is the order), mints with floor
  // 0 and calls CommitBatches.
  // REQUIRES: as CommitBatches.
  struct MintedIds {
    Snowflake lo = 0, hi = 0;  // every id minted is in [lo, hi]
  };
  using MintFn = std::function<MintedIds(Snowflake floor)>;
  virtual Status CommitMinted(std::span<const WriteBatch* const> batches, const MintFn& mint,
                              CommitPosition* position) {
    mint(0);
    return CommitBatches(batches, position);
  }

  // Read-modify-write in the store's commit order, for a decision that must
  // see every earlier commit, whichever process made it (docs/cluster.md):
  // begins a transaction, takes the lock that orders commits (every
  // committer of the store, in every process, waits for it), calls
  // build(head, &batch) with the position of the last commit, and commits
  // what build put in the batch at position head + 1 (stored in *position,
  // if not null). If build returns an error or leaves the batch empty,
  // nothing is committed and build's status is returned. Otherwise as
  // CommitBatches (semantics, failures, durability).
  // `build` runs while the lock is held: it must be short; it may read this
  // store (on another connection), never commit to it.
  // REQUIRES: as CommitBatches (one commit call at a time per process).
  using BuildFn = std::function<Status(CommitPosition head, WriteBatch* batch)>;
  virtual Status CommitBuilt(const BuildFn& build, CommitPosition* position) = 0;

  // Reads see every commit whose CommitBatches returned before the read
  // started (ListMessages: see HistoryQuery::min_position). Thread-safe; may
  // block on I/O (call them from a reader pool, never from an event loop).
  //
  // Status::NotFound if the message is not in that channel.
  virtual Status GetMessage(Snowflake channel_id, Snowflake message_id, Message* out) = 0;
  // Fills *out (replacing what it held) newest first:
  //   kLatest: the newest `limit` messages.
  //   kBefore: the newest `limit` messages with id < anchor.
  //   kAfter:  the oldest `limit` messages with id > anchor.
  //   kAround: the newest ceil(limit/2) with id <= anchor and the oldest
  //            floor(limit/2) with id > anchor, from one snapshot.
  // An anchor at or above 2^63 compares above every stored id.
  // Status::InvalidArgument unless 1 <= limit <= 100.
  virtual Status ListMessages(const HistoryQuery& q, std::vector<Message>* out) = 0;

  // For copying a whole store (parley migrate): fills *out (replacing what
  // it held) with the first `limit` messages whose key is greater than
  // `after`, in key order; {0, 0} starts at the first message. An empty
  // page means there is nothing after `after`.
  // Status::InvalidArgument unless limit >= 1.
  virtual Status ScanMessages(const MessageKey& after, int limit, std::vector<Message>* out) = 0;
  // How many messages the store holds (may read them all).
  virtual Status CountMessages(uint64_t* n) = 0;

  // The log of commits this store keeps for a cluster's nodes to follow
  // (store/commit_log.h), or null if it keeps none.
  virtual CommitLog* commit_log() { return nullptr; }

  // Figures for metrics; thread-safe. Stores without replicas report zeros.
  virtual StoreStats stats() const { return {}; }

  // What this store is, for logs: the engine and where (no password).
  virtual std::string Describe() const = 0;
};

}  // namespace parley
