// EventSink: where events go to be delivered. The gateway implements it on a
// node; the commit path (CommitApplier) and the REST handlers of ephemeral
// events (typing) publish into it without knowing who delivers. In cluster
// mode this is the seam at which the bus plugs in (docs/cluster.md).
#pragma once

#include "events/event.h"

namespace parley::events {

class EventSink {
 public:
  virtual ~EventSink() = default;

  // Delivers `events` to every session allowed to see them (Event::Target,
  // intent and permission). Thread-safe; never blocks on a session. Events
  // published from one thread reach each session in the order published.
  virtual void Publish(EventBatch events) = 0;
};

}  // namespace parley::events
