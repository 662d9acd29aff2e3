#include "store/commit_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

// Records are built with designated initializers naming only the fields a
// test cares about; the rest keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace parley {
namespace {

using namespace std::chrono_literals;

// A batch is tagged by the id of its single PutUser.
WriteBatch Tagged(Snowflake tag) {
  return WriteBatch{mut::PutUser{User{.id = tag}}};
}
Snowflake TagOf(const WriteBatch& b) {
  return std::get<mut::PutUser>(b.at(0)).user.id;
}

// Records every CommitBatches call. Can be made to block (to let batches
// pile up behind a commit in progress) and to fail any transaction that
// contains a poisoned tag.
class FakeBackend : public StoreBackend {
 public:
  Status LoadAll(Snapshot*) override { return Status::OK(); }
  Status GetMessage(Snowflake, Snowflake, Message*) override { return Status::NotFound("fake"); }
  Status ListMessages(const HistoryQuery&, std::vector<Message>*) override { return Status::OK(); }
  std::string Describe() const override { return "fake"; }
  Status ScanMessages(const MessageKey&, int, std::vector<Message>*) override {
    return Status::OK();
  }
  Status CountMessages(uint64_t*) override { return Status::OK(); }

  Status CommitBatches(std::span<const WriteBatch* const> batches,
                       CommitPosition* position) override {
    std::unique_lock<std::mutex> l(mu_);
    std::vector<Snowflake> tags;
    for (const WriteBatch* b : batches) tags.push_back(TagOf(*b));
    calls_.push_back(tags);
    cv_.notify_all();
    cv_.wait(l, [this] { return !blocked_; });
    if (delay_ > 0ms) std::this_thread::sleep_for(delay_);
    for (Snowflake t : tags) {
      if (poison_.count(t)) return Status::IOError("poisoned batch " + std::to_string(t));
    }
    committed_.insert(committed_.end(), tags.begin(), tags.end());
    if (position) *position = ++position_;
    return Status::OK();
  }

  Status CommitBuilt(const BuildFn& build, CommitPosition* position) override {
    CommitPosition head = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      head = position_;
    }
    WriteBatch b;
    Status s = build(head, &b);
    if (!s.ok() || b.empty()) return s;
    const WriteBatch* one[] = {&b};
    return CommitBatches(std::span<const WriteBatch* const>(one, 1), position);
  }

  void Block() {
    std::lock_guard<std::mutex> l(mu_);
    blocked_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  void Poison(Snowflake tag) {
    std::lock_guard<std::mutex> l(mu_);
    poison_.insert(tag);
  }
  void SetDelay(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    delay_ = d;
  }
  // Waits until CommitBatches has been entered `n` times.
  bool WaitForCalls(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 10s, [&] { return calls_.size() >= n; });
  }
  std::vector<std::vector<Snowflake>> calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  std::vector<Snowflake> committed() {
    std::lock_guard<std::mutex> l(mu_);
    return committed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  std::chrono::milliseconds delay_{0};
  std::set<Snowflake> poison_;
  std::vector<std::vector<Snowflake>> calls_;
  std::vector<Snowflake> committed_;
  CommitPosition position_ = 0;
};

// Collects callback results in the order the callbacks ran.
class Recorder {
 public:
  CommitQueue::Callback Make(Snowflake tag) {
    return [this, tag](Status s, const WriteBatch&) {
      std::lock_guard<std::mutex> l(mu_);
      order_.push_back(tag);
      status_.push_back(s);
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 10s, [&] { return order_.size() >= n; });
  }
  std::vector<Snowflake> order() {
    std::lock_guard<std::mutex> l(mu_);
    return order_;
  }
  std::vector<Status> statuses() {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Snowflake> order_;
  std::vector<Status> status_;
};

std::vector<Snowflake> Range(Snowflake first, Snowflake last) {  // [first, last]
  std::vector<Snowflake> v;
  for (Snowflake i = first; i <= last; ++i) v.push_back(i);
  return v;
}

TEST(CommitQueue, LoneWriteCommitsAtOnce) {
  FakeBackend backend;
  CommitQueue q(&backend, {});
  std::promise<Status> done;
  q.Submit(Tagged(1), [&](Status s, const WriteBatch&) { done.set_value(s); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);  // no timer to wait for
  EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(backend.calls(), (std::vector<std::vector<Snowflake>>{{1}}));
  CommitQueue::Stats st = q.stats();
  EXPECT_EQ(st.commits, 1u);
  EXPECT_EQ(st.batches, 1u);
  EXPECT_EQ(st.failed_batches, 0u);
}

TEST(CommitQueue, GroupsBatchesThatWaitBehindACommit) {
  FakeBackend backend;
  Recorder rec;
  CommitQueue q(&backend, {});
  backend.Block();
  q.Submit(Tagged(0), rec.Make(0));
  ASSERT_TRUE(backend.WaitForCalls(1));  // the writer is now busy with batch 0
  for (Snowflake i = 1; i < 200; ++i) q.Submit(Tagged(i), rec.Make(i));
  EXPECT_EQ(q.queue_depth(), 199u);
  backend.Release();
  q.Stop();

  auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 2u);  // 200 batches, 2 transactions
  EXPECT_EQ(calls[0], std::vector<Snowflake>{0});
  EXPECT_EQ(calls[1], Range(1, 199));
  EXPECT_EQ(rec.order(), Range(0, 199));  // callbacks in submission order
  for (const Status& s : rec.statuses()) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(q.queue_depth(), 0u);
  CommitQueue::Stats st = q.stats();
  EXPECT_EQ(st.commits, 2u);
  EXPECT_EQ(st.batches, 200u);
  EXPECT_EQ(st.failed_batches, 0u);
}

// Counts catch-ups; Own and Idle do nothing.
class CountingFollower : public CommitFollower {
 public:
  Status CatchUp(CommitPosition) override {
    catch_ups.fetch_add(1);
    return Status::OK();
  }
  void Own(CommitPosition) override {}
  void Idle() override {}
  std::atomic<int> catch_ups{0};
};

TEST(CommitQueue, SyncsInARowShareOneCatchUp) {
  FakeBackend backend;
  CountingFollower follower;
  Recorder rec;
  CommitQueue q(&backend, {.follower = &follower});
  backend.Block();
  q.Submit(Tagged(0), rec.Make(0));
  ASSERT_TRUE(backend.WaitForCalls(1));  // the writer is busy with batch 0
  // 100 Syncs (a storm of resumes), a batch, then 5 more Syncs.
  std::atomic<int> done{0};
  std::vector<int> order;  // writer thread only
  for (int i = 0; i < 100; ++i)
    q.Sync([&](Status s) {
      EXPECT_TRUE(s.ok());
      order.push_back(1);
      done.fetch_add(1);
    });
  q.Submit(Tagged(1), [&](Status, const WriteBatch&) { order.push_back(2); });
  for (int i = 0; i < 5; ++i)
    q.Sync([&](Status) {
      order.push_back(3);
      done.fetch_add(1);
    });
  const int before = follower.catch_ups.load();
  backend.Release();
  q.Stop();
  EXPECT_EQ(done.load(), 105);
  // One catch-up for the first 100, one for the last 5: each after all of
  // its Syncs were asked, and none runs ahead of the batch between them.
  EXPECT_EQ(follower.catch_ups.load() - before, 2);
  ASSERT_EQ(order.size(), 106u);
  EXPECT_EQ(order[99], 1);
  EXPECT_EQ(order[100], 2);
  EXPECT_EQ(order[101], 3);
}

TEST(CommitQueue, RespectsMaxBatchesPerCommit) {
  FakeBackend backend;
  Recorder rec;
  CommitQueue q(&backend, {.max_batches_per_commit = 50});
  backend.Block();
  q.Submit(Tagged(0), rec.Make(0));
  ASSERT_TRUE(backend.WaitForCalls(1));
  for (Snowflake i = 1; i < 200; ++i) q.Submit(Tagged(i), rec.Make(i));
  backend.Release();
  q.Stop();

  auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 5u);  // 1, 50, 50, 50, 49
  EXPECT_EQ(calls[1], Range(1, 50));
  EXPECT_EQ(calls[4], Range(151, 199));
  EXPECT_EQ(rec.order(), Range(0, 199));
  EXPECT_EQ(backend.committed(), Range(0, 199));
}

TEST(CommitQueue, FailingBatchDoesNotFailItsNeighbours) {
  FakeBackend backend;
  Recorder rec;
  backend.Poison(5);
  CommitQueue q(&backend, {});
  backend.Block();
  q.Submit(Tagged(0), rec.Make(0));
  ASSERT_TRUE(backend.WaitForCalls(1));
  for (Snowflake i = 1; i < 10; ++i) q.Submit(Tagged(i), rec.Make(i));
  backend.Release();
  q.Stop();

  EXPECT_EQ(rec.order(), Range(0, 9));
  auto statuses = rec.statuses();
  ASSERT_EQ(statuses.size(), 10u);
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (i == 5) {
      EXPECT_EQ(statuses[i].code(), Status::Code::kIOError);
      EXPECT_EQ(statuses[i].message(), "poisoned batch 5");
    } else {
      EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].ToString();
    }
  }
  // {0}, then the group {1..9} fails, then each of 1..9 alone.
  auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 11u);
  EXPECT_EQ(calls[1], Range(1, 9));
  for (Snowflake i = 1; i < 10; ++i) EXPECT_EQ(calls[i + 1], std::vector<Snowflake>{i});
  EXPECT_EQ(backend.committed(), (std::vector<Snowflake>{0, 1, 2, 3, 4, 6, 7, 8, 9}));
  CommitQueue::Stats st = q.stats();
  EXPECT_EQ(st.commits, 9u);  // {0} and the 8 good retries
  EXPECT_EQ(st.batches, 10u);
  EXPECT_EQ(st.failed_batches, 1u);
}

TEST(CommitQueue, LoneFailingBatchIsNotRetried) {
  FakeBackend backend;
  Recorder rec;
  backend.Poison(7);
  CommitQueue q(&backend, {});
  q.Submit(Tagged(7), rec.Make(7));
  q.Stop();
  ASSERT_EQ(rec.statuses().size(), 1u);
  EXPECT_FALSE(rec.statuses()[0].ok());
  EXPECT_EQ(backend.calls().size(), 1u);
  EXPECT_EQ(q.stats().failed_batches, 1u);
}

TEST(CommitQueue, StopDrainsEverythingSubmitted) {
  FakeBackend backend;
  backend.SetDelay(1ms);
  Recorder rec;
  CommitQueue q(&backend, {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (Snowflake i = 0; i < 50; ++i) {
        Snowflake tag = static_cast<Snowflake>(t) * 1000 + i;
        q.Submit(Tagged(tag), rec.Make(tag));
      }
    });
  }
  for (auto& th : threads) th.join();
  q.Stop();  // returns only once all 200 are committed
  EXPECT_EQ(rec.order().size(), 200u);
  EXPECT_EQ(backend.committed().size(), 200u);
  for (const Status& s : rec.statuses()) EXPECT_TRUE(s.ok());
  EXPECT_EQ(q.stats().batches, 200u);
  EXPECT_LT(q.stats().commits, 200u);  // 1 ms commits: the burst must group
  EXPECT_EQ(q.queue_depth(), 0u);
}

TEST(CommitQueue, SubmitAfterStopFailsAtOnce) {
  FakeBackend backend;
  CommitQueue q(&backend, {});
  q.Stop();
  q.Stop();  // idempotent
  bool called = false;
  std::thread::id caller;
  q.Submit(Tagged(1), [&](Status s, const WriteBatch&) {
    called = true;
    caller = std::this_thread::get_id();
    EXPECT_EQ(s.code(), Status::Code::kIOError);
    EXPECT_EQ(s.message(), "store stopped");
  });
  EXPECT_TRUE(called);  // synchronously, before Submit returns
  EXPECT_EQ(caller, std::this_thread::get_id());
  EXPECT_TRUE(backend.calls().empty());
}

TEST(CommitQueue, DestructorDrains) {
  FakeBackend backend;
  backend.SetDelay(1ms);
  Recorder rec;
  {
    CommitQueue q(&backend, {});
    for (Snowflake i = 0; i < 30; ++i) q.Submit(Tagged(i), rec.Make(i));
  }
  EXPECT_EQ(rec.order(), Range(0, 29));
  EXPECT_EQ(backend.committed(), Range(0, 29));
}

TEST(CommitQueue, ConcurrentStopsAreSafe) {
  FakeBackend backend;
  backend.SetDelay(1ms);
  Recorder rec;
  CommitQueue q(&backend, {});
  for (Snowflake i = 0; i < 20; ++i) q.Submit(Tagged(i), rec.Make(i));
  std::thread a([&] { q.Stop(); });
  std::thread b([&] { q.Stop(); });
  a.join();
  b.join();
  EXPECT_EQ(rec.order(), Range(0, 19));
}

TEST(CommitQueue, CallbackMaySubmitAgain) {
  // Callbacks run outside the queue lock: a callback may submit.
  FakeBackend backend;
  Recorder rec;
  CommitQueue q(&backend, {});
  std::promise<void> second_done;
  q.Submit(Tagged(1), [&](Status s, const WriteBatch&) {
    EXPECT_TRUE(s.ok());
    q.Submit(Tagged(2), [&](Status s2, const WriteBatch&) {
      EXPECT_TRUE(s2.ok());
      second_done.set_value();
    });
  });
  ASSERT_EQ(second_done.get_future().wait_for(5s), std::future_status::ready);
  q.Stop();
  EXPECT_EQ(backend.committed(), (std::vector<Snowflake>{1, 2}));
}

TEST(CommitQueue, PerSubmitterOrderIsKept) {
  FakeBackend backend;
  std::mutex mu;
  std::vector<std::vector<Snowflake>> seen(8);
  CommitQueue q(&backend, {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (Snowflake i = 0; i < 300; ++i) {
        q.Submit(Tagged(i), [&, t, i](Status s, const WriteBatch&) {
          EXPECT_TRUE(s.ok());
          std::lock_guard<std::mutex> l(mu);
          seen[t].push_back(i);
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  q.Stop();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(seen[t], Range(0, 299)) << "submitter " << t;
  EXPECT_EQ(q.stats().batches, 2400u);
}

}  // namespace

TEST(CommitQueue, BuilderRunsAloneAfterEarlierCallbacks) {
  FakeBackend backend;
  CommitQueue q(&backend, {});
  backend.Block();
  std::vector<Snowflake> applied;  // written by callbacks, read by the builder (writer thread)
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  auto plain = [&](Snowflake tag) {
    q.Submit(Tagged(tag), [&, tag](Status s, const WriteBatch&) {
      ASSERT_TRUE(s.ok());
      applied.push_back(tag);
      std::lock_guard<std::mutex> l(mu);
      ++done;
      cv.notify_all();
    });
  };
  plain(1);  // blocks the writer inside its first commit
  ASSERT_TRUE(backend.WaitForCalls(1));
  plain(2);
  plain(3);
  std::vector<Snowflake> seen_by_builder;
  q.SubmitBuilder(
      [&](WriteBatch* b) {
        seen_by_builder = applied;  // every earlier callback has run
        *b = Tagged(100);
        return Status::OK();
      },
      [&](Status s, const WriteBatch& b) {
        EXPECT_TRUE(s.ok());
        EXPECT_EQ(TagOf(b), 100u);
        std::lock_guard<std::mutex> l(mu);
        ++done;
        cv.notify_all();
      });
  plain(4);
  // A failing builder commits nothing and reports its status.
  q.SubmitBuilder([](WriteBatch*) { return Status::InvalidArgument("no"); },
                  [&](Status s, const WriteBatch& b) {
                    EXPECT_FALSE(s.ok());
                    EXPECT_TRUE(b.empty());
                    std::lock_guard<std::mutex> l(mu);
                    ++done;
                    cv.notify_all();
                  });
  backend.Release();
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 10s, [&] { return done == 6; }));
  }
  EXPECT_EQ(seen_by_builder, (std::vector<Snowflake>{1, 2, 3}));
  // The builder's batch was committed alone, between the groups around it.
  auto calls = backend.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0], (std::vector<Snowflake>{1}));
  EXPECT_EQ(calls[1], (std::vector<Snowflake>{2, 3}));
  EXPECT_EQ(calls[2], (std::vector<Snowflake>{100}));
  EXPECT_EQ(calls[3], (std::vector<Snowflake>{4}));
}

}  // namespace parley

namespace parley {
namespace {

// Prepare steps run on the writer thread, in submission order, before their
// batch is committed: ids minted there follow commit order whatever thread
// submitted (the fix for message ids that disagreed with delivery order).
TEST(CommitQueue, PrepareRunsInSubmissionOrderBeforeTheCommit) {
  FakeBackend backend;
  CommitQueue q(&backend, {});
  std::atomic<Snowflake> next{1000};
  std::vector<Snowflake> minted;  // touched only on the writer thread
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t)
    submitters.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        q.Submit(
            Tagged(0), [](Status, const WriteBatch&) {},
            [&](WriteBatch* b) {
              Snowflake id = next.fetch_add(1);
              minted.push_back(id);
              *b = Tagged(id);  // what the backend commits is what prepare made
            });
    });
  for (auto& t : submitters) t.join();
  q.Stop();
  std::vector<Snowflake> committed;
  for (const auto& call : backend.calls())
    for (Snowflake id : call) committed.push_back(id);
  ASSERT_EQ(committed.size(), 200u);
  EXPECT_EQ(committed, minted);  // commit order == mint order
  EXPECT_TRUE(std::is_sorted(committed.begin(), committed.end()));
}

// on_commit sees each successful commit's position, before the callbacks
// of its batches run; position() follows, starting from set_position.
TEST(CommitQueue, ReportsEachCommitsPosition) {
  FakeBackend backend;
  std::vector<CommitPosition> seen;  // touched only on the writer thread
  std::vector<std::pair<Snowflake, CommitPosition>> at_callback;
  CommitQueue* qp = nullptr;
  CommitQueue q(&backend,
                {.on_commit = [&](size_t, double, CommitPosition p) { seen.push_back(p); }});
  qp = &q;
  backend.Poison(3);
  for (Snowflake i = 1; i <= 4; ++i) {
    std::promise<void> done;
    q.Submit(Tagged(i), [&, i](Status, const WriteBatch&) {
      at_callback.emplace_back(i, qp->position());
      done.set_value();
    });
    done.get_future().wait();
  }
  q.Stop();
  // The poisoned batch used up no position.
  EXPECT_EQ(seen, (std::vector<CommitPosition>{1, 2, 3}));
  EXPECT_EQ(at_callback,
            (std::vector<std::pair<Snowflake, CommitPosition>>{{1, 1}, {2, 2}, {3, 2}, {4, 3}}));
  EXPECT_EQ(q.position(), 3u);
}

}  // namespace
}  // namespace parley
