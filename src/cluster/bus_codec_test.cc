#include "cluster/bus_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "events/event_builder.h"
#include "util/test_support/status_assertions.h"

namespace parley::cluster {
namespace {

constexpr Snowflake kBase = Snowflake{1} << 62;

LogEntry SampleEntry() {
  LogEntry e;
  e.position = 42;
  e.node = 3;
  e.committed_ms = 1'764'000'000'000;
  Message m;
  m.id = kBase + 7;
  m.channel_id = kBase + 2;
  m.guild_id = kBase + 1;
  m.author_id = kBase + 5;
  m.content = "héllo";
  e.batches = {{mut::InsertMessage{m}}, {mut::DeleteGuild{kBase + 9}}};
  return e;
}

std::string EncodeEntry(const LogEntry& e) {
  std::vector<const WriteBatch*> ptrs;
  for (const WriteBatch& b : e.batches) ptrs.push_back(&b);
  std::string batches, out;
  EncodeBatches(ptrs, &batches);
  EncodeLogEntryMessage(e.node, e.position, e.committed_ms, batches, &out);
  return out;
}

events::EventBatch SampleEvents() {
  auto e = std::make_shared<events::Event>();
  e->target = events::Event::Target::kGuild;
  e->guild_id = kBase + 1;
  e->channel_id = kBase + 2;
  e->intent = 1u << 11;
  e->permission = 1u << 10;
  auto f = events::MakeDispatch("TYPING_START", R"({"channel_id":"1","user_id":"2"})");
  e->frame = f;
  auto u = std::make_shared<events::Event>();
  u->target = events::Event::Target::kUser;
  u->action = events::Event::Action::kEndSessions;
  u->user_id = kBase + 5;
  u->token_tag = 77;
  return {e, u};
}

TEST(BusCodec, LogEntryRoundTrips) {
  const LogEntry e = SampleEntry();
  BusMessage m;
  ASSERT_OK(DecodeBusMessage(EncodeEntry(e), &m));
  EXPECT_EQ(m.kind, BusMessage::Kind::kLogEntry);
  EXPECT_EQ(m.node, 3);
  EXPECT_EQ(m.entry.position, 42u);
  EXPECT_EQ(m.entry.node, 3);
  EXPECT_EQ(m.entry.committed_ms, e.committed_ms);
  EXPECT_EQ(m.entry.batches, e.batches);
}

TEST(BusCodec, EventsRoundTrip) {
  const events::EventBatch in = SampleEvents();
  std::string bytes;
  EncodeEventsMessage(9, in, &bytes);
  BusMessage m;
  ASSERT_OK(DecodeBusMessage(bytes, &m));
  EXPECT_EQ(m.kind, BusMessage::Kind::kEvents);
  EXPECT_EQ(m.node, 9);
  ASSERT_EQ(m.events.size(), 2u);
  const events::Event& a = *m.events[0];
  EXPECT_EQ(a.target, events::Event::Target::kGuild);
  EXPECT_EQ(a.guild_id, in[0]->guild_id);
  EXPECT_EQ(a.channel_id, in[0]->channel_id);
  EXPECT_EQ(a.intent, in[0]->intent);
  EXPECT_EQ(a.permission, in[0]->permission);
  ASSERT_NE(a.frame, nullptr);
  EXPECT_EQ(a.frame->head, in[0]->frame->head);
  EXPECT_EQ(a.frame->tail, in[0]->frame->tail);
  EXPECT_EQ(a.frame->type, in[0]->frame->type);
  const events::Event& b = *m.events[1];
  EXPECT_EQ(b.target, events::Event::Target::kUser);
  EXPECT_EQ(b.action, events::Event::Action::kEndSessions);
  EXPECT_EQ(b.user_id, in[1]->user_id);
  EXPECT_EQ(b.token_tag, 77u);
  EXPECT_EQ(b.frame, nullptr);
}

TEST(BusCodec, HeartbeatAndSnapshotRequestRoundTrip) {
  std::string hb, req;
  EncodeHeartbeatMessage(7, 0xfeedbeef12345678ull,
                         NodeReport{.sessions = 12345, .applied = 987654321, .started_ms = -3},
                         &hb);
  EncodeSnapshotRequestMessage(8, &req);
  BusMessage m;
  ASSERT_OK(DecodeBusMessage(hb, &m));
  EXPECT_EQ(m.kind, BusMessage::Kind::kHeartbeat);
  EXPECT_EQ(m.node, 7);
  EXPECT_EQ(m.incarnation, 0xfeedbeef12345678ull);
  EXPECT_EQ(m.report.sessions, 12345u);
  EXPECT_EQ(m.report.applied, 987654321u);
  EXPECT_EQ(m.report.started_ms, -3);
  // An older node's heartbeat (kind, node, incarnation): no report.
  // Exactly one proper prefix decodes: the heartbeat without its report.
  BusMessage old;
  int prefixes = 0;
  for (size_t n = 0; n < hb.size(); ++n) {
    BusMessage x;
    if (DecodeBusMessage(hb.substr(0, n), &x).ok()) {
      ++prefixes;
      old = x;
    }
  }
  EXPECT_EQ(prefixes, 1);
  EXPECT_EQ(old.incarnation, 0xfeedbeef12345678ull);
  EXPECT_EQ(old.report.sessions, 0u);
  EXPECT_EQ(old.report.applied, 0u);
  ASSERT_OK(DecodeBusMessage(req, &m));
  EXPECT_EQ(m.kind, BusMessage::Kind::kSnapshotRequest);
  EXPECT_EQ(m.node, 8);
  EXPECT_TRUE(DecodeBusMessage(req + "x", &m).IsCorruption());
  EXPECT_TRUE(DecodeBusMessage(hb.substr(0, hb.size() - 1), &m).IsCorruption());
}

TEST(BusCodec, EveryTruncationAndBadKindIsCorruption) {
  std::string events, presences;
  EncodeEventsMessage(1, SampleEvents(), &events);
  events::Presence p;
  p.status = "idle";
  EncodePresencesMessage(2, {{kBase + 1, p}, {kBase + 2, std::nullopt}}, true, &presences);
  for (const std::string& whole : {EncodeEntry(SampleEntry()), events, presences}) {
    for (size_t n = 0; n < whole.size(); ++n) {
      BusMessage m;
      Status s = DecodeBusMessage(std::string_view(whole).substr(0, n), &m);
      EXPECT_TRUE(s.IsCorruption()) << "prefix of " << n << " bytes: " << s.ToString();
    }
  }
  std::string bad = events;
  bad[0] = 'X';
  BusMessage m;
  EXPECT_TRUE(DecodeBusMessage(bad, &m).IsCorruption());
  // Trailing bytes after the events.
  std::string longer = events + "x";
  EXPECT_TRUE(DecodeBusMessage(longer, &m).IsCorruption());
}

}  // namespace
}  // namespace parley::cluster
