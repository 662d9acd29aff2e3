#include "encoding/msgpack.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace parley::encoding::msgpack {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string Packed(std::string_view json) {
  std::string out;
  Status s = FromJson(json, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Json(std::string_view packed) {
  std::string out;
  Status s = ToJson(packed, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Refused(std::string_view packed) {
  std::string out;
  Status s = ToJson(packed, &out);
  EXPECT_FALSE(s.ok()) << "accepted as " << out;
  return s.message();
}

TEST(MsgpackTest, WritesTheShortestForms) {
  EXPECT_EQ(Packed(R"({"op":11,"d":null})"), Bytes({0x82, 0xA2, 'o', 'p', 11, 0xA1, 'd', 0xC0}));
  EXPECT_EQ(Packed("[true,false]"), Bytes({0x92, 0xC3, 0xC2}));
  EXPECT_EQ(Packed("127"), Bytes({0x7F}));
  EXPECT_EQ(Packed("128"), Bytes({0xCC, 0x80}));
  EXPECT_EQ(Packed("65535"), Bytes({0xCD, 0xFF, 0xFF}));
  EXPECT_EQ(Packed("65536"), Bytes({0xCE, 0, 1, 0, 0}));
  EXPECT_EQ(Packed("4294967296"), Bytes({0xCF, 0, 0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(Packed("-32"), Bytes({0xE0}));
  EXPECT_EQ(Packed("-33"), Bytes({0xD0, 0xDF}));
  EXPECT_EQ(Packed("-129"), Bytes({0xD1, 0xFF, 0x7F}));
  EXPECT_EQ(Packed("-32769"), Bytes({0xD2, 0xFF, 0xFF, 0x7F, 0xFF}));
  EXPECT_EQ(Packed("-2147483649"), Bytes({0xD3, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(Packed("1.5"), Bytes({0xCB, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Packed(R"("12")"), Bytes({0xA2, '1', '2'}));
  const std::string s32(32, 'x');
  EXPECT_EQ(Packed("\"" + s32 + "\""), Bytes({0xD9, 32}) + s32);
  const std::string s256(256, 'x');
  EXPECT_EQ(Packed("\"" + s256 + "\""), Bytes({0xDA, 1, 0}) + s256);
  std::string a16 = "[";
  for (int i = 0; i < 16; ++i) a16 += i ? ",0" : "0";
  EXPECT_EQ(Packed(a16 + "]"), Bytes({0xDC, 0, 16}) + std::string(16, '\0'));
}

TEST(MsgpackTest, ReadsEveryValueJsonHas) {
  EXPECT_EQ(Json(Bytes({0x83, 0xA2, 'o', 'p', 1, 0xA1, 'd', 0xC0, 0xA1, 'x', 0x90})),
            R"({"op":1,"d":null,"x":[]})");
  EXPECT_EQ(Json(Bytes({0xFF})), "-1");
  EXPECT_EQ(Json(Bytes({0xD0, 0x80})), "-128");
  EXPECT_EQ(Json(Bytes({0xD1, 0x80, 0})), "-32768");
  EXPECT_EQ(Json(Bytes({0xD3, 0x80, 0, 0, 0, 0, 0, 0, 0})), "-9223372036854775808");
  EXPECT_EQ(Json(Bytes({0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})),
            "18446744073709551615");
  EXPECT_EQ(Json(Bytes({0xCA, 0x3F, 0xC0, 0, 0})), "1.5");
  // JavaScript encoders send timestamps as float 64.
  EXPECT_EQ(Json(Bytes({0xCB, 0x42, 0x79, 0x38, 0xef, 0x76, 0xc0, 0, 0})), "1733270400000");
  EXPECT_EQ(Json(Bytes({0xDE, 0, 1, 0xD9, 1, 'k', 0xC3})), R"({"k":true})");
  EXPECT_EQ(Json(Bytes({0xDD, 0, 0, 0, 1, 0xDB, 0, 0, 0, 2, 'h', '\n'})), R"(["h\u000a"])");
}

TEST(MsgpackTest, RefusesWhatJsonCannotHold) {
  EXPECT_EQ(Refused(Bytes({0xC4, 1, 'x'})), "bin values are not accepted");
  EXPECT_EQ(Refused(Bytes({0xD4, 1, 1})), "ext values are not accepted");
  EXPECT_EQ(Refused(Bytes({0xC1})), "the unused byte 0xc1");
  EXPECT_EQ(Refused(Bytes({0x81, 1, 1})), "a map key that is not a string");
  EXPECT_EQ(Refused(Bytes({0xA1, 0xFF})), "a string that is not UTF-8");
  EXPECT_EQ(Refused(Bytes({0xCB, 0x7F, 0xF8, 0, 0, 0, 0, 0, 0})), "a float that is not finite");
  EXPECT_EQ(Refused(Bytes({1, 2})), "bytes after the value");
  EXPECT_EQ(Refused(""), "truncated value");
  EXPECT_EQ(Refused(Bytes({0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0})), "truncated value");
  EXPECT_EQ(Refused(Bytes({0xDB, 0xFF, 0xFF, 0xFF, 0xFF})), "truncated value");
  EXPECT_EQ(Refused(std::string(kMaxDepth, '\x91') + Bytes({0x90})), "nested too deep");
}

TEST(MsgpackTest, RoundTripsAndRefusesEveryPrefix) {
  const std::string docs[] = {
      R"({"op":2,"d":{"token":"Bot a.b.c","intents":33281,"properties":{"os":"linux"}}})",
      R"({"t":"MESSAGE_CREATE","s":70000,"op":0,"d":{"id":"1234567890123456789","content":"h\u00e9 \"x\"","embeds":[{"title":"t","fields":[]}],"tts":false,"nonce":-5,"f":0.25}})",
      R"([[],{},[[[]]],"",0,-1,4294967295,-4294967296])",
  };
  for (const std::string& json : docs) {
    const std::string packed = Packed(json);
    EXPECT_EQ(boost::json::parse(Json(packed)), boost::json::parse(json));
    for (size_t cut = 0; cut < packed.size(); ++cut) {
      std::string out;
      ASSERT_FALSE(ToJson(packed.substr(0, cut), &out).ok()) << json << " cut at " << cut;
    }
  }
}

}  // namespace
}  // namespace parley::encoding::msgpack
