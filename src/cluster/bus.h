// Bus: what the nodes of a cluster tell each other live, beside the log of
// record in PostgreSQL (docs/cluster.md). Delivery is at most once: a
// message may be lost (the bus down, a node's link dropped, a full queue),
// never changed, and messages of one publisher arrive in the order it
// published them. Nothing acknowledged depends on it: a log entry that
// does not arrive is read from the log; an ephemeral event (typing) that
// does not arrive is lost, as it would be on a dropped connection. A node
// does not hear its own messages, except its heartbeats (the canary).
//
// Model: centrifuge's broker.go (a contract on every method; the Redis
// implementation, cluster/redis_bus.h, is tested beside it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/event.h"
#include "events/presence.h"
#include "store/commit_log.h"

namespace parley::cluster {

// A user's presence on the node that tells it; nullopt: no session there.
using PresenceChange = std::pair<Snowflake, std::optional<events::Presence>>;

// What a node says of itself in each heartbeat: how `parley status` and
// /admin/status show the whole cluster from any node.
struct NodeReport {
  uint64_t sessions = 0;       // gateway sessions (connected or awaiting resume)
  CommitPosition applied = 0;  // the last position of the log it applied
  int64_t started_ms = 0;      // wall clock (ms) when its process started
};

class Bus {
 public:
  // What a node hears. Called on the bus's receiving thread, one call at a
  // time; must not block (hand the work on). A node does not hear its own
  // messages.
  class Listener {
   public:
    virtual ~Listener() = default;
    // A log entry another node committed.
    virtual void OnLogEntry(LogEntry entry) = 0;
    // Ephemeral events another node's clients caused (typing), built there.
    virtual void OnEvents(events::EventBatch events) = 0;
    // Presences of users with sessions on node `node` (nullopt: none there
    // any more); with `snapshot`, all of them: the node's earlier ones not
    // in the list are gone.
    virtual void OnPresences(int node, const std::vector<PresenceChange>& changes,
                             bool snapshot) = 0;
    // Node `node` is alive (it says so every second, with `report`) / asks
    // every node for a snapshot of its presences (it just joined the bus).
    virtual void OnHeartbeat(int node, const NodeReport& report) = 0;
    virtual void OnSnapshotRequest(int node) = 0;
    // Node `from` asks node `to` to let session `session_id` go / node
    // `from` answers node `to` (cluster/redis_session_store.h). Every node
    // hears them; the one addressed acts. Default: ignored.
    virtual void OnHandoffRequest(int /*from*/, int /*to*/, uint64_t /*session_id*/,
                                  uint64_t /*seq*/) {}
    virtual void OnHandoffDone(int /*from*/, int /*to*/, uint64_t /*session_id*/, bool /*ok*/) {}
    // The receiving link came up (true) or went down (false). Messages
    // published while it was down are lost.
    virtual void OnLinkChanged(bool up) = 0;
  };

  struct Stats {
    uint64_t published = 0;  // messages handed to the bus
    uint64_t dropped = 0;    // messages not sent (bus down, queue full)
    uint64_t received = 0;   // messages from other nodes
    uint64_t malformed = 0;  // received messages that did not decode (dropped)
    uint64_t reconnects = 0;
    bool up = false;  // both links (publishing and receiving) are connected
    // The canary: when this process last heard its own heartbeat come back
    // through the bus (steady clock, ms; 0: never). A bus that is "up" and
    // brings nothing back is silent.
    int64_t own_heard_ms = 0;
    // When a heartbeat with this node's id from another process was last
    // heard (steady clock, ms; 0: never): two processes share a node id.
    int64_t duplicate_ms = 0;
  };

  virtual ~Bus() = default;

  // Publish `entry` (this node's commit at `position`, its batches encoded
  // by store/batch_codec.h) / ephemeral `events`. Thread-safe; never blocks
  // (queued for the bus's sending thread; dropped, and counted, while the
  // bus is down or when the queue is full).
  virtual void PublishLogEntry(CommitPosition position, int64_t committed_ms,
                               std::string encoded_batches) = 0;
  virtual void PublishEvents(const events::EventBatch& events) = 0;
  virtual void PublishPresences(const std::vector<PresenceChange>& changes, bool snapshot) = 0;
  // Also this process's canary: it hears its own heartbeats back
  // (Stats::own_heard_ms), while other nodes' listeners get OnHeartbeat.
  virtual void PublishHeartbeat(const NodeReport& report) = 0;
  virtual void PublishSnapshotRequest() = 0;
  // A handoff request to node `to` (done: nullopt) or the answer to one.
  virtual void PublishHandoff(int to, uint64_t session_id, uint64_t seq,
                              std::optional<bool> done) = 0;

  virtual Stats stats() const = 0;
};

}  // namespace parley::cluster
