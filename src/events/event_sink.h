// EventSink: where events go to be delivered. The gateway implements it on a
// node; the commit path (CommitApplier) and the REST handlers of ephemeral
// events (typing) publish into it without knowing who delivers. In cluster
// mode this is the seam at which the bus plugs in (docs/cluster.md).
#pragma once

#include <cstdint>
#include <utility>

#include "events/event.h"

namespace parley::events {

class EventSink {
 public:
  virtual ~EventSink() = default;

  // Delivers `events` to every session allowed to see them (Event::Target,
  // intent and permission). Thread-safe; never blocks on a session. Events
  // published from one thread reach each session in the order published.
  virtual void Publish(EventBatch events) = 0;
  // The events of the commit at log position `position` (the writer
  // thread, in position order; a group commit's batches share one).
  // Default: as Publish. The gateway keeps them by position to rebuild a
  // session resumed from another node (docs/cluster.md).
  virtual void PublishCommitted(EventBatch events, uint64_t position) {
    (void)position;
    Publish(std::move(events));
  }
};

}  // namespace parley::events
