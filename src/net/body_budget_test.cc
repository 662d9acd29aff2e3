#include "net/body_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace parley::net {
namespace {

TEST(BodyBudgetTest, TakesUpToItsCapacityAndNoMore) {
  BodyBudget b(100);
  EXPECT_TRUE(b.TryTake(60));
  EXPECT_FALSE(b.TryTake(41));  // refused whole: nothing taken
  EXPECT_EQ(b.in_use(), 60u);
  EXPECT_TRUE(b.TryTake(40));
  EXPECT_FALSE(b.TryTake(1));
  b.Give(60);
  EXPECT_EQ(b.in_use(), 40u);
  EXPECT_TRUE(b.TryTake(60));
}

TEST(BodyBudgetTest, ZeroCapacityIsNoBudget) {
  BodyBudget b(0);
  EXPECT_TRUE(b.TryTake(size_t{1} << 40));
  b.Give(size_t{1} << 40);
  EXPECT_EQ(b.in_use(), 0u);
}

TEST(BodyBudgetTest, ConcurrentTakersNeverOvercommit) {
  BodyBudget b(1000);
  std::atomic<int> held{0}, max_held{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!b.TryTake(300)) continue;
        int h = held.fetch_add(1) + 1;
        int m = max_held.load();
        while (h > m && !max_held.compare_exchange_weak(m, h)) {
        }
        held.fetch_sub(1);
        b.Give(300);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_LE(max_held.load(), 3);  // 3 x 300 <= 1000 < 4 x 300
  EXPECT_EQ(b.in_use(), 0u);
}

}  // namespace
}  // namespace parley::net
