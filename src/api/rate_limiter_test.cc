#include "api/rate_limiter.h"

#include <gtest/gtest.h>

namespace parley {

TEST(RateLimiter, FixedWindowCountsAndResets) {
  RateLimiter rl(0);
  RateLimit lim{5, 5.0};
  for (int i = 0; i < 5; ++i) {
    auto d = rl.Check("u1", "POST /channels/1/messages", lim, 1000);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.remaining, 4 - i);
    EXPECT_DOUBLE_EQ(d.reset_after_s, 5.0);
  }
  auto d = rl.Check("u1", "POST /channels/1/messages", lim, 3000);
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.global);
  EXPECT_DOUBLE_EQ(d.retry_after_s, 3.0);
  // Another channel and another user have their own buckets.
  EXPECT_TRUE(rl.Check("u1", "POST /channels/2/messages", lim, 3000).allowed);
  EXPECT_TRUE(rl.Check("u2", "POST /channels/1/messages", lim, 3000).allowed);
  // After the window, the bucket is full again.
  EXPECT_TRUE(rl.Check("u1", "POST /channels/1/messages", lim, 6000).allowed);
}

TEST(RateLimiter, GlobalLimitAcrossBuckets) {
  RateLimiter rl(3);
  RateLimit lim{100, 1.0};
  EXPECT_TRUE(rl.Check("u", "a", lim, 0).allowed);
  EXPECT_TRUE(rl.Check("u", "b", lim, 10).allowed);
  EXPECT_TRUE(rl.Check("u", "c", lim, 20).allowed);
  auto d = rl.Check("u", "d", lim, 30);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.global);
  EXPECT_NEAR(d.retry_after_s, 0.97, 1e-9);
  EXPECT_TRUE(rl.Check("u", "d", lim, 1000).allowed);
}

TEST(RateLimiter, RefusedRequestsAreNotCounted) {
  RateLimiter rl(0);
  RateLimit lim{1, 1.0};
  EXPECT_TRUE(rl.Check("u", "k", lim, 0).allowed);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(rl.Check("u", "k", lim, 500).allowed);
  EXPECT_TRUE(rl.Check("u", "k", lim, 1000).allowed);
}

TEST(RateLimiter, SweepDropsEndedWindows) {
  RateLimiter rl(10);
  rl.Check("u", "k", {1, 1.0}, 0);
  rl.Sweep(5000);
  EXPECT_TRUE(rl.Check("u", "k", {1, 1.0}, 5001).allowed);
}

}  // namespace parley
