#include "api/read_your_writes.h"

#include <gtest/gtest.h>

namespace parley {
namespace {

TEST(ReadYourWrites, AReaderNeedsItsOwnLastWriteAndNoMore) {
  ReadYourWrites ryw;
  EXPECT_EQ(ryw.MinPosition(1), 0u);  // never wrote: any replica will do
  ryw.Wrote(1, 10);
  ryw.Wrote(2, 12);
  ryw.Wrote(1, 11);
  ryw.Wrote(1, 9);  // callbacks of one group report the same or later positions only
  EXPECT_EQ(ryw.MinPosition(1), 11u);
  EXPECT_EQ(ryw.MinPosition(2), 12u);
  EXPECT_EQ(ryw.MinPosition(3), 0u);
}

TEST(ReadYourWrites, ForgottenWritersNeedTheFloor) {
  ReadYourWrites ryw;
  ryw.Wrote(1, 5);
  ryw.Wrote(2, 20);
  ryw.Forget(10);
  EXPECT_EQ(ryw.size(), 1u);
  EXPECT_EQ(ryw.MinPosition(1), 10u);  // never older than what was forgotten
  EXPECT_EQ(ryw.MinPosition(3), 10u);
  EXPECT_EQ(ryw.MinPosition(2), 20u);
  ryw.Forget(7);  // the floor never goes back
  EXPECT_EQ(ryw.MinPosition(3), 10u);
}

}  // namespace
}  // namespace parley
