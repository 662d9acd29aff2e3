#include "util/time_format.h"

#include <gtest/gtest.h>

namespace parley {

TEST(TimeFormat, MatchesDiscordsShape) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000000+00:00");
  EXPECT_EQ(FormatIso8601(1462015105796), "2016-04-30T11:18:25.796000+00:00");
  EXPECT_EQ(FormatIso8601(1709164800000), "2024-02-29T00:00:00.000000+00:00");  // leap day
  EXPECT_EQ(FormatIso8601(1795840444668), "2026-11-28T04:34:04.668000+00:00");
  EXPECT_EQ(FormatIso8601(4102444799999), "2099-12-31T23:59:59.999000+00:00");
}

}  // namespace parley
