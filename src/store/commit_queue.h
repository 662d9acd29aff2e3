// CommitQueue: group commit over a StoreBackend. One writer thread takes
// every batch that is waiting when it becomes free (up to max_batches) and
// commits them in one transaction. A lone write is committed at once; a
// burst costs few commits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "store/store.h"
#include "util/snowflake.h"

namespace parley {

// In a cluster other processes commit to the same store, and this process
// must apply their commits and its own in one order, by position
// (docs/cluster.md). The CommitQueue calls its follower on the writer
// thread, the only thread that applies commits.
class CommitFollower {
 public:
  virtual ~CommitFollower() = default;
  // Applies every commit up to `position` not applied yet (other processes'
  // commits, read from the store's log). Status::Unavailable if the log
  // cannot be read now; then nothing after the last applied commit is.
  virtual Status CatchUp(CommitPosition position) = 0;
  // This queue's own transaction at `position` committed, and its
  // callbacks, which apply it, run right after: applies everything before
  // it (waiting for the log if it must), then counts `position` as applied.
  virtual void Own(CommitPosition position) = 0;
  // Called when the writer had nothing to do for Options::idle_interval:
  // applies what others committed meanwhile.
  virtual void Idle() = 0;
};

class CommitQueue {
 public:
  // Gets the commit's status and the batch itself (so that the caller can
  // apply exactly what was committed without keeping a copy).
  using Callback = std::function<void(Status, const WriteBatch&)>;
  struct Options {
    size_t max_batches_per_commit = 1024;
    // Called on the writer thread after each successful transaction, before
    // the callbacks of its batches, with the number of batches it held, how
    // long it took (metrics) and its position in the store's commit order.
    std::function<void(size_t batches, double seconds, CommitPosition position)> on_commit;
    // Cluster mode: not owned, outlives the queue. Null: the queue is the
    // only committer to its store, and its callbacks apply every commit.
    CommitFollower* follower = nullptr;
    // The generator Prepare functions mint ids from (not owned, outlives
    // the queue), or null. The queue raises it past every id earlier
    // commits minted in any process (StoreBackend::CommitMinted), so that
    // ids follow the store's commit order, not only this queue's.
    SnowflakeGenerator* ids = nullptr;
    std::chrono::milliseconds idle_interval{20};
  };
  struct Stats {
    uint64_t commits = 0;
    uint64_t batches = 0;
    uint64_t failed_batches = 0;
  };

  // REQUIRES: `backend` outlives the queue; nothing else calls its
  // CommitBatches while the queue runs.
  CommitQueue(StoreBackend* backend, Options options);
  ~CommitQueue();  // Stops after committing everything already submitted.
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // Queues a batch. `done` runs on the writer thread after the commit (OK:
  // durable) or its failure; it must be quick (post work elsewhere). A batch
  // whose transaction failed is retried alone, so one bad batch does not
  // fail its neighbours. After Stop, `done` runs at once with an error.
  // Callbacks run in commit order; batches that committed together run in
  // submission order.
  void Submit(WriteBatch batch, Callback done);
  // Like Submit, and `prepare` runs on the writer thread just before the
  // batch's group commits, in submission order: what it assigns there (e.g.
  // message ids, from Options::ids) follows commit order, in a cluster too.
  // It may run again for one batch (a retry, or the batch alone after its
  // group failed): the last run is what commits.
  using Prepare = std::function<void(WriteBatch*)>;
  void Submit(WriteBatch batch, Callback done, Prepare prepare);

  // Read-modify-write without races: `build` runs on the writer thread when
  // everything submitted before it is committed and its callbacks have run
  // (so a State applied in those callbacks is current), fills the batch (or
  // returns an error: then nothing is committed), and the batch is committed
  // alone. An empty batch commits nothing and reports OK. `done` gets the
  // build's or the commit's status. It runs inside StoreBackend::CommitBuilt,
  // with the store's commit order lock held; with a follower, after it
  // caught up with every commit before (so State is current cluster-wide).
  using Builder = std::function<Status(WriteBatch*)>;
  void SubmitBuilder(Builder build, Callback done);

  // Cluster mode: `done` runs on the writer thread once this process has
  // applied every commit that was in the store before it ran (the
  // follower's CatchUp to the log's end; at once without a follower), with
  // the catch-up's status. For answers that must not be made on a State
  // behind another node's acknowledged write (a 404 for what another node
  // just created). After Stop, `done` runs at once with an error.
  void Sync(std::function<void(Status)> done);

  // Wakes the writer now for its follower's Idle (another node's commit
  // arrived), instead of at the end of Options::idle_interval. Thread-safe.
  void Nudge();

  // Finishes everything submitted so far, then ends the writer thread.
  void Stop();

  Stats stats() const;
  size_t queue_depth() const;
  // The position of the last successful commit made through this queue (or
  // `start` given to set_position before any), readable from any thread.
  CommitPosition position() const;
  // REQUIRES: called before the first Submit (e.g. with the position of
  // the snapshot the server loaded).
  void set_position(CommitPosition start);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley
