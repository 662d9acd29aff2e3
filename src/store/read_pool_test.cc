#include "store/read_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace parley {
namespace {

using namespace std::chrono_literals;

// Reads nothing; the pool only hands it to the reads.
class NullStore : public StoreBackend {
 public:
  Status LoadAll(Snapshot*) override { return Status::OK(); }
  Status CommitBatches(std::span<const WriteBatch* const>, CommitPosition*) override {
    return Status::OK();
  }
  Status CommitBuilt(const BuildFn&, CommitPosition*) override { return Status::OK(); }
  Status GetMessage(Snowflake, Snowflake, Message*) override { return Status::NotFound("null"); }
  Status ListMessages(const HistoryQuery&, std::vector<Message>*) override { return Status::OK(); }
  std::string Describe() const override { return "null"; }
  Status ScanMessages(const MessageKey&, int, std::vector<Message>*) override {
    return Status::OK();
  }
  Status CountMessages(uint64_t*) override { return Status::OK(); }
};

// A gate the reads wait at, so that the test controls when threads are busy.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(l, [this] { return open_; });
  }
  void WaitForWaiters(int n) {
    std::unique_lock<std::mutex> l(mu_);
    ASSERT_TRUE(cv_.wait_for(l, 10s, [&] { return waiting_ >= n; }));
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

TEST(ReadPool, RunsReadsOnItsOwnThreadsWithTheStore) {
  NullStore store;
  ReadPool pool(&store, {.threads = 2});
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pool.Submit([&](StoreBackend& s) {
      EXPECT_EQ(&s, &store);
      std::lock_guard<std::mutex> l(mu);
      threads.insert(std::this_thread::get_id());
      ++done;
    }));
  }
  pool.Stop();  // runs everything submitted first
  EXPECT_EQ(done.load(), 50);
  EXPECT_FALSE(threads.count(std::this_thread::get_id()));
  EXPECT_LE(threads.size(), 2u);
}

TEST(ReadPool, ASlowReadDoesNotHoldUpTheOthers) {
  NullStore store;
  ReadPool pool(&store, {.threads = 2});
  Gate gate;
  ASSERT_TRUE(pool.Submit([&](StoreBackend&) { gate.Wait(); }));
  gate.WaitForWaiters(1);
  std::promise<void> fast;
  ASSERT_TRUE(pool.Submit([&](StoreBackend&) { fast.set_value(); }));
  EXPECT_EQ(fast.get_future().wait_for(10s), std::future_status::ready);
  gate.Open();
}

TEST(ReadPool, RefusesReadsBeyondItsQueueAndAfterStop) {
  NullStore store;
  ReadPool pool(&store, {.threads = 1, .max_queued = 3});
  Gate gate;
  ASSERT_TRUE(pool.Submit([&](StoreBackend&) { gate.Wait(); }));
  gate.WaitForWaiters(1);  // the only thread is busy; the queue is empty
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.Submit([&](StoreBackend&) { ++ran; }));
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_FALSE(pool.Submit([&](StoreBackend&) { ++ran; }));  // full: the caller answers 503
  gate.Open();
  pool.Stop();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(pool.Submit([&](StoreBackend&) { ++ran; }));
  pool.Stop();  // idempotent
}

TEST(ReadPool, AReadThatThrowsDoesNotStopThePool) {
  NullStore store;
  ReadPool pool(&store, {.threads = 1});
  ASSERT_TRUE(pool.Submit([](StoreBackend&) { throw std::runtime_error("bug"); }));
  std::promise<void> after;
  ASSERT_TRUE(pool.Submit([&](StoreBackend&) { after.set_value(); }));
  EXPECT_EQ(after.get_future().wait_for(10s), std::future_status::ready);
}

}  // namespace
}  // namespace parley
