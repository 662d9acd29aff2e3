#include "util/json_writer.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace parley {

TEST(JsonWriter, EscapesAndRoundTrips) {
  std::string cases[] = {"",
                         "plain",
                         "quote \" backslash \\ slash /",
                         "lines\nand\ttabs\r",
                         std::string("nul \0 byte", 10),
                         "\x01\x1f control",
                         "unicode: héllo 👋 \u2028",
                         "<img src=x onerror=alert(1)>"};
  for (const std::string& s : cases) {
    std::string out;
    AppendJsonString(&out, s);
    auto v = boost::json::parse(out);
    ASSERT_TRUE(v.is_string()) << out;
    EXPECT_EQ(std::string(v.as_string()), s) << out;
  }
  std::string out;
  AppendJsonString(&out, std::string("\x01", 1));
  EXPECT_EQ(out, "\"\\u0001\"");
}

TEST(JsonWriter, Numbers) {
  std::string out;
  AppendJsonId(&out, 175928847299117063ull);
  out.push_back(',');
  AppendJsonInt(&out, -42);
  EXPECT_EQ(out, "\"175928847299117063\",-42");
}

}  // namespace parley
