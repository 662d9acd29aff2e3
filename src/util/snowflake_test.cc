#include "util/snowflake.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace parley {

TEST(Snowflake, LayoutMatchesDiscord) {
  SnowflakeGenerator gen(3, 5);
  Snowflake id = gen.NextAt(kDiscordEpochMs + 1000);
  EXPECT_EQ(id >> 22, 1000u);
  EXPECT_EQ((id >> 17) & 31, 3u);
  EXPECT_EQ((id >> 12) & 31, 5u);
  EXPECT_EQ(id & 0xfff, 0u);
  EXPECT_EQ(SnowflakeTimeMs(id), kDiscordEpochMs + 1000);
}

TEST(Snowflake, DiscordDocExample) {
  // From Discord's reference: 175928847299117063 -> 2016-04-30 11:18:25.796 UTC.
  Snowflake id = 175928847299117063ull;
  EXPECT_EQ(SnowflakeTimeMs(id), 1462015105796);
  EXPECT_EQ((id >> 17) & 31, 1u);
  EXPECT_EQ((id >> 12) & 31, 0u);
  EXPECT_EQ(id & 0xfff, 7u);
}

TEST(Snowflake, MonotonicWhenClockStepsBack) {
  SnowflakeGenerator gen(0, 0);
  Snowflake a = gen.NextAt(kDiscordEpochMs + 5000);
  Snowflake b = gen.NextAt(kDiscordEpochMs + 4000);  // clock stepped back
  Snowflake c = gen.NextAt(kDiscordEpochMs + 5000);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(Snowflake, IncrementRollsOverIntoNextMillisecond) {
  SnowflakeGenerator gen(0, 0);
  Snowflake prev = 0;
  for (int i = 0; i < 5000; ++i) {
    Snowflake id = gen.NextAt(kDiscordEpochMs + 10);
    EXPECT_GT(id, prev);
    prev = id;
  }
  EXPECT_EQ(prev >> 22, 11u);
}

TEST(Snowflake, RaisedPastAnotherGeneratorsIdWhateverTheNodeBits) {
  const int64_t ms = kDiscordEpochMs + 7000;
  for (auto [mine, theirs] : {std::pair{1u, 9u}, std::pair{9u, 1u}, std::pair{4u, 4u}}) {
    SnowflakeGenerator a(mine, 0), b(theirs, 0);
    EXPECT_EQ(a.Last(), 0u);
    Snowflake floor = 0;
    for (int i = 0; i < 3; ++i) floor = b.NextAt(ms);  // increment 2 in `ms`
    a.Raise(floor);
    Snowflake next = a.NextAt(ms - 5);  // even with a clock behind
    EXPECT_GT(next, floor) << mine << " vs " << theirs;
    EXPECT_EQ(a.Last(), next);
    // No step back: a raise below what was minted changes nothing.
    a.Raise(floor - 1000);
    EXPECT_GT(a.NextAt(ms), next);
  }
  // Increment 0xfff of floor's millisecond: the next id is in the next one.
  SnowflakeGenerator a(2, 0);
  const Snowflake floor = (SnowflakeFromTimeMs(ms) | (uint64_t{2} << 17) | 0xfff);
  a.Raise(floor);
  const Snowflake next = a.NextAt(ms);
  EXPECT_GT(next, floor);
  EXPECT_EQ(SnowflakeTimeMs(next), ms + 1);
}

TEST(Snowflake, UniqueAcrossThreads) {
  SnowflakeGenerator gen(1, 1);
  std::vector<std::vector<Snowflake>> out(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) out[t].push_back(gen.Next());
    });
  for (auto& th : threads) th.join();
  std::set<Snowflake> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 80000u);
}

TEST(Snowflake, Parse) {
  EXPECT_EQ(ParseSnowflake("175928847299117063"), 175928847299117063ull);
  EXPECT_FALSE(ParseSnowflake(""));
  EXPECT_FALSE(ParseSnowflake("12a"));
  EXPECT_FALSE(ParseSnowflake("-1"));
  EXPECT_FALSE(ParseSnowflake("99999999999999999999999"));
}

}  // namespace parley
