// CommitApplier: the step from a committed WriteBatch to the node's State
// and to events. Every committed batch passes through Apply exactly once, in
// commit order, so State and the event stream follow the store's order of
// commits:
//   plan = PlanEvents(state, batch);   // what existed before
//   state.Apply(batch);
//   sink.Publish(BuildEvents(state, batch, plan) + presences of new members)
#pragma once

#include "events/event_sink.h"
#include "events/presence.h"
#include "state/state.h"

namespace parley::events {

class CommitApplier {
 public:
  // `sink` and `presence` may be null (a server without a gateway: tools,
  // tests): then Apply only updates State.
  // REQUIRES: every pointer given outlives the applier.
  CommitApplier(State* state, EventSink* sink, const PresenceRegistry* presence)
      : state_(state), sink_(sink), presence_(presence) {}

  // Applies `batch`, committed at log position `position`, to State and
  // publishes its events (EventSink::PublishCommitted).
  // REQUIRES: `batch` is committed; batches are applied in commit order,
  // one at a time (the writer thread).
  void Apply(const WriteBatch& batch, uint64_t position);

 private:
  State* state_;
  EventSink* sink_;
  const PresenceRegistry* presence_;
};

}  // namespace parley::events
