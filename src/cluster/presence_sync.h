// PresenceSync: one presence per user across the cluster's nodes
// (docs/cluster.md, "Presence"). Each node keeps every node's view in its
// PresenceRegistry and tells the others, through the bus:
//   - each change of its own users' presences, as it happens;
//   - a heartbeat every second;
//   - a snapshot of all its users' presences when its link to the bus
//     comes up (with a request that every other node send theirs), and
//     whenever another node asks.
// A node not heard for `node_ttl` while this node's link is up is gone: its
// users' presences are dropped, and this node's sessions see those users go
// offline (unless they are online elsewhere). While this node's own link
// is down it expires nobody: it cannot tell who is alive.
// The heartbeats also carry each node's NodeReport (cluster/bus.h), which
// Nodes() lists: the cluster as /admin/status and `parley status` show it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/bus.h"
#include "events/event_sink.h"
#include "events/presence.h"
#include "state/state.h"
#include "util/mutex.h"

namespace parley::cluster {

class PresenceSync {
 public:
  struct Options {
    std::chrono::milliseconds heartbeat{1000};
    std::chrono::milliseconds node_ttl{5000};
    // What this node's heartbeats say of it (called on the heartbeat
    // thread; must be quick and thread-safe). Null: an empty report.
    std::function<NodeReport()> report;
  };
  // Another node as last heard.
  struct NodeView {
    int node = 0;
    int64_t heard_ms_ago = 0;
    NodeReport report;
  };

  // PRESENCE_UPDATEs caused by other nodes go to `local` (this node's
  // sessions). REQUIRES: every pointer outlives the sync.
  PresenceSync(events::PresenceRegistry* registry, const State* state, events::EventSink* local,
               Options options);
  ~PresenceSync();  // Stop()

  // Starts the heartbeat thread. REQUIRES: once; `bus` outlives Stop().
  void Start(Bus* bus);
  // Stops the heartbeat thread and lets go of the bus: afterwards nothing
  // is published (LocalChanged may still be called, and does nothing).
  void Stop();

  // From the registry (any thread): a change of this node's own presences.
  void LocalChanged(Snowflake user, const std::optional<events::Presence>& p);

  // From the bus (its receiving thread).
  void OnPresences(int node, const std::vector<PresenceChange>& changes, bool snapshot);
  void OnHeartbeat(int node, const NodeReport& report);
  void OnSnapshotRequest(int node);
  void OnLinkChanged(bool up);

  // Nodes heard from within node_ttl (any thread).
  int live_nodes() const;
  // Whether node `node` may be alive: heard within node_ttl, or this
  // node's own link is down or young (it cannot tell). Any thread.
  bool NodeAlive(int node) const;
  // Every other node heard within node_ttl, by node id (any thread).
  std::vector<NodeView> Nodes() const;

 private:
  void Run();
  void Heard(int node);
  void Emit(const std::vector<std::pair<Snowflake, events::Presence>>& changes);
  void PublishSnapshot();
  // Runs f(bus) if the bus is still there.
  template <class F>
  void WithBus(F f) EXCLUDES(bus_mu_) {
    MutexLock l(&bus_mu_);
    if (bus_ != nullptr) f(*bus_);
  }

  events::PresenceRegistry* const registry_;
  const State* const state_;
  events::EventSink* const local_;
  const Options options_;
  // Held while publishing (taken after the registry's tell_mu_, before the
  // bus's own queue mutex; docs/LOCKS.md).
  Mutex bus_mu_;
  Bus* bus_ GUARDED_BY(bus_mu_) = nullptr;

  mutable Mutex mu_;
  CondVar cv_{&mu_};
  std::map<int, int64_t> last_heard_ms_ GUARDED_BY(mu_);  // steady clock, per other node
  std::map<int, NodeReport> reports_ GUARDED_BY(mu_);     // per other node, its last heartbeat's
  int64_t link_up_since_ms_ GUARDED_BY(mu_) = 0;          // 0: link down
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace parley::cluster
