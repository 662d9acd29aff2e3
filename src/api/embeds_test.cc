#include "api/embeds.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace parley {
namespace {

namespace bj = boost::json;

// ReadEmbeds of `json`: the normalized text, or the errors as JSON text.
std::string Read(std::string_view json) {
  std::string out;
  FormErrors errs;
  ReadEmbeds(bj::parse(json), &out, &errs);
  return errs.empty() ? out : "errors " + bj::serialize(errs.ToError().errors);
}

TEST(Embeds, KeepsDiscordsFieldsAndDropsTheRest) {
  EXPECT_EQ(
      Read(R"([{"title":"T","description":"D","url":"https://x.test/a","color":255,
      "timestamp":"2024-02-29T12:00:00Z","footer":{"text":"F","icon_url":"https://x.test/i"},
      "image":{"url":"https://x.test/img","width":5},"thumbnail":{"url":"attachment://t.png"},
      "author":{"name":"A","url":"http://x.test"},"fields":[{"name":"n","value":"v"},
      {"name":"n2","value":"v2","inline":true}],"video":{"url":"https://x.test/v"},"junk":1}])"),
      R"([{"type":"rich","title":"T","description":"D","url":"https://x.test/a",)"
      R"("timestamp":"2024-02-29T12:00:00.000000+00:00","color":255,)"
      R"("footer":{"text":"F","icon_url":"https://x.test/i"},"image":{"url":"https://x.test/img"},)"
      R"("thumbnail":{"url":"attachment://t.png"},"author":{"name":"A","url":"http://x.test"},)"
      R"("fields":[{"name":"n","value":"v","inline":false},{"name":"n2","value":"v2","inline":true}]}])");
  EXPECT_EQ(Read("null"), "");
  EXPECT_EQ(Read("[]"), "");
  EXPECT_EQ(Read(R"([{"type":"article","title":"x"}])"), R"([{"type":"article","title":"x"}])");
}

TEST(Embeds, ReportsEachBadFieldAtItsPath) {
  EXPECT_EQ(
      Read(R"({"title":"x"})"),
      R"(errors {"embeds":{"_errors":[{"code":"LIST_TYPE_CONVERT","message":"Must be an array."}]}})");
  EXPECT_EQ(
      Read(R"([1])"),
      R"(errors {"embeds":{"0":{"_errors":[{"code":"MODEL_TYPE_CONVERT","message":"Only dictionaries may be used in a ModelType"}]}}})");
  std::string long_title(257, 'a');
  EXPECT_EQ(
      Read(R"([{"title":"ok"},{"title":")" + long_title + R"("}])"),
      R"(errors {"embeds":{"1":{"title":{"_errors":[{"code":"BASE_TYPE_MAX_LENGTH","message":"Must be 256 or fewer in length."}]}}}})");
  EXPECT_EQ(
      Read(R"([{"color":16777216}])"),
      R"(errors {"embeds":{"0":{"color":{"_errors":[{"code":"NUMBER_TYPE_MAX","message":"int value should be less than or equal to 16777215."}]}}}})");
  EXPECT_EQ(
      Read(R"j([{"url":"javascript:alert(1)"}])j"),
      R"(errors {"embeds":{"0":{"url":{"_errors":[{"code":"URL_TYPE_INVALID_URL","message":"Not a well formed URL."}]}}}})");
  EXPECT_EQ(
      Read(R"([{"timestamp":"yesterday"}])"),
      R"(errors {"embeds":{"0":{"timestamp":{"_errors":[{"code":"DATE_TIME_TYPE_PARSE","message":"Could not parse \"yesterday\". Should be ISO8601."}]}}}})");
  EXPECT_EQ(
      Read(R"([{"fields":[{"name":"n"}]}])"),
      R"(errors {"embeds":{"0":{"fields":{"0":{"value":{"_errors":[{"code":"BASE_TYPE_REQUIRED","message":"This field is required"}]}}}}}})");
  EXPECT_EQ(
      Read(R"([{"footer":{}}])"),
      R"(errors {"embeds":{"0":{"footer":{"text":{"_errors":[{"code":"BASE_TYPE_REQUIRED","message":"This field is required"}]}}}}})");
}

TEST(Embeds, DiscordsLimits) {
  std::string eleven = "[";
  for (int i = 0; i < 11; ++i) eleven += std::string(i ? "," : "") + R"({"title":"t"})";
  eleven += "]";
  EXPECT_NE(Read(eleven).find("Must be 10 or fewer in length."), std::string::npos);
  std::string fields = R"([{"fields":[)";
  for (int i = 0; i < 26; ++i) fields += std::string(i ? "," : "") + R"({"name":"n","value":"v"})";
  fields += "]}]";
  EXPECT_NE(Read(fields).find("Must be 25 or fewer in length."), std::string::npos);
  // 6000 characters over all embeds (code points: 2-byte letters count once).
  std::string desc;
  for (int i = 0; i < 2048; ++i) desc += "\xC3\xA9";  // 2048 characters, 4096 bytes
  std::string two = R"([{"description":")" + desc + R"("},{"description":")" + desc + R"("}])";
  EXPECT_EQ(Read(two).substr(0, 6), "[{\"typ") << "4096 characters pass";
  std::string three = R"([{"description":")" + desc + R"("},{"description":")" + desc +
                      R"("},{"description":")" + desc + R"("}])";
  EXPECT_NE(Read(three).find("MAX_EMBED_SIZE_EXCEEDED"), std::string::npos);
}

}  // namespace
}  // namespace parley
