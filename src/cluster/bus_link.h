// BusLink: a node's end of the cluster's bus (cluster/bus.h). As the bus's
// listener it hands other nodes' log entries to the follower (and wakes the
// writer, which applies them in position order) and their ephemeral events
// to the local gateway, and presences, heartbeats and snapshot requests to
// PresenceSync; as an EventSink it is where this node's ephemeral events
// (typing) go: to the local gateway and onto the bus.
#pragma once

#include <functional>
#include <utility>

#include "cluster/bus.h"
#include "cluster/log_follower.h"
#include "cluster/presence_sync.h"
#include "cluster/redis_session_store.h"
#include "events/event_sink.h"

namespace parley::cluster {

class BusLink : public Bus::Listener, public events::EventSink {
 public:
  // REQUIRES: follower, local and presence outlive the link; `wake` is
  // thread-safe.
  BusLink(LogFollower* follower, std::function<void()> wake, events::EventSink* local,
          PresenceSync* presence)
      : follower_(follower), wake_(std::move(wake)), local_(local), presence_(presence) {}

  // REQUIRES: called once, before events are published; `bus` outlives
  // every Publish.
  void set_bus(Bus* bus) { bus_ = bus; }
  // Handoff requests and answers go to `store`. REQUIRES: as set_bus.
  void set_session_store(RedisSessionStore* store) { sessions_ = store; }

  // Bus::Listener (the bus's thread).
  void OnLogEntry(LogEntry entry) override {
    follower_->Offer(std::move(entry));
    wake_();
  }
  void OnEvents(events::EventBatch events) override { local_->Publish(std::move(events)); }
  void OnPresences(int node, const std::vector<PresenceChange>& changes, bool snapshot) override {
    presence_->OnPresences(node, changes, snapshot);
  }
  void OnHeartbeat(int node, const NodeReport& report) override {
    presence_->OnHeartbeat(node, report);
  }
  void OnSnapshotRequest(int node) override { presence_->OnSnapshotRequest(node); }
  void OnHandoffRequest(int from, int to, uint64_t session_id, uint64_t seq) override {
    if (sessions_ != nullptr) sessions_->OnHandoffRequest(from, to, session_id, seq);
  }
  void OnHandoffDone(int from, int to, uint64_t session_id, bool ok) override {
    if (sessions_ != nullptr) sessions_->OnHandoffDone(from, to, session_id, ok);
  }
  void OnLinkChanged(bool up) override {
    follower_->set_bus_live(up);
    presence_->OnLinkChanged(up);
  }

  // events::EventSink (any thread).
  void Publish(events::EventBatch events) override {
    if (bus_ != nullptr) bus_->PublishEvents(events);
    local_->Publish(std::move(events));
  }

 private:
  LogFollower* const follower_;
  const std::function<void()> wake_;
  events::EventSink* const local_;
  PresenceSync* const presence_;
  Bus* bus_ = nullptr;
  RedisSessionStore* sessions_ = nullptr;
};

}  // namespace parley::cluster
