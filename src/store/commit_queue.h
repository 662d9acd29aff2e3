// CommitQueue: group commit over a StoreBackend. One writer thread takes
// every batch that is waiting when it becomes free (up to max_batches) and
// commits them in one transaction. A lone write is committed at once; a
// burst costs few commits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "store/store.h"

namespace parley {

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
  // message ids) follows commit order.
  using Prepare = std::function<void(WriteBatch*)>;
  void Submit(WriteBatch batch, Callback done, Prepare prepare);

  // Read-modify-write without races: `build` runs on the writer thread when
  // everything submitted before it is committed and its callbacks have run
  // (so a State applied in those callbacks is current), fills the batch (or
  // returns an error: then nothing is committed), and the batch is committed
  // alone. An empty batch commits nothing and reports OK. `done` gets the
  // build's or the commit's status.
  using Builder = std::function<Status(WriteBatch*)>;
  void SubmitBuilder(Builder build, Callback done);

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
