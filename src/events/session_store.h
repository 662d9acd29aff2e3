// SessionStore: what a gateway session leaves behind in the cluster so that
// another node can resume it exactly (docs/cluster.md, "Sessions and resume
// on any node"). The gateway uses this interface; cluster/ implements it on
// Redis (cluster/redis_session_store.h). Nothing here decides durability:
// a checkpoint or journal entry that is lost only turns an exact resume
// into op 9 (Invalid Session), never into a gap or a duplicate, because a
// node never sends a client anything another node could not rebuild from
// what is stored here and in the log (the rules are on the methods).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "events/event.h"
#include "model/types.h"

namespace parley::events {

// Where a session stood, in terms every node can rebuild from: after its
// dispatch `seq` it had been sent every event of the log before `position`
// and of the first `position_batches` batches of `position`, and every
// journaled ephemeral event of node `node` up to `journal` (those that
// passed its filter), and nothing else.
struct SessionCheckpoint {
  uint64_t session_id = 0;
  int node = 0;              // the node serving the session
  uint64_t incarnation = 0;  // which process of that node
  Snowflake user_id = 0;
  uint64_t token_tag = 0;
  uint32_t intents = 0;
  uint16_t shard_id = 0, shard_count = 1;
  uint8_t large_threshold = 50;
  bool bot = false;
  uint64_t seq = 0;
  uint64_t position = 0;
  // How many of the event batches of `position` it had been sent (a group
  // commit's batches share its position and reach a loop one at a time).
  uint32_t position_batches = 0;
  uint64_t journal = 0;
  // The node let the session go (drain, or a handoff asked by another
  // node): it sends the session nothing more, so the checkpoint is final.
  bool handed_off = false;
  std::vector<Snowflake> guilds;  // subscribed (this shard's), sorted
  int64_t saved_ms = 0;           // wall clock, when the checkpoint was taken
};

// One ephemeral event batch (typing, presence) as a node journaled it
// before delivering it: its index in the node's journal (1, 2, 3, ...) and
// its place in the node's stream: its sessions got it right after the
// `after_batches`-th batch of log position `after_position` (and after the
// entries before it), before any later log batch.
struct JournalEntry {
  uint64_t index = 0;
  uint64_t after_position = 0;
  uint32_t after_batches = 0;
  int64_t at_ms = 0;  // wall clock, when it was journaled
  EventBatch events;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // This process's node id and incarnation (what its checkpoints carry).
  virtual int node_id() const = 0;
  virtual uint64_t incarnation() const = 0;

  enum class Saved : uint8_t {
    kStored,
    kNotOurs,  // another node took the session over (its checkpoint stays)
    kFailed,   // the store cannot be reached
  };
  // Stores `c` for `ttl_ms`, replacing the session's earlier checkpoint if
  // that one is this process's own, or (a takeover) if it is still the one
  // of the process that stored `*replacing` (so that of two nodes taking a
  // session over at once, one wins); `done` runs on any thread. A node
  // sends a session a dispatch that the log and the journal do not hold
  // (READY, RESUMED, GUILD_MEMBERS_CHUNK) only after a checkpoint counting
  // it is stored.
  virtual void Save(const SessionCheckpoint& c, int ttl_ms, const SessionCheckpoint* replacing,
                    std::function<void(Saved)> done) = 0;
  // The session's checkpoint: ok false when the store cannot be read,
  // nullopt when it has none.
  virtual void Load(uint64_t session_id,
                    std::function<void(bool ok, std::optional<SessionCheckpoint>)> done) = 0;

  // Appends this node's next journal entry. A node delivers an ephemeral
  // event only after its entry is stored (done(true)); entries are stored
  // in the order appended, their indexes 1, 2, 3, ... without a hole.
  virtual void Journal(JournalEntry entry, std::function<void(bool ok)> done) = 0;
  // Node `node` (process `incarnation`)'s entries after `after_index`, in
  // order, preceded by those of the `earlier` entries before it that are
  // still held (what the node had delivered just before: they may have
  // been trimmed, and are not checked for holes); ok false when the store
  // cannot be read or the journal no longer holds every entry after
  // `after_index`.
  virtual void ReadJournal(int node, uint64_t incarnation, uint64_t after_index, uint32_t earlier,
                           std::function<void(bool ok, std::vector<JournalEntry>)> done) = 0;

  // Asks node `node` to let session `session_id` go (it stores a final
  // checkpoint, handed_off, at or before `seq`, the client's, and ends the
  // session); `done(answered, ok)` runs when it answers, or with answered
  // false after `timeout_ms`.
  virtual void RequestHandoff(int node, uint64_t session_id, uint64_t seq, int timeout_ms,
                              std::function<void(bool answered, bool ok)> done) = 0;
  // Whether node `node` was heard from lately (it may still serve sessions).
  virtual bool NodeAlive(int node) const = 0;

  // What this node does when another asks it to let a session go: the
  // gateway's handler, which answers through `answer(ok)` (any thread).
  using HandoffHandler =
      std::function<void(uint64_t session_id, uint64_t seq, std::function<void(bool ok)> answer)>;
  // REQUIRES: called once, before the store is used.
  virtual void SetHandoffHandler(HandoffHandler handler) = 0;
};

}  // namespace parley::events
