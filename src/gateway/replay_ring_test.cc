#include "gateway/replay_ring.h"

#include <gtest/gtest.h>

#include <vector>

namespace parley::gateway {
namespace {

std::vector<uint64_t> After(const ReplayRing& r, uint64_t seq, uint64_t last) {
  std::vector<uint64_t> out;
  r.ForEachAfter(seq, last, [&](uint64_t s, const events::Frame&) { out.push_back(s); });
  return out;
}

TEST(ReplayRing, KeepsOrderAndTrims) {
  ReplayRing r;
  auto f = events::MakeDispatch("X", "{}");
  for (uint64_t s = 1; s <= 10; ++s) r.Push(f, 100);
  EXPECT_EQ(After(r, 7, 10), (std::vector<uint64_t>{8, 9, 10}));
  EXPECT_TRUE(r.CanReplayAfter(0, 10));
  r.TrimThrough(4, 10);
  EXPECT_EQ(r.size(), 6u);
  EXPECT_FALSE(r.CanReplayAfter(2, 10));
  EXPECT_TRUE(r.CanReplayAfter(4, 10));
  r.TrimThrough(10, 10);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.capacity_bytes(), 0u);
  EXPECT_TRUE(r.CanReplayAfter(10, 10));
  EXPECT_FALSE(r.CanReplayAfter(9, 10));
}

TEST(ReplayRing, BoundDropsOldest) {
  ReplayRing r;
  auto f = events::MakeDispatch("X", "{}");
  for (uint64_t s = 1; s <= 50; ++s) r.Push(f, 16);
  EXPECT_EQ(r.size(), 16u);
  EXPECT_EQ(After(r, 0, 50).front(), 35u);
  EXPECT_TRUE(r.CanReplayAfter(34, 50));
  EXPECT_FALSE(r.CanReplayAfter(33, 50));
  EXPECT_EQ(f.use_count(), 17);  // shared, never copied
}

TEST(Frame, SplicesSequence) {
  auto f = events::MakeDispatch("MESSAGE_CREATE", "{\"a\":1}");
  std::string out;
  AppendPayload(&out, *f, 42);
  EXPECT_EQ(out, "{\"t\":\"MESSAGE_CREATE\",\"s\":42,\"op\":0,\"d\":{\"a\":1}}");
  EXPECT_EQ(f->size_with_seq(42), out.size());
}

}  // namespace
}  // namespace parley::gateway
