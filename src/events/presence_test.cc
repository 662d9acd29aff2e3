// PresenceRegistry: one node's sessions, and in cluster mode the merge with
// what other nodes tell (the most recent wins; ties to the lower node id).
#include "events/presence.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace parley::events {
namespace {

Presence P(const char* status, int64_t updated_ms) {
  Presence p;
  p.status = status;
  p.updated_ms = updated_ms;
  return p;
}

TEST(PresenceRegistry, OneNodeFirstAndLastSession) {
  PresenceRegistry r;
  auto on = r.SessionStarted(7, std::nullopt);
  ASSERT_TRUE(on);
  EXPECT_EQ(on->status, "online");
  EXPECT_FALSE(r.SessionStarted(7, std::nullopt)) << "a second session changes nothing";
  EXPECT_FALSE(r.SessionEnded(7));
  auto off = r.SessionEnded(7);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->status, "offline");
  EXPECT_FALSE(r.Get(7));
}

TEST(PresenceRegistry, InvisibleIsOfflineToOthers) {
  PresenceRegistry r;
  r.SessionStarted(7, P("invisible", 0));
  EXPECT_FALSE(r.Get(7));
  EXPECT_FALSE(r.SessionEnded(7)) << "an invisible user going away changes nothing seen";
}

TEST(PresenceRegistry, RemoteNodesMergeMostRecentWins) {
  PresenceRegistry r;
  r.set_node_id(1);
  std::vector<std::pair<Snowflake, std::optional<Presence>>> told;
  r.set_on_local_change(
      [&](Snowflake u, const std::optional<Presence>& p) { told.emplace_back(u, p); });

  // Online on node 2 only.
  auto c = r.SetRemote(2, 7, P("idle", 100));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "idle");
  EXPECT_EQ(r.Get(7)->status, "idle");
  EXPECT_TRUE(told.empty()) << "remote changes are not local ones";

  // A session here too, later: it wins.
  c = r.SessionStarted(7, P("dnd", 0));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "dnd");
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].second->status, "dnd");

  // The session here ends: still online on node 2, seen as idle, not offline.
  c = r.SessionEnded(7);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "idle");
  ASSERT_EQ(told.size(), 2u);
  EXPECT_FALSE(told[1].second.has_value());

  // Node 2 goes away: offline.
  auto drops = r.DropNode(2);
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].first, 7u);
  EXPECT_EQ(drops[0].second.status, "offline");
  EXPECT_FALSE(r.Get(7));
}

TEST(PresenceRegistry, EveryNodeComputesTheSameWinner) {
  // Node 1 and node 3 see the same two presences, each from its side.
  PresenceRegistry n1, n3;
  n1.set_node_id(1);
  n3.set_node_id(3);
  n1.SessionStarted(7, P("dnd", 0));  // stamped now
  const int64_t t = n1.Get(7)->updated_ms;
  Presence mine = *n1.Get(7);
  n3.SetRemote(1, 7, mine);
  Presence later = P("idle", t + 5);
  n1.SetRemote(3, 7, later);
  // n3 has its own session with `later`: simulate by remote on n1 only.
  EXPECT_EQ(n1.Get(7)->status, "idle");
  n3.SetRemote(3, 7, later);  // (as its own would be)
  EXPECT_EQ(n3.Get(7)->status, "idle");
  // Same time: the lower node id wins on both.
  Presence same = P("online", t);
  PresenceRegistry a, b;
  a.set_node_id(1);
  b.set_node_id(2);
  a.SetRemote(2, 9, same);
  a.SetRemote(5, 9, P("dnd", t));
  b.SetRemote(2, 9, same);
  b.SetRemote(5, 9, P("dnd", t));
  EXPECT_EQ(a.Get(9)->status, "online");
  EXPECT_EQ(b.Get(9)->status, "online");
}

TEST(PresenceRegistry, ReplaceRemoteDropsWhatTheSnapshotLacks) {
  PresenceRegistry r;
  r.SetRemote(2, 7, P("online", 1));
  r.SetRemote(2, 8, P("online", 1));
  auto changes = r.ReplaceRemote(2, {{8, P("idle", 2)}, {9, P("online", 2)}});
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(r.Get(7));
  EXPECT_EQ(r.Get(8)->status, "idle");
  EXPECT_EQ(r.Get(9)->status, "online");
}

TEST(PresenceRegistry, LocalChangesAreToldInTheOrderMade) {
  PresenceRegistry r;
  std::vector<std::string> told;  // only this thread's calls: no lock needed
  r.set_on_local_change(
      [&](Snowflake, const std::optional<Presence>& p) { told.push_back(p ? p->status : "gone"); });
  r.SessionStarted(7, std::nullopt);
  r.Update(7, P("idle", 0));
  r.Update(7, P("dnd", 0));
  r.SessionEnded(7);
  EXPECT_EQ(told, (std::vector<std::string>{"online", "idle", "dnd", "gone"}));
}

}  // namespace
}  // namespace parley::events
