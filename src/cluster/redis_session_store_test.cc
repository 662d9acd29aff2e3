// RedisSessionStore (and RedisClient under it) against a real redis-server.
#include "cluster/redis_session_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "cluster/bus_codec.h"
#include "cluster/redis_bus.h"
#include "cluster/test_support/redis_server.h"

namespace parley::cluster {
namespace {

using namespace std::chrono_literals;
using events::JournalEntry;
using events::SessionCheckpoint;
using Saved = events::SessionStore::Saved;

RedisSessionStore::Options Opts(const RedisTestServer& r, int node, uint64_t incarnation) {
  RedisSessionStore::Options o;
  o.port = r.port();
  o.node_id = node;
  o.incarnation = incarnation;
  return o;
}

// Waits until the store's connection is up (commands before fail at once).
void WaitUp(RedisSessionStore& s) {
  for (int i = 0; i < 500; ++i) {
    std::promise<Saved> p;
    SessionCheckpoint c;
    c.session_id = 1;
    c.node = s.node_id();
    c.incarnation = s.incarnation();
    s.Save(c, 1000, nullptr, [&](Saved r) { p.set_value(r); });
    if (p.get_future().get() != Saved::kFailed) return;
    std::this_thread::sleep_for(10ms);
  }
  FAIL() << "the store never came up";
}

Saved SaveSync(RedisSessionStore& s, const SessionCheckpoint& c,
               const SessionCheckpoint* replacing = nullptr) {
  std::promise<Saved> p;
  s.Save(c, 60000, replacing, [&](Saved r) { p.set_value(r); });
  return p.get_future().get();
}

std::optional<SessionCheckpoint> LoadSync(RedisSessionStore& s, uint64_t id) {
  std::promise<std::optional<SessionCheckpoint>> p;
  s.Load(id, [&](bool ok, std::optional<SessionCheckpoint> c) {
    EXPECT_TRUE(ok);
    p.set_value(std::move(c));
  });
  return p.get_future().get();
}

SessionCheckpoint Checkpoint(const RedisSessionStore& s, uint64_t id, uint64_t seq) {
  SessionCheckpoint c;
  c.session_id = id;
  c.node = s.node_id();
  c.incarnation = s.incarnation();
  c.user_id = 42;
  c.token_tag = 7;
  c.intents = 513;
  c.shard_id = 1;
  c.shard_count = 2;
  c.seq = seq;
  c.position = 1000 + seq;
  c.journal = 3;
  c.guilds = {5, 9};
  c.saved_ms = 123456;
  return c;
}

events::EventBatch Typing(Snowflake guild) {
  auto e = std::make_shared<events::Event>();
  e->guild_id = guild;
  e->frame = events::MakeDispatch("TYPING_START", "{}");
  return {e};
}

TEST(RedisSessionStore, CheckpointsRoundTripAndBelongToTheirNode) {
  RedisTestServer redis;
  RedisSessionStore a(Opts(redis, 1, 11), [](int) { return true; });
  RedisSessionStore b(Opts(redis, 2, 22), [](int) { return true; });
  WaitUp(a);
  WaitUp(b);
  EXPECT_FALSE(LoadSync(a, 99).has_value());
  ASSERT_EQ(SaveSync(a, Checkpoint(a, 99, 5)), Saved::kStored);
  auto got = LoadSync(b, 99);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->node, 1);
  EXPECT_EQ(got->incarnation, 11u);
  EXPECT_EQ(got->seq, 5u);
  EXPECT_EQ(got->position, 1005u);
  EXPECT_EQ(got->guilds, (std::vector<Snowflake>{5, 9}));
  EXPECT_EQ(got->shard_count, 2);
  EXPECT_EQ(got->saved_ms, 123456);
  // Its own node replaces it; another only by taking it over, and then
  // the first node's saves are refused (it lost the session).
  EXPECT_EQ(SaveSync(a, Checkpoint(a, 99, 6)), Saved::kStored);
  EXPECT_EQ(SaveSync(b, Checkpoint(b, 99, 7)), Saved::kNotOurs);
  EXPECT_EQ(LoadSync(b, 99)->seq, 6u);
  const SessionCheckpoint of_a = Checkpoint(a, 99, 6);
  EXPECT_EQ(SaveSync(b, Checkpoint(b, 99, 7), &of_a), Saved::kStored);
  EXPECT_EQ(SaveSync(a, Checkpoint(a, 99, 8)), Saved::kNotOurs);
  EXPECT_EQ(LoadSync(a, 99)->node, 2);
  // A third node taking over from A too late (B has it): refused.
  RedisSessionStore c3(Opts(redis, 3, 44), [](int) { return true; });
  WaitUp(c3);
  EXPECT_EQ(SaveSync(c3, Checkpoint(c3, 99, 7), &of_a), Saved::kNotOurs);
  EXPECT_EQ(LoadSync(c3, 99)->node, 2);
  // Another process of node 1 (a restart) is not node 1's old process.
  RedisSessionStore a2(Opts(redis, 1, 33), [](int) { return true; });
  WaitUp(a2);
  ASSERT_EQ(SaveSync(a, Checkpoint(a, 100, 1)), Saved::kStored);
  EXPECT_EQ(SaveSync(a2, Checkpoint(a2, 100, 2)), Saved::kNotOurs);
}

TEST(RedisSessionStore, CheckpointDecodingRejectsMalformedBytes) {
  SessionCheckpoint c;
  c.session_id = 1;
  c.guilds = {1, 2, 3};
  const std::string bytes = EncodeCheckpoint(c);
  SessionCheckpoint out;
  EXPECT_TRUE(DecodeCheckpoint(bytes, &out));
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(DecodeCheckpoint(bytes.substr(0, n), &out)) << "truncated at " << n;
  EXPECT_FALSE(DecodeCheckpoint(bytes + "x", &out));
  std::string v = bytes;
  v[0] = 9;  // another version
  EXPECT_FALSE(DecodeCheckpoint(v, &out));
}

std::pair<bool, std::vector<JournalEntry>> ReadSync(RedisSessionStore& s, int node, uint64_t inc,
                                                    uint64_t after, uint32_t earlier = 0) {
  std::promise<std::pair<bool, std::vector<JournalEntry>>> p;
  s.ReadJournal(node, inc, after, earlier, [&](bool ok, std::vector<JournalEntry> e) {
    p.set_value({ok, std::move(e)});
  });
  return p.get_future().get();
}

TEST(RedisSessionStore, JournalReadsBackInOrderAndShowsWhatIsMissing) {
  RedisTestServer redis;
  RedisSessionStore a(Opts(redis, 1, 11), [](int) { return true; });
  WaitUp(a);
  // Nothing journaled yet: an empty journal after 0 is fine.
  auto [ok0, none] = ReadSync(a, 1, 11, 0);
  EXPECT_TRUE(ok0);
  EXPECT_TRUE(none.empty());
  for (uint64_t i = 1; i <= 5; ++i) {
    std::promise<bool> p;
    a.Journal({.index = i,
               .after_position = 100 + i,
               .after_batches = static_cast<uint32_t>(i % 3),
               .at_ms = 5000 + static_cast<int64_t>(i),
               .events = Typing(1000 + i)},
              [&](bool ok) { p.set_value(ok); });
    ASSERT_TRUE(p.get_future().get());
  }
  auto [ok, after2] = ReadSync(a, 1, 11, 2);
  ASSERT_TRUE(ok);
  ASSERT_EQ(after2.size(), 3u);
  EXPECT_EQ(after2[0].index, 3u);
  EXPECT_EQ(after2[0].after_position, 103u);
  EXPECT_EQ(after2[0].after_batches, 0u);
  EXPECT_EQ(after2[1].after_batches, 1u);
  EXPECT_EQ(after2[0].at_ms, 5003);
  ASSERT_EQ(after2[0].events.size(), 1u);
  EXPECT_EQ(after2[0].events[0]->guild_id, 1003u);
  EXPECT_EQ(after2[2].index, 5u);
  // With the entries just before (what the node had delivered then): 2 of
  // them asked, 2 held; 9 asked, the 3 there are.
  auto [ok_e, with2] = ReadSync(a, 1, 11, 3, 2);
  ASSERT_TRUE(ok_e);
  ASSERT_EQ(with2.size(), 4u);
  EXPECT_EQ(with2[0].index, 2u);
  EXPECT_EQ(with2[3].index, 5u);
  auto [ok_all, with9] = ReadSync(a, 1, 11, 3, 9);
  ASSERT_TRUE(ok_all);
  ASSERT_EQ(with9.size(), 5u);
  EXPECT_EQ(with9[0].index, 1u);
  // A journal that holds nothing after an index it once passed: gone
  // (Redis restarted), so it cannot say what was delivered.
  EXPECT_FALSE(ReadSync(a, 1, 99, 4).first);
  // A hole (an entry trimmed or lost) is reported, not skipped.
  std::promise<bool> p;
  a.Journal({.index = 7, .after_position = 200, .events = Typing(1)},
            [&](bool ok) { p.set_value(ok); });
  ASSERT_TRUE(p.get_future().get());
  EXPECT_FALSE(ReadSync(a, 1, 11, 4).first);
  EXPECT_TRUE(ReadSync(a, 1, 11, 6).first);
  // Holes among the earlier entries are not checked (they may be trimmed).
  auto [ok_h, held] = ReadSync(a, 1, 11, 7, 4);
  EXPECT_TRUE(ok_h);
  ASSERT_EQ(held.size(), 3u);  // 4, 5 (6 was never there), 7
  EXPECT_EQ(held[0].index, 4u);
  EXPECT_EQ(held[2].index, 7u);
}

TEST(RedisSessionStore, CommandsSurviveARedisRestart) {
  RedisTestServer redis;
  RedisSessionStore a(Opts(redis, 1, 11), [](int) { return true; });
  WaitUp(a);
  redis.Kill();
  EXPECT_EQ(SaveSync(a, Checkpoint(a, 5, 1)), Saved::kFailed);
  redis.Start();
  // The first command after the restart goes out on a new connection
  // (the old one is found broken when it is used).
  Saved r = Saved::kFailed;
  for (int i = 0; i < 300 && r == Saved::kFailed; ++i) {
    r = SaveSync(a, Checkpoint(a, 5, 1));
    if (r == Saved::kFailed) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(r, Saved::kStored);
}

TEST(RedisSessionStore, HandoffsGoToTheOwnerAndBack) {
  RedisTestServer redis;
  struct Link : Bus::Listener {
    RedisSessionStore* store = nullptr;
    void OnLogEntry(LogEntry) override {}
    void OnEvents(events::EventBatch) override {}
    void OnPresences(int, const std::vector<PresenceChange>&, bool) override {}
    void OnHeartbeat(int, const NodeReport&) override {}
    void OnSnapshotRequest(int) override {}
    void OnLinkChanged(bool) override {}
    void OnHandoffRequest(int from, int to, uint64_t id, uint64_t seq) override {
      store->OnHandoffRequest(from, to, id, seq);
    }
    void OnHandoffDone(int from, int to, uint64_t id, bool ok) override {
      store->OnHandoffDone(from, to, id, ok);
    }
  };
  Link la, lb;
  RedisSessionStore a(Opts(redis, 1, 11), [](int) { return true; });
  RedisSessionStore b(Opts(redis, 2, 22), [](int) { return true; });
  la.store = &a;
  lb.store = &b;
  RedisBus::Options oa, ob;
  oa.port = ob.port = redis.port();
  oa.node_id = 1;
  ob.node_id = 2;
  oa.channel = ob.channel = "parley:test:handoff";
  RedisBus bus_a(oa, &la), bus_b(ob, &lb);
  a.set_bus(&bus_a);
  b.set_bus(&bus_b);
  for (int i = 0; i < 500 && !(bus_a.stats().up && bus_b.stats().up); ++i)
    std::this_thread::sleep_for(10ms);
  std::promise<uint64_t> asked;
  a.SetHandoffHandler([&](uint64_t id, uint64_t seq, std::function<void(bool)> answer) {
    asked.set_value(id * 1000 + seq);
    answer(id == 77);
  });
  std::promise<std::pair<bool, bool>> done;
  b.RequestHandoff(1, 77, 5, 3000, [&](bool answered, bool ok) { done.set_value({answered, ok}); });
  EXPECT_EQ(asked.get_future().get(), 77005u);
  EXPECT_EQ(done.get_future().get(), std::make_pair(true, true));
  // Nobody answers for node 3: the request times out.
  std::promise<std::pair<bool, bool>> late;
  const auto t0 = std::chrono::steady_clock::now();
  b.RequestHandoff(3, 78, 1, 200, [&](bool answered, bool ok) { late.set_value({answered, ok}); });
  EXPECT_EQ(late.get_future().get(), std::make_pair(false, false));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  a.set_bus(nullptr);
  b.set_bus(nullptr);
}

TEST(BusCodec, HandoffMessagesRoundTrip) {
  std::string m;
  EncodeHandoffMessage(3, 7, 0xabcdef0123456789ull, 42, std::nullopt, &m);
  BusMessage got;
  ASSERT_TRUE(DecodeBusMessage(m, &got).ok());
  EXPECT_EQ(got.kind, BusMessage::Kind::kHandoffRequest);
  EXPECT_EQ(got.node, 3);
  EXPECT_EQ(got.to, 7);
  EXPECT_EQ(got.session_id, 0xabcdef0123456789ull);
  EXPECT_EQ(got.seq, 42u);
  m.clear();
  EncodeHandoffMessage(7, 3, 5, 6, true, &m);
  ASSERT_TRUE(DecodeBusMessage(m, &got).ok());
  EXPECT_EQ(got.kind, BusMessage::Kind::kHandoffDone);
  EXPECT_TRUE(got.ok);
  EXPECT_FALSE(DecodeBusMessage(m.substr(0, m.size() - 1), &got).ok());
  EXPECT_FALSE(DecodeBusMessage(m + "x", &got).ok());
}

}  // namespace
}  // namespace parley::cluster
