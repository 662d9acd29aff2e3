// CommitQueue: group commit over a StoreBackend.
//
// One writer thread loops: wait until work is queued, take every waiting
// batch (up to max_batches_per_commit), commit them in one transaction, then
// run their callbacks in submission order. There is no timer: a lone write is
// committed as soon as the writer is free, and batches pile up only while a
// commit is in progress. If a grouped transaction fails, every batch of the
// group is retried alone so that one bad batch does not fail its neighbours.

#include "store/commit_queue.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "util/mutex.h"

namespace parley {

struct CommitQueue::Impl {
  struct Item {
    WriteBatch batch;
    Callback done;
    Builder build;    // if set: fills `batch` on the writer thread, committed alone
    Prepare prepare;  // if set: runs on the writer thread right before the commit
    std::function<void(Status)> sync;  // if set: a Sync, nothing to commit
  };

  Impl(StoreBackend* b, Options o)
      : backend(b),
        max_batches(std::max<size_t>(1, o.max_batches_per_commit)),
        on_commit(std::move(o.on_commit)),
        follower(o.follower),
        ids(o.ids),
        idle_interval(o.idle_interval) {}

  // The writer thread's loop; returns once stopping and the queue is empty.
  void Run();
  // Waits until there is work or the queue is stopping; with a follower,
  // at most idle_interval (or until Nudge): false then, time for its Idle().
  bool WaitForWork() REQUIRES(mu);
  // Moves the next group off the queue into `work`: a builder alone, Syncs
  // in a row together, else plain batches up to the next builder or Sync.
  // REQUIRES: the queue is not empty.
  void TakeWork(std::vector<Item>* work) REQUIRES(mu);
  // Commits `work` (plain batches) as one group, falling back to one commit
  // per batch if the group fails.
  void CommitGroup(std::vector<Item>& work, std::vector<const WriteBatch*>& ptrs);
  // Builds and commits one builder item alone.
  void CommitBuilt(Item& item);
  // backend->CommitBatches (CommitMinted if an item of `items` has a
  // prepare: they run once the commit's place in the store's order is
  // settled), timed for on_commit. `batches_in` are the items' batches.
  Status TimedCommit(std::span<Item> items, std::span<const WriteBatch* const> batches_in);
  // After a transaction at `pos` (of `batches_in`, begun at t0) committed,
  // before its callbacks: the follower, the position, on_commit.
  void Committed(std::span<const WriteBatch* const> batches_in,
                 std::chrono::steady_clock::time_point t0, CommitPosition pos);
  // Runs `done` (if any) with `s`.
  static void Finish(Item& item, const Status& s) {
    if (item.done) item.done(s, item.batch);
  }

  StoreBackend* const backend;
  const size_t max_batches;
  const std::function<void(size_t, double, CommitPosition)> on_commit;
  CommitFollower* const follower;
  SnowflakeGenerator* const ids;
  const std::chrono::milliseconds idle_interval;

  Mutex mu;
  CondVar cv{&mu};
  std::deque<Item> queue GUARDED_BY(mu);
  bool stopping GUARDED_BY(mu) = false;
  bool nudged GUARDED_BY(mu) = false;

  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> failed_batches{0};
  std::atomic<size_t> depth{0};             // == queue.size(), readable without mu
  std::atomic<CommitPosition> position{0};  // written by the writer thread only

  Mutex join_mu;  // serializes concurrent Stop() calls around join()
  std::thread writer;
};

bool CommitQueue::Impl::WaitForWork() {
  if (follower == nullptr) {
    while (!stopping && queue.empty()) cv.Wait();
    return true;
  }
  const auto until = std::chrono::steady_clock::now() + idle_interval;
  while (!stopping && queue.empty() && !nudged) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    cv.WaitFor(left);
  }
  if (queue.empty() && !stopping) {
    nudged = false;
    return false;
  }
  return true;
}

void CommitQueue::Impl::TakeWork(std::vector<Item>* work) {
  // A builder is taken alone, and Syncs in a row together (one catch-up
  // that begins after all of them were asked serves them all: a storm of
  // resumes asks thousands at once); plain batches are taken up to the next
  // builder or Sync, so that every builder sees the State left by all that
  // was submitted before it.
  if (queue.front().build) {
    work->push_back(std::move(queue.front()));
    queue.pop_front();
  } else if (queue.front().sync) {
    while (!queue.empty() && queue.front().sync) {
      work->push_back(std::move(queue.front()));
      queue.pop_front();
    }
  } else {
    while (!queue.empty() && work->size() < max_batches && !queue.front().build &&
           !queue.front().sync) {
      work->push_back(std::move(queue.front()));
      queue.pop_front();
    }
  }
  depth.store(queue.size(), std::memory_order_relaxed);
}

void CommitQueue::Impl::Run() {
  std::vector<Item> work;
  std::vector<const WriteBatch*> ptrs;
  work.reserve(std::min<size_t>(max_batches, 1024));
  ptrs.reserve(work.capacity());
  for (;;) {
    work.clear();
    ptrs.clear();
    bool idle = false;
    {
      MutexLock l(&mu);
      idle = !WaitForWork();
      if (!idle) {
        if (queue.empty()) return;  // stopping, and everything is drained
        TakeWork(&work);
      }
    }
    if (idle) {
      follower->Idle();
      continue;
    }
    // Callbacks run below, outside the lock, on this thread.
    if (work[0].sync) {
      const Status s = follower != nullptr ? follower->CatchUp(kAllCommits) : Status::OK();
      for (Item& item : work) item.sync(s);
    } else if (work.size() == 1 && work[0].build) {
      CommitBuilt(work[0]);
    } else {
      CommitGroup(work, ptrs);
    }
  }
}

Status CommitQueue::Impl::TimedCommit(std::span<Item> items,
                                      std::span<const WriteBatch* const> batches_in) {
  auto t0 = std::chrono::steady_clock::now();
  CommitPosition pos = 0;
  const bool mints =
      std::any_of(items.begin(), items.end(), [](const Item& i) { return i.prepare; });
  Status s = mints ? backend->CommitMinted(
                         batches_in,
                         [&](Snowflake floor) {
                           StoreBackend::MintedIds minted;
                           if (ids != nullptr) {
                             ids->Raise(floor);
                             // Every id minted from here on is above the last.
                             minted.lo = ids->Last() + 1;
                           }
                           for (Item& item : items)
                             if (item.prepare) item.prepare(&item.batch);
                           if (ids != nullptr) minted.hi = ids->Last();
                           if (minted.hi < minted.lo) minted = {};
                           return minted;
                         },
                         &pos)
                   : backend->CommitBatches(batches_in, &pos);
  if (!s.ok()) return s;
  Committed(batches_in, t0, pos);
  return s;
}

void CommitQueue::Impl::Committed(std::span<const WriteBatch* const> batches_in,
                                  std::chrono::steady_clock::time_point t0, CommitPosition pos) {
  if (follower != nullptr) follower->Own(pos);
  position.store(pos, std::memory_order_release);
  if (on_commit)
    on_commit(batches_in.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), pos);
}

void CommitQueue::Impl::CommitBuilt(Item& item) {
  auto t0 = std::chrono::steady_clock::now();
  bool filled = false;
  CommitPosition pos = 0;
  Status s = backend->CommitBuilt(
      [&](CommitPosition head, WriteBatch* batch) {
        if (follower != nullptr) {
          Status c = follower->CatchUp(head);
          if (!c.ok()) return c;
        }
        *batch = std::move(item.batch);
        Status b = item.build(batch);
        filled = b.ok() && !batch->empty();
        // Keep the batch for the callback (CommitBuilt's is its own).
        item.batch = *batch;
        return b;
      },
      &pos);
  if (filled) {
    batches.fetch_add(1, std::memory_order_relaxed);
    if (s.ok()) {
      commits.fetch_add(1, std::memory_order_relaxed);
      const WriteBatch* one[] = {&item.batch};
      Committed(std::span<const WriteBatch* const>(one, 1), t0, pos);
    } else {
      failed_batches.fetch_add(1, std::memory_order_relaxed);
    }
  }
  Finish(item, s);
}

void CommitQueue::Impl::CommitGroup(std::vector<Item>& work, std::vector<const WriteBatch*>& ptrs) {
  for (Item& item : work) ptrs.push_back(&item.batch);
  Status s = TimedCommit(std::span<Item>(work), std::span<const WriteBatch* const>(ptrs));
  if (s.ok()) {
    commits.fetch_add(1, std::memory_order_relaxed);
    batches.fetch_add(work.size(), std::memory_order_relaxed);
    for (Item& item : work) Finish(item, s);
  } else if (work.size() == 1) {
    batches.fetch_add(1, std::memory_order_relaxed);
    failed_batches.fetch_add(1, std::memory_order_relaxed);
    Finish(work[0], s);
  } else {
    // The group's transaction rolled back as a whole: retry each batch
    // alone so that each gets its own verdict.
    for (size_t i = 0; i < work.size(); ++i) {
      Status si = TimedCommit(std::span<Item>(&work[i], 1),
                              std::span<const WriteBatch* const>(&ptrs[i], 1));
      batches.fetch_add(1, std::memory_order_relaxed);
      if (si.ok()) {
        commits.fetch_add(1, std::memory_order_relaxed);
      } else {
        failed_batches.fetch_add(1, std::memory_order_relaxed);
      }
      Finish(work[i], si);
    }
  }
}

CommitQueue::CommitQueue(StoreBackend* backend, Options options)
    : impl_(std::make_unique<Impl>(backend, options)) {
  impl_->writer = std::thread([impl = impl_.get()] {
    pthread_setname_np(pthread_self(), "parley-writer");
    impl->Run();
  });
}

CommitQueue::~CommitQueue() {
  Stop();
}

void CommitQueue::SubmitBuilder(Builder build, Callback done) {
  {
    MutexLock l(&impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(Impl::Item{WriteBatch{}, std::move(done), std::move(build)});
      impl_->depth.store(impl_->queue.size(), std::memory_order_relaxed);
      impl_->cv.Signal();
      return;
    }
  }
  if (done) done(Status::IOError("store stopped"), WriteBatch{});
}

void CommitQueue::Sync(std::function<void(Status)> done) {
  {
    MutexLock l(&impl_->mu);
    if (!impl_->stopping) {
      Impl::Item item;
      item.sync = std::move(done);
      impl_->queue.push_back(std::move(item));
      impl_->depth.store(impl_->queue.size(), std::memory_order_relaxed);
      impl_->cv.Signal();
      return;
    }
  }
  done(Status::IOError("store stopped"));
}

void CommitQueue::Nudge() {
  MutexLock l(&impl_->mu);
  impl_->nudged = true;
  impl_->cv.Signal();
}

void CommitQueue::Submit(WriteBatch batch, Callback done) {
  Submit(std::move(batch), std::move(done), nullptr);
}

void CommitQueue::Submit(WriteBatch batch, Callback done, Prepare prepare) {
  {
    MutexLock l(&impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(
          Impl::Item{std::move(batch), std::move(done), nullptr, std::move(prepare)});
      impl_->depth.store(impl_->queue.size(), std::memory_order_relaxed);
      // Notify under the lock: Stop() may otherwise destroy cv in between.
      impl_->cv.Signal();
      return;
    }
  }
  if (done) done(Status::IOError("store stopped"), batch);
}

// Stop() from inside a callback (i.e. on the writer thread) only marks the
// queue stopping: the writer cannot join itself. The writer then exits after
// draining, and a later Stop()/destructor from another thread joins it.
void CommitQueue::Stop() {
  {
    MutexLock l(&impl_->mu);
    impl_->stopping = true;
    impl_->cv.SignalAll();
  }
  MutexLock j(&impl_->join_mu);
  if (impl_->writer.joinable() && impl_->writer.get_id() != std::this_thread::get_id()) {
    impl_->writer.join();
  }
}

CommitQueue::Stats CommitQueue::stats() const {
  Stats s;
  s.commits = impl_->commits.load(std::memory_order_relaxed);
  s.batches = impl_->batches.load(std::memory_order_relaxed);
  s.failed_batches = impl_->failed_batches.load(std::memory_order_relaxed);
  return s;
}

CommitPosition CommitQueue::position() const {
  return impl_->position.load(std::memory_order_acquire);
}

void CommitQueue::set_position(CommitPosition start) {
  impl_->position.store(start, std::memory_order_release);
}

size_t CommitQueue::queue_depth() const {
  return impl_->depth.load(std::memory_order_relaxed);
}

}  // namespace parley
