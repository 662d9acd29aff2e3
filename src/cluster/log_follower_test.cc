// LogFollower on a real PostgreSQL (PARLEY_TEST_PG): two "nodes" (a store
// with the commit log, a CommitQueue and a follower each) on one database,
// committing at once. Each node applies into its own record of batches,
// standing in for State: own batches in the queue's callbacks (as Api
// does), others' through the follower. Both records must be the log, in
// position order, with nothing missing or twice.
#include "cluster/log_follower.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres_store.h"
#include "store/test_support/postgres_test_db.h"
#include "util/test_support/status_assertions.h"

namespace parley::cluster {
namespace {

using namespace std::chrono_literals;

constexpr Snowflake kBase = Snowflake{1} << 62;
constexpr Snowflake Id(uint64_t k) {
  return kBase + k;
}

// What a node applied, in the order it applied it. The counter is the
// name of guild 1 read as a number: the state a builder decides on.
struct Record {
  std::mutex mu;
  std::vector<WriteBatch> batches;  // guarded by mu
  int counter = 0;                  // guarded by mu

  void Apply(const WriteBatch& b) {
    std::lock_guard l(mu);
    batches.push_back(b);
    for (const Mutation& m : b) {
      if (const auto* g = std::get_if<mut::PutGuild>(&m); g && g->guild.id == Id(1)) {
        counter = std::stoi(g->guild.name);
      }
    }
  }
  int Counter() {
    std::lock_guard l(mu);
    return counter;
  }
  std::vector<WriteBatch> Batches() {
    std::lock_guard l(mu);
    return batches;
  }
};

struct Node {
  Node(const std::string& conninfo, int id, CommitPosition start = 0)
      : ids(0, static_cast<unsigned>(id) & 31) {
    PostgresStore::Options o;
    o.commit_log = true;
    o.node_id = id;
    Status s = PostgresStore::Open(conninfo, o, &store);
    if (!s.ok()) throw std::runtime_error(s.ToString());
    LogFollower::Options fo;
    fo.on_broken = [this](const Status& st) {
      std::lock_guard l(broken_mu);
      broken = st;
    };
    follower = std::make_unique<LogFollower>(
        store->commit_log(), [this](const WriteBatch& b, CommitPosition) { record.Apply(b); },
        start, fo);
    CommitQueue::Options qo;
    qo.follower = follower.get();
    qo.ids = &ids;
    qo.idle_interval = 5ms;
    queue = std::make_unique<CommitQueue>(store.get(), qo);
  }
  ~Node() { queue->Stop(); }

  // Submits like Api::Commit: the callback applies the node's own batch.
  std::future<Status> Submit(WriteBatch b) {
    auto done = std::make_shared<std::promise<Status>>();
    auto f = done->get_future();
    queue->Submit(std::move(b), [this, done](Status s, const WriteBatch& batch) {
      if (s.ok()) record.Apply(batch);
      done->set_value(s);
    });
    return f;
  }
  // Like Api's CreateMessage: the message's id minted just before its commit.
  std::future<Status> SubmitMinted(Message m) {
    auto done = std::make_shared<std::promise<Status>>();
    auto f = done->get_future();
    queue->Submit(
        {mut::InsertMessage{std::move(m)}},
        [this, done](Status s, const WriteBatch& batch) {
          if (s.ok()) record.Apply(batch);
          done->set_value(s);
        },
        [this](WriteBatch* b) { std::get<mut::InsertMessage>((*b)[0]).message.id = ids.Next(); });
    return f;
  }
  // Like Api::CommitBuilt: reads the node's state, writes counter + 1.
  std::future<Status> Increment(std::vector<int>* wrote, std::mutex* wrote_mu) {
    auto done = std::make_shared<std::promise<Status>>();
    auto f = done->get_future();
    queue->SubmitBuilder(
        [this, wrote, wrote_mu](WriteBatch* b) {
          int next = record.Counter() + 1;
          b->push_back(mut::PutGuild{Guild{.id = Id(1), .name = std::to_string(next)}});
          std::lock_guard l(*wrote_mu);
          wrote->push_back(next);
          return Status::OK();
        },
        [this, done](Status s, const WriteBatch& batch) {
          if (s.ok()) record.Apply(batch);
          done->set_value(s);
        });
    return f;
  }
  // Waits until the follower applied `position` (the idle loop follows).
  bool WaitFor(CommitPosition position) {
    for (int i = 0; i < 1000 && follower->applied() < position; ++i)
      std::this_thread::sleep_for(5ms);
    return follower->applied() >= position;
  }

  SnowflakeGenerator ids;
  std::unique_ptr<PostgresStore> store;
  Record record;
  std::mutex broken_mu;
  Status broken;  // guarded by broken_mu
  std::unique_ptr<LogFollower> follower;
  std::unique_ptr<CommitQueue> queue;
};

class LogFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (PostgresTestServer().empty()) {
      const char* req = std::getenv("PARLEY_REQUIRE_PG");
      if (req && std::string(req) == "1") FAIL() << "PARLEY_TEST_PG is not set";
      GTEST_SKIP() << "PARLEY_TEST_PG is not set (no test server)";
    }
    db_ = std::make_unique<PostgresTestDb>();
  }
  const std::string& conninfo() const { return db_->conninfo(); }
  std::vector<WriteBatch> LogBatches() {
    std::unique_ptr<PostgresStore> reader;
    EXPECT_TRUE(PostgresStore::Open(conninfo(), {}, &reader).ok());
    std::vector<WriteBatch> out;
    std::vector<LogEntry> page;
    CommitPosition at = 0;
    for (;;) {
      EXPECT_TRUE(reader->ReadLog(at, 1000, &page).ok());
      if (page.empty()) break;
      for (auto& e : page) {
        EXPECT_EQ(e.position, at + 1);
        at = e.position;
        for (auto& b : e.batches) out.push_back(std::move(b));
      }
    }
    return out;
  }

  std::unique_ptr<PostgresTestDb> db_;
};

TEST_F(LogFollowerTest, TwoNodesApplyEveryCommitInTheLogsOrder) {
  Node a(conninfo(), 1), b(conninfo(), 2);
  constexpr int kEach = 150;
  auto post = [](Node& n, uint64_t channel) {
    std::vector<std::future<Status>> acks;
    for (int i = 0; i < kEach; ++i) {
      Message m;
      m.id = Id(channel * 1000 + static_cast<uint64_t>(i));
      m.channel_id = Id(channel);
      m.guild_id = Id(1);
      m.author_id = Id(2);
      m.content = "m" + std::to_string(i);
      acks.push_back(n.Submit({mut::InsertMessage{m}}));
      if (i % 16 == 0) std::this_thread::sleep_for(1ms);  // several group commits
    }
    for (auto& f : acks) EXPECT_TRUE(f.get().ok());
  };
  std::thread ta(post, std::ref(a), 10), tb(post, std::ref(b), 20);
  ta.join();
  tb.join();
  const std::vector<WriteBatch> log = LogBatches();
  ASSERT_EQ(log.size(), 2u * kEach);
  CommitPosition head =
      a.queue->position() > b.queue->position() ? a.queue->position() : b.queue->position();
  ASSERT_TRUE(a.WaitFor(head));
  ASSERT_TRUE(b.WaitFor(head));
  EXPECT_EQ(a.record.Batches(), log);
  EXPECT_EQ(b.record.Batches(), log);
  EXPECT_GT(a.follower->stats().log_entries, 0u);
  EXPECT_GT(b.follower->stats().own_commits, 0u);
}

TEST_F(LogFollowerTest, IdsMintedOnTwoNodesIncreaseInTheLogsOrder) {
  // Node 2's ids compare above node 1's within a millisecond: without the
  // floor, a node-1 commit right after a node-2 one in the same
  // millisecond would carry lower ids (history order against delivery
  // order).
  Node a(conninfo(), 1), b(conninfo(), 2);
  constexpr int kEach = 300;
  auto post = [](Node& n) {
    std::vector<std::future<Status>> acks;
    for (int i = 0; i < kEach; ++i) {
      Message m;
      m.channel_id = Id(7);
      m.guild_id = Id(1);
      m.author_id = Id(2);
      m.content = "m" + std::to_string(i);
      acks.push_back(n.SubmitMinted(std::move(m)));
      if (i % 4 == 0) std::this_thread::sleep_for(200us);  // many small group commits
    }
    for (auto& f : acks) EXPECT_TRUE(f.get().ok());
  };
  std::thread ta(post, std::ref(a)), tb(post, std::ref(b));
  ta.join();
  tb.join();
  Snowflake last = 0;
  size_t n = 0;
  for (const WriteBatch& batch : LogBatches()) {
    for (const Mutation& m : batch) {
      const auto* ins = std::get_if<mut::InsertMessage>(&m);
      if (ins == nullptr) continue;
      ASSERT_GT(ins->message.id, last) << "message " << n << " of the log";
      last = ins->message.id;
      ++n;
    }
  }
  EXPECT_EQ(n, 2u * kEach);
}

TEST_F(LogFollowerTest, BuildersOnTwoNodesDecideOnTheLatestState) {
  // Read-modify-write on two nodes at once: each increment reads its
  // node's State, which CommitBuilt first brings up to the head under the
  // commit order lock. No increment is lost, none is made twice.
  Node a(conninfo(), 1), b(conninfo(), 2);
  constexpr int kEach = 40;
  std::mutex wrote_mu;
  std::vector<int> wrote;
  auto run = [&](Node& n) {
    for (int i = 0; i < kEach; ++i) {
      // Plain commits in between, as messages would be.
      Message m;
      m.id = Id(500000 + static_cast<uint64_t>(&n == &a ? 0 : 1000) + static_cast<uint64_t>(i));
      m.channel_id = Id(3);
      m.guild_id = Id(1);
      m.author_id = Id(2);
      auto plain = n.Submit({mut::InsertMessage{m}});
      Status s = n.Increment(&wrote, &wrote_mu).get();
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_TRUE(plain.get().ok());
    }
  };
  std::thread ta(run, std::ref(a)), tb(run, std::ref(b));
  ta.join();
  tb.join();
  ASSERT_EQ(wrote.size(), 2u * kEach);  // builders never ran twice here
  std::sort(wrote.begin(), wrote.end());
  for (int i = 0; i < 2 * kEach; ++i) ASSERT_EQ(wrote[i], i + 1) << "increment " << i;
  CommitPosition head = std::max(a.queue->position(), b.queue->position());
  ASSERT_TRUE(a.WaitFor(head));
  ASSERT_TRUE(b.WaitFor(head));
  EXPECT_EQ(a.record.Counter(), 2 * kEach);
  EXPECT_EQ(b.record.Counter(), 2 * kEach);
  EXPECT_EQ(a.record.Batches(), LogBatches());
  EXPECT_EQ(b.record.Batches(), LogBatches());
}

TEST_F(LogFollowerTest, ANodeStartedLaterFollowsFromItsSnapshot) {
  Node a(conninfo(), 1);
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(a.Submit({mut::PutGuild{Guild{.id = Id(1), .name = std::to_string(i)}}}).get());
  }
  CommitPosition start = a.queue->position();
  Node c(conninfo(), 3, start);
  ASSERT_OK(a.Submit({mut::PutGuild{Guild{.id = Id(1), .name = "41"}}}).get());
  ASSERT_OK(c.Submit({mut::PutGuild{Guild{.id = Id(1), .name = "42"}}}).get());
  ASSERT_TRUE(a.WaitFor(start + 2));
  ASSERT_TRUE(c.WaitFor(start + 2));
  EXPECT_EQ(a.record.Counter(), 42);
  EXPECT_EQ(c.record.Counter(), 42);
  EXPECT_EQ(c.record.Batches().size(), 2u);
}

TEST_F(LogFollowerTest, ACommitWithoutItsLogEntryStopsTheFollower) {
  Node a(conninfo(), 1);
  ASSERT_OK(a.Submit({mut::PutGuild{Guild{.id = Id(1), .name = "1"}}}).get());
  // A process outside cluster mode commits: its position has no entry.
  std::unique_ptr<PostgresStore> plain;
  ASSERT_OK(PostgresStore::Open(conninfo(), {}, &plain));
  WriteBatch w = {mut::PutGuild{Guild{.id = Id(1), .name = "2"}}};
  const WriteBatch* one[] = {&w};
  ASSERT_OK(plain->CommitBatches(one, nullptr));
  // The next commit through the cluster is there, after the hole.
  Node b(conninfo(), 2, 2);
  ASSERT_OK(b.Submit({mut::PutGuild{Guild{.id = Id(1), .name = "3"}}}).get());
  Status broken;
  for (int i = 0; i < 400; ++i) {
    {
      std::lock_guard l(a.broken_mu);
      broken = a.broken;
    }
    if (!broken.ok()) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(broken.IsCorruption()) << broken.ToString();
  EXPECT_NE(broken.ToString().find("no entry at position 2"), std::string::npos)
      << broken.ToString();
  EXPECT_EQ(a.follower->applied(), 1u);
  EXPECT_EQ(a.record.Counter(), 1);
}

TEST_F(LogFollowerTest, EntriesFromTheBusApplyWithoutReadsAndAGapIsReadFromTheLog) {
  Node a(conninfo(), 1);
  // Node b follows with a live bus: it would poll the log only every 10 s.
  PostgresStore::Options o;
  o.commit_log = true;
  o.node_id = 2;
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(PostgresStore::Open(conninfo(), o, &store));
  Record record;
  LogFollower::Options fo;
  fo.poll_with_bus = 10s;  // so that only the bus and the gap rule act here
  LogFollower f(
      store->commit_log(), [&](const WriteBatch& b, CommitPosition) { record.Apply(b); }, 0, fo);
  f.set_bus_live(true);
  CommitQueue::Options qo;
  qo.follower = &f;
  qo.idle_interval = 1s;  // woken by Nudge, not by the timer
  CommitQueue q(store.get(), qo);
  // Its first Idle reads the log once (empty yet).
  q.Nudge();
  for (int i = 0; i < 200 && f.stats().log_reads == 0; ++i) std::this_thread::sleep_for(5ms);
  const uint64_t reads_before = f.stats().log_reads;
  ASSERT_EQ(reads_before, 1u);

  for (int i = 1; i <= 3; ++i) {
    ASSERT_OK(a.Submit({mut::PutGuild{Guild{.id = Id(1), .name = std::to_string(i)}}}).get());
  }
  std::vector<LogEntry> entries;
  ASSERT_OK(a.store->ReadLog(0, 10, &entries));
  ASSERT_EQ(entries.size(), 3u);
  f.Offer(entries[0]);
  q.Nudge();
  for (int i = 0; i < 200 && f.applied() < 1; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(f.applied(), 1u);
  EXPECT_EQ(f.stats().log_reads, reads_before) << "an entry from the bus needs no read";
  // Entry 2 lost by the bus; 3 arrives: 2 is read from the log.
  f.Offer(entries[2]);
  f.Offer(entries[0]);  // a repeat is ignored
  q.Nudge();
  for (int i = 0; i < 100 && f.applied() < 3; ++i) {
    std::this_thread::sleep_for(10ms);
    q.Nudge();
  }
  EXPECT_EQ(f.applied(), 3u);
  EXPECT_GT(f.stats().log_reads, reads_before);
  EXPECT_EQ(record.Counter(), 3);
  EXPECT_EQ(record.Batches(), LogBatches());
  q.Stop();
}

}  // namespace
TEST_F(LogFollowerTest, RetentionDeletesTheLogBeforeAPositionOnce) {
  Node a(conninfo(), 1);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_OK(a.Submit({mut::PutGuild{Guild{.id = Id(1), .name = std::to_string(i)}}}).get());
  }
  // Two nodes trimming at once: one deletes, the other finds nothing left
  // or skips (the advisory lock).
  uint64_t d1 = 0, d2 = 0;
  std::thread t([&] { EXPECT_TRUE(a.store->TrimLog(4, &d2).ok()); });
  ASSERT_OK(a.store->TrimLog(4, &d1));
  t.join();
  EXPECT_EQ(d1 + d2, 3u) << "positions 1..3, deleted once";
  std::vector<LogEntry> entries;
  ASSERT_OK(a.store->ReadLog(0, 10, &entries));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].position, 4u);
  // A node that follows from position 3 on still finds every entry after it.
  ASSERT_OK(a.store->ReadLog(3, 10, &entries));
  EXPECT_EQ(entries.size(), 2u);
  uint64_t again = 0;
  ASSERT_OK(a.store->TrimLog(4, &again));
  EXPECT_EQ(again, 0u);
}

}  // namespace parley::cluster
