// RedisBus against a real redis-server (started by the test).
#include "cluster/redis_bus.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/test_support/redis_server.h"
#include "store/batch_codec.h"

namespace parley::cluster {
namespace {

using namespace std::chrono_literals;

constexpr Snowflake kBase = Snowflake{1} << 62;

class Recorder : public Bus::Listener {
 public:
  void OnLogEntry(LogEntry e) override {
    std::lock_guard l(mu_);
    entries_.push_back(std::move(e));
    cv_.notify_all();
  }
  void OnEvents(events::EventBatch e) override {
    std::lock_guard l(mu_);
    events_ += e.size();
    cv_.notify_all();
  }
  void OnPresences(int node, const std::vector<PresenceChange>& changes, bool snapshot) override {
    std::lock_guard l(mu_);
    presences_.push_back({node, changes, snapshot});
    cv_.notify_all();
  }
  void OnHeartbeat(int node, const NodeReport& report) override {
    std::lock_guard l(mu_);
    heartbeats_.push_back(node);
    last_report_ = report;
    cv_.notify_all();
  }
  void OnSnapshotRequest(int node) override {
    std::lock_guard l(mu_);
    requests_.push_back(node);
    cv_.notify_all();
  }
  void OnLinkChanged(bool up) override {
    std::lock_guard l(mu_);
    (up ? ups_ : downs_)++;
    cv_.notify_all();
  }
  bool WaitFor(std::function<bool()> pred, std::chrono::milliseconds t = 10s) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, t, pred);
  }
  std::vector<CommitPosition> Positions() {
    std::lock_guard l(mu_);
    std::vector<CommitPosition> p;
    for (const auto& e : entries_) p.push_back(e.position);
    return p;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<LogEntry> entries_;  // guarded by mu_
  size_t events_ = 0;              // guarded by mu_
  struct Presences {
    int node;
    std::vector<PresenceChange> changes;
    bool snapshot;
  };
  std::vector<Presences> presences_;  // guarded by mu_
  std::vector<int> heartbeats_;       // guarded by mu_
  NodeReport last_report_;            // guarded by mu_
  std::vector<int> requests_;         // guarded by mu_
  int ups_ = 0, downs_ = 0;           // guarded by mu_
};

RedisBus::Options Opts(const RedisTestServer& r, int node) {
  RedisBus::Options o;
  o.port = r.port();
  o.node_id = node;
  o.channel = "parley:test:" + std::to_string(getpid());
  return o;
}

std::string Encoded(Snowflake guild) {
  WriteBatch b = {mut::DeleteGuild{guild}};
  const WriteBatch* one[] = {&b};
  std::string out;
  EncodeBatches(one, &out);
  return out;
}

bool WaitUp(const RedisBus& bus) {
  for (int i = 0; i < 500 && !bus.stats().up; ++i) std::this_thread::sleep_for(10ms);
  return bus.stats().up;
}

TEST(RedisBus, ParseAddress) {
  RedisBus::Options o;
  ASSERT_TRUE(RedisBus::ParseAddress("redis://10.0.0.5:6380", &o).ok());
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 6380);
  ASSERT_TRUE(RedisBus::ParseAddress("localhost", &o).ok());
  EXPECT_EQ(o.port, 6379);
  EXPECT_FALSE(RedisBus::ParseAddress("redis://host:0", &o).ok());
  EXPECT_FALSE(RedisBus::ParseAddress("redis://host:99999", &o).ok());
  EXPECT_FALSE(RedisBus::ParseAddress("host:12ab", &o).ok());
  EXPECT_FALSE(RedisBus::ParseAddress("", &o).ok());
}

TEST(RedisBus, NodesHearEachOtherInOrderNeverThemselves) {
  RedisTestServer redis;
  Recorder r1, r2;
  RedisBus b1(Opts(redis, 1), &r1), b2(Opts(redis, 2), &r2);
  ASSERT_TRUE(WaitUp(b1));
  ASSERT_TRUE(WaitUp(b2));
  for (CommitPosition p = 1; p <= 200; ++p) b1.PublishLogEntry(p, 1000 + p, Encoded(p));
  b2.PublishEvents({std::make_shared<events::Event>()});
  ASSERT_TRUE(r2.WaitFor([&] { return r2.entries_.size() == 200; }));
  std::vector<CommitPosition> want;
  for (CommitPosition p = 1; p <= 200; ++p) want.push_back(p);
  EXPECT_EQ(r2.Positions(), want);
  EXPECT_EQ(r2.entries_[41].committed_ms, 1042);
  EXPECT_EQ(r2.entries_[41].node, 1);
  EXPECT_EQ(r2.entries_[41].batches[0], (WriteBatch{mut::DeleteGuild{42}}));
  ASSERT_TRUE(r1.WaitFor([&] { return r1.events_ == 1; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(r1.entries_.empty()) << "node 1 heard its own entries";
  EXPECT_EQ(r2.events_, 0u) << "node 2 heard its own events";
  EXPECT_EQ(b1.stats().published, 200u);
  EXPECT_EQ(b1.stats().dropped, 0u);
  EXPECT_EQ(b2.stats().received, 200u);
}

TEST(RedisBus, PresencesHeartbeatsAndSnapshotRequestsArrive) {
  RedisTestServer redis;
  Recorder r1, r2;
  RedisBus b1(Opts(redis, 1), &r1), b2(Opts(redis, 2), &r2);
  ASSERT_TRUE(WaitUp(b1));
  ASSERT_TRUE(WaitUp(b2));
  events::Presence p;
  p.status = "dnd";
  p.activities_json = R"([{"name":"x","type":0}])";
  p.updated_ms = 123;
  b1.PublishPresences({{kBase + 1, p}, {kBase + 2, std::nullopt}}, /*snapshot=*/true);
  b1.PublishHeartbeat({.sessions = 3, .applied = 41, .started_ms = 1700000000000});
  b1.PublishSnapshotRequest();
  ASSERT_TRUE(r2.WaitFor([&] { return !r2.requests_.empty(); }));
  EXPECT_EQ(r2.last_report_.sessions, 3u);
  EXPECT_EQ(r2.last_report_.applied, 41u);
  EXPECT_EQ(r2.last_report_.started_ms, 1700000000000);
  ASSERT_EQ(r2.presences_.size(), 1u);
  EXPECT_EQ(r2.presences_[0].node, 1);
  EXPECT_TRUE(r2.presences_[0].snapshot);
  ASSERT_EQ(r2.presences_[0].changes.size(), 2u);
  EXPECT_EQ(r2.presences_[0].changes[0].first, kBase + 1);
  ASSERT_TRUE(r2.presences_[0].changes[0].second.has_value());
  EXPECT_EQ(r2.presences_[0].changes[0].second->status, "dnd");
  EXPECT_EQ(r2.presences_[0].changes[0].second->activities_json, p.activities_json);
  EXPECT_EQ(r2.presences_[0].changes[0].second->updated_ms, 123);
  EXPECT_FALSE(r2.presences_[0].changes[1].second.has_value());
  EXPECT_EQ(r2.heartbeats_, std::vector<int>{1});
  EXPECT_EQ(r2.requests_, std::vector<int>{1});
}

TEST(RedisBus, OwnHeartbeatsComeBackAndADuplicateNodeIdIsSeen) {
  RedisTestServer redis;
  Recorder r1, r2, r3;
  RedisBus b1(Opts(redis, 1), &r1), b2(Opts(redis, 2), &r2);
  ASSERT_TRUE(WaitUp(b1));
  ASSERT_TRUE(WaitUp(b2));
  EXPECT_EQ(b1.stats().own_heard_ms, 0);
  b1.PublishHeartbeat({});
  for (int i = 0; i < 500 && b1.stats().own_heard_ms == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GT(b1.stats().own_heard_ms, 0) << "the canary came back";
  EXPECT_EQ(b1.stats().duplicate_ms, 0);
  ASSERT_TRUE(r2.WaitFor([&] { return !r2.heartbeats_.empty(); }));
  // A second process as node 1.
  RedisBus dup(Opts(redis, 1), &r3);
  ASSERT_TRUE(WaitUp(dup));
  dup.PublishHeartbeat({});
  b1.PublishHeartbeat({});
  for (int i = 0; i < 500 && (b1.stats().duplicate_ms == 0 || dup.stats().duplicate_ms == 0); ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_GT(b1.stats().duplicate_ms, 0);
  EXPECT_GT(dup.stats().duplicate_ms, 0);
  EXPECT_EQ(b2.stats().duplicate_ms, 0);
}

TEST(RedisBus, RedisKilledAndBackDropsMeanwhileThenFlowsAgain) {
  RedisTestServer redis;
  Recorder r1, r2;
  RedisBus b1(Opts(redis, 1), &r1), b2(Opts(redis, 2), &r2);
  ASSERT_TRUE(WaitUp(b1));
  ASSERT_TRUE(WaitUp(b2));
  b1.PublishLogEntry(1, 1, Encoded(1));
  ASSERT_TRUE(r2.WaitFor([&] { return r2.entries_.size() == 1; }));

  redis.Kill();
  ASSERT_TRUE(r2.WaitFor([&] { return r2.downs_ >= 1; }, 10s)) << "the listener heard the loss";
  // The publisher finds out by publishing; from then on a publish is
  // dropped at once (counted), never queued behind a dead link or blocked.
  bool dropping = false;
  for (int i = 0; i < 500 && !dropping; ++i) {
    const uint64_t before = b1.stats().dropped;
    b1.PublishLogEntry(2, 2, Encoded(2));
    dropping = b1.stats().dropped == before + 1;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(dropping);
  EXPECT_FALSE(b1.stats().up);

  redis.Start();
  ASSERT_TRUE(WaitUp(b1));
  ASSERT_TRUE(WaitUp(b2));
  ASSERT_TRUE(r2.WaitFor([&] { return r2.ups_ >= 2; }));
  b1.PublishLogEntry(4, 4, Encoded(4));
  ASSERT_TRUE(r2.WaitFor([&] { return !r2.entries_.empty() && r2.entries_.back().position == 4; }));
  EXPECT_GE(b1.stats().reconnects, 1u);
  EXPECT_GE(b2.stats().reconnects, 1u);
}

TEST(RedisBus, ASilentlyDeadLinkIsNoticed) {
  // The server stops answering (SIGSTOP, as a frozen or partitioned Redis):
  // the receiving link gives up after 3 s without a PONG.
  RedisTestServer redis;
  Recorder r;
  RedisBus b(Opts(redis, 1), &r);
  ASSERT_TRUE(WaitUp(b));
  ASSERT_EQ(kill(redis.pid(), SIGSTOP), 0);
  const bool noticed = r.WaitFor([&] { return r.downs_ >= 1; }, 8s);
  kill(redis.pid(), SIGCONT);
  EXPECT_TRUE(noticed);
}

}  // namespace
}  // namespace parley::cluster
