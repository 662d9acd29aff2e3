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

TEST(TimeFormat, ParsesWhatItWritesAndCommonForms) {
  for (int64_t ms :
       {int64_t{0}, int64_t{1462015105796}, int64_t{1709164800000}, int64_t{4102444799999}})
    EXPECT_EQ(ParseIso8601(FormatIso8601(ms)), ms);
  EXPECT_EQ(ParseIso8601("2016-04-30T11:18:25Z"), 1462015105000);
  EXPECT_EQ(ParseIso8601("2016-04-30T11:18:25.796Z"), 1462015105796);
  EXPECT_EQ(ParseIso8601("2016-04-30T11:18:25"), 1462015105000);
  EXPECT_EQ(ParseIso8601("2016-04-30T13:18:25+02:00"), 1462015105000);
  EXPECT_EQ(ParseIso8601("2016-04-30T08:48:25-02:30"), 1462015105000);
  for (const char* bad : {"", "2016-04-30", "2016-04-30T11:18", "2016-13-01T00:00:00",
                          "2015-02-29T00:00:00", "2016-04-31T00:00:00", "2016-04-30T24:00:00",
                          "2016-04-30T11:18:25.", "2016-04-30T11:18:25+0200",
                          "2016-04-30T11:18:25Zjunk", "0000-01-01T00:00:00", "2016-4-30T11:18:25"})
    EXPECT_FALSE(ParseIso8601(bad)) << bad;
  EXPECT_EQ(ParseIso8601("2024-02-29T00:00:00Z"), 1709164800000);  // leap day
}

}  // namespace parley
