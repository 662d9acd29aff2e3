// LogFollower: makes a node apply every commit of the cluster, its own and
// the other nodes', exactly once each and in position order, so that every
// node's State passes through the same states and builds the same events
// (docs/cluster.md, "Following the log").
//
// It is the CommitQueue's CommitFollower and runs on the writer thread only,
// which is the one thread that applies commits:
//   - before the callbacks of the node's own commit at p (which apply p),
//     Own(p) applies p-1 and everything before it from the log;
//   - before a builder decides (StoreBackend::CommitBuilt holds the commit
//     order lock), CatchUp(head) applies everything up to the head;
//   - when the writer is idle (or nudged: an entry came by the bus),
//     Idle() applies what it has, reading the log when an entry is missing
//     or when it has not read it for a while (the poll interval: short
//     without a live bus, long with one).
// Entries that come by the bus (Offer) are used instead of reading the
// log whenever they are the next ones needed; the bus may lose or repeat
// them, the log decides.
// A commit whose outcome the writer did not learn (503 "outcome unknown")
// is applied from the log like another node's, once it is there.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "store/commit_log.h"
#include "store/commit_queue.h"
#include "util/mutex.h"

namespace parley::cluster {

class LogFollower : public CommitFollower {
 public:
  using Apply = std::function<void(const WriteBatch& batch, CommitPosition position)>;
  struct Options {
    int entries_per_read = 256;  // 1..10000
    // Own() waits this long between attempts while the log cannot be read.
    std::chrono::milliseconds retry_interval{100};
    // Idle() reads the log at least this often: without a live bus (every
    // other node's commit is found this way), and with one (what the bus
    // lost is found this way).
    std::chrono::milliseconds poll_without_bus{20};
    std::chrono::milliseconds poll_with_bus{500};
    // An entry missing while later ones came by the bus is read from the
    // log after this long (it may still be on its way).
    std::chrono::milliseconds gap_wait{5};
    // Called by Own() with the node's own commit (to publish it on the bus).
    std::function<void(CommitPosition)> on_own;
    // What to do when the log cannot be followed in order (a hole: a commit
    // was made without its entry, by a node outside cluster mode; or a
    // malformed entry): by default, log it and end the process at once
    // (exit code 70), since going on would serve a State that others do not
    // have. Tests replace it.
    std::function<void(const Status&)> on_broken;
  };
  struct Stats {
    uint64_t own_commits = 0;      // Own() calls
    uint64_t log_entries = 0;      // entries applied from the log
    uint64_t log_batches = 0;      // their batches
    uint64_t log_reads = 0;        // ReadLog calls
    uint64_t log_read_errors = 0;  // of which failed
    uint64_t unread_entries = 0;   // applied from what was here (the bus, read-ahead)
    int64_t last_delay_ms = 0;     // commit to apply, of the last entry from the log
    int64_t last_ok_ms = 0;        // wall clock of the last successful read or own commit
  };

  // Follows `log` after position `start` (the position of the snapshot the
  // node's State was loaded from), applying each batch with `apply`.
  // REQUIRES: `log` outlives the follower; `apply` may be called on the
  // writer thread only, in position order.
  LogFollower(CommitLog* log, Apply apply, CommitPosition start, Options options);
  LogFollower(CommitLog* log, Apply apply, CommitPosition start)
      : LogFollower(log, std::move(apply), start, Options{}) {}

  // CommitFollower. REQUIRES: called on one thread (the writer's).
  Status CatchUp(CommitPosition position) override;
  void Own(CommitPosition position) override;
  void Idle() override;

  // An entry that came by the bus (any order, maybe twice, maybe never).
  // Thread-safe (the bus's thread); the writer applies it when it is next.
  void Offer(LogEntry entry);
  // Whether the bus is live (sets the poll interval). Thread-safe.
  void set_bus_live(bool live) { bus_live_.store(live, std::memory_order_relaxed); }

  // The last position applied (or counted as applied by Own). Any thread.
  CommitPosition applied() const { return applied_.load(std::memory_order_acquire); }
  Stats stats() const;

 private:
  // Applies entries after applied_ up to `upto` (all there are if upto is
  // kAllCommits). Status::Unavailable if the log cannot be read, or does
  // not reach `upto` yet; Status::Corruption for a hole or a bad entry.
  Status Pull(CommitPosition upto);
  // Applies the entries of ahead_ that follow applied_, up to `upto`.
  void ApplyAhead(CommitPosition upto);
  void ApplyEntry(const LogEntry& e);
  void Broken(const Status& s);

  CommitLog* const log_;
  const Apply apply_;
  const Options options_;
  std::atomic<CommitPosition> applied_;  // written by the writer thread only
  // Moves what the bus brought into ahead_.
  void TakeOffered();

  // Entries known beyond applied_ (read past what a Pull needed, or from
  // the bus), by position. Writer thread only. Bounded: kMaxAhead.
  static constexpr size_t kMaxAhead = 8192;
  std::map<CommitPosition, LogEntry> ahead_;
  std::vector<LogEntry> page_;  // ReadLog's buffer, reused
  bool broken_ = false;         // on_broken was called
  int64_t last_read_ms_ = 0;    // steady clock, of the last successful ReadLog
  int64_t gap_since_ms_ = 0;    // steady clock; when ahead_ first had a gap (0: none)

  Mutex offered_mu_;
  std::vector<LogEntry> offered_ GUARDED_BY(offered_mu_);  // (at most kMaxAhead)
  std::atomic<bool> bus_live_{false};

  std::atomic<uint64_t> own_commits_{0};
  std::atomic<uint64_t> log_entries_{0};
  std::atomic<uint64_t> log_batches_{0};
  std::atomic<uint64_t> log_reads_{0};
  std::atomic<uint64_t> log_read_errors_{0};
  std::atomic<uint64_t> unread_entries_{0};
  std::atomic<int64_t> last_delay_ms_{0};
  std::atomic<int64_t> last_ok_ms_{0};
};

}  // namespace parley::cluster
