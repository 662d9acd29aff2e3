// ReadYourWrites: the commit position of each user's last write, so that a
// history read that a store may serve from a replica never shows the reader
// a page older than their own write (HistoryQuery::min_position). Users who
// wrote long ago are forgotten; their reads then need the position of the
// oldest write forgotten, which every replica that is not far behind has.
#pragma once

#include <algorithm>
#include <atomic>

#include "state/sharded_map.h"
#include "store/store.h"

namespace parley {

class ReadYourWrites {
 public:
  // `user`'s write committed at `position`. Thread-safe.
  void Wrote(Snowflake user, CommitPosition position) {
    last_.Update(user, [position](CommitPosition& p) { p = std::max(p, position); });
  }
  // The position a read by `user` must see. Thread-safe.
  CommitPosition MinPosition(Snowflake user) const {
    return std::max(last_.Get(user).value_or(0), floor_.load(std::memory_order_acquire));
  }
  // Forgets the users whose last write is at or before `position` (call it
  // with the position of a while ago, e.g. once a minute with the position
  // of a minute before). Thread-safe.
  void Forget(CommitPosition position) {
    CommitPosition f = floor_.load(std::memory_order_relaxed);
    while (f < position && !floor_.compare_exchange_weak(f, position)) {
    }
    last_.EraseIf([position](Snowflake, CommitPosition p) { return p <= position; });
  }
  size_t size() const { return last_.Size(); }

 private:
  ShardedMap<Snowflake, CommitPosition> last_;
  std::atomic<CommitPosition> floor_{0};
};

}  // namespace parley
