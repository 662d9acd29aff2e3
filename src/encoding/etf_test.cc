#include "encoding/etf.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <functional>
#include <random>

namespace parley::encoding::etf {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string Etf(std::string_view json, Keys keys = Keys::kAtoms) {
  std::string out;
  Status s = FromJson(json, &out, keys);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Json(std::string_view etf, bool atom_keys = false) {
  std::string out;
  Status s = ToJson(etf, &out, atom_keys);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Refused(std::string_view etf) {
  std::string out;
  Status s = ToJson(etf, &out);
  EXPECT_FALSE(s.ok()) << "accepted as " << out;
  return s.message();
}

TEST(EtfTest, WritesDiscordsTerms) {
  // Keys are SMALL_ATOM_EXT, null the atom nil.
  EXPECT_EQ(Etf(R"({"op":11,"d":null})"), Bytes({131, 116, 0,   0, 0,   2,   115, 2,   'o', 'p',
                                                 97,  11,  115, 1, 'd', 115, 3,   'n', 'i', 'l'}));
  EXPECT_EQ(Etf("true"), Bytes({131, 115, 4, 't', 'r', 'u', 'e'}));
  EXPECT_EQ(Etf("false"), Bytes({131, 115, 5, 'f', 'a', 'l', 's', 'e'}));
  // Strings (snowflakes too) are binaries.
  EXPECT_EQ(Etf(R"("12")"), Bytes({131, 109, 0, 0, 0, 2, '1', '2'}));
  // Lists end in NIL_EXT; the empty list is NIL_EXT alone.
  EXPECT_EQ(Etf("[]"), Bytes({131, 106}));
  EXPECT_EQ(Etf("[1,[]]"), Bytes({131, 108, 0, 0, 0, 2, 97, 1, 106, 106}));
}

TEST(EtfTest, WritesTheSmallestIntegerTerm) {
  EXPECT_EQ(Etf("0"), Bytes({131, 97, 0}));
  EXPECT_EQ(Etf("255"), Bytes({131, 97, 255}));
  EXPECT_EQ(Etf("256"), Bytes({131, 98, 0, 0, 1, 0}));
  EXPECT_EQ(Etf("-1"), Bytes({131, 98, 255, 255, 255, 255}));
  EXPECT_EQ(Etf("2147483647"), Bytes({131, 98, 127, 255, 255, 255}));
  EXPECT_EQ(Etf("2147483648"), Bytes({131, 110, 4, 0, 0, 0, 0, 128}));
  EXPECT_EQ(Etf("-2147483649"), Bytes({131, 110, 4, 1, 1, 0, 0, 128}));
  EXPECT_EQ(Etf("18446744073709551615"),
            Bytes({131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255}));
  EXPECT_EQ(Etf("-9223372036854775808"), Bytes({131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128}));
  EXPECT_EQ(Etf("1.5"), Bytes({131, 70, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0}));
}

TEST(EtfTest, KeysThatAreNotPlainAtomsGoAsBinaries) {
  EXPECT_EQ(Etf(R"({"é":1})"), Bytes({131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 2, 0xC3, 0xA9, 97, 1}));
  EXPECT_EQ(Etf(R"({"":1})"), Bytes({131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 0, 97, 1}));
  EXPECT_EQ(Etf(R"({"a":1})", Keys::kBinaries),
            Bytes({131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 'a', 97, 1}));
}

TEST(EtfTest, ReadsWhatErlpackWrites) {
  // erlpack.pack({op: 2, d: {token: "x", intents: 513, since: 1733270400000,
  // arr: [], n: null, t: true}}), bytes taken from erlpack 0.1.4.
  const std::string packed = Bytes(
      {0x83, 0x74, 0,    0,   0,    2,    0x6d, 0,    0,    0,    2,    'o',  'p', 0x61, 2,    0x6d,
       0,    0,    0,    1,   'd',  0x74, 0,    0,    0,    6,    0x6d, 0,    0,   0,    5,    't',
       'o',  'k',  'e',  'n', 0x6d, 0,    0,    0,    1,    'x',  0x6d, 0,    0,   0,    7,    'i',
       'n',  't',  'e',  'n', 't',  's',  0x62, 0,    0,    2,    1,    0x6d, 0,   0,    0,    5,
       's',  'i',  'n',  'c', 'e',  0x46, 0x42, 0x79, 0x38, 0xef, 0x76, 0xc0, 0,   0,    0x6d, 0,
       0,    0,    3,    'a', 'r',  'r',  0x6a, 0x6d, 0,    0,    0,    1,    'n', 0x73, 3,    'n',
       'i',  'l',  0x6d, 0,   0,    0,    1,    't',  0x73, 4,    't',  'r',  'u', 'e'});
  EXPECT_EQ(Json(packed),
            R"({"op":2,"d":{"token":"x","intents":513,"since":1733270400000,"arr":[],"n":null,)"
            R"("t":true}})");
}

TEST(EtfTest, ReadsEveryPlainTerm) {
  EXPECT_EQ(Json(Bytes({131, 98, 255, 255, 255, 254})), "-2");
  EXPECT_EQ(Json(Bytes({131, 110, 8, 0, 0x15, 0x81, 0xE9, 0x7D, 0xF4, 0x10, 0x22, 0x11})),
            "1234567890123456789");
  EXPECT_EQ(Json(Bytes({131, 110, 1, 1, 5})), "-5");
  EXPECT_EQ(Json(Bytes({131, 111, 0, 0, 0, 1, 0, 7})), "7");
  EXPECT_EQ(Json(Bytes({131, 110, 0, 0})), "0");
  EXPECT_EQ(Json(Bytes({131, 70, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0})), "1.5");
  std::string old_float = Bytes({131, 99});
  old_float += "2.50000000000000000000e+00";
  old_float.resize(2 + 31, '\0');
  EXPECT_EQ(Json(old_float), "2.5");
  EXPECT_EQ(Json(Bytes({131, 100, 0, 4, 'n', 'u', 'l', 'l'})), "null");
  EXPECT_EQ(Json(Bytes({131, 119, 2, 'o', 'k'})), R"("ok")");
  // ATOM_EXT and SMALL_ATOM_EXT are Latin-1; the UTF-8 tags are UTF-8.
  EXPECT_EQ(Json(Bytes({131, 115, 1, 0xE9})), "\"\xC3\xA9\"");
  EXPECT_EQ(Json(Bytes({131, 100, 0, 1, 0xE9})), "\"\xC3\xA9\"");
  EXPECT_EQ(Json(Bytes({131, 119, 2, 0xC3, 0xA9})), "\"\xC3\xA9\"");
  EXPECT_EQ(Json(Bytes({131, 118, 0, 5, 'f', 'a', 'l', 's', 'e'})), "false");
  EXPECT_EQ(Json(Bytes({131, 107, 0, 2, 'h', '"'})), R"("h\"")");
  EXPECT_EQ(Json(Bytes({131, 104, 2, 97, 1, 106})), "[1,[]]");
  EXPECT_EQ(Json(Bytes({131, 105, 0, 0, 0, 0})), "[]");
  EXPECT_EQ(Json(Bytes({131, 109, 0, 0, 0, 2, 0x0A, '\\'})), R"("\u000a\\")");
  // A map keyed by STRING_EXT.
  EXPECT_EQ(Json(Bytes({131, 116, 0, 0, 0, 1, 107, 0, 1, 'k', 97, 3})), R"({"k":3})");
}

TEST(EtfTest, RefusesWhatDiscordRefuses) {
  EXPECT_EQ(Refused(Bytes({131, 116, 0, 0, 0, 1, 115, 2, 'o', 'p', 97, 1})),
            "atom keys (send string keys)");
  EXPECT_EQ(Refused(Bytes({131, 80, 0, 0, 0, 1, 0x78, 0x9c})), "compressed terms are not accepted");
  EXPECT_EQ(Refused(""), "not ETF (version 131 expected)");
  EXPECT_EQ(Refused(R"({"op":1})"), "not ETF (version 131 expected)");
  EXPECT_EQ(Refused(Bytes({131, 97, 1, 97})), "bytes after the term");
  EXPECT_EQ(Refused(Bytes({131, 108, 0, 0, 0, 1, 97, 1, 97, 2})), "an improper list");
  EXPECT_EQ(Refused(Bytes({131, 110, 9, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1})), "an integer past 64 bits");
  EXPECT_EQ(Refused(Bytes({131, 110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 128})), "an integer past 64 bits");
  EXPECT_EQ(Refused(Bytes({131, 70, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0})), "a float that is not finite");
  EXPECT_EQ(Refused(Bytes({131, 109, 0, 0, 0, 1, 0xFF})), "a string that is not UTF-8");
  EXPECT_EQ(Refused(Bytes({131, 109, 0, 0, 0, 3, 0xED, 0xA0, 0x80})), "a string that is not UTF-8");
  EXPECT_EQ(Refused(Bytes({131, 116, 0, 0, 0, 1, 97, 1, 97, 2})), "a map key that is not a string");
  EXPECT_EQ(Refused(Bytes({131, 103, 0})), "an unsupported term");  // PID_EXT
  EXPECT_EQ(Refused(Bytes({131, 109, 0, 0, 0, 9, 'a'})), "truncated term");
  EXPECT_EQ(Refused(Bytes({131, 108, 255, 255, 255, 255, 97})), "truncated term");
  EXPECT_EQ(Refused(Bytes({131, 116, 255, 255, 255, 255})), "truncated term");
  std::string deep = Bytes({131});
  for (int i = 0; i < kMaxDepth; ++i) deep += Bytes({108, 0, 0, 0, 1});
  deep += Bytes({106});
  for (int i = 0; i < kMaxDepth; ++i) deep += Bytes({106});
  EXPECT_EQ(Refused(deep), "nested too deep");
}

TEST(EtfTest, AtomKeysAreReadWhenAllowed) {
  EXPECT_EQ(Json(Etf(R"({"t":"READY","s":1,"op":0,"d":{"v":10}})"), true),
            R"({"t":"READY","s":1,"op":0,"d":{"v":10}})");
}

// Random JSON documents survive JSON -> ETF -> JSON (client-style keys),
// and every prefix of their ETF is refused, never read past its end.
TEST(EtfTest, RoundTripsRandomDocuments) {
  std::mt19937_64 rng(7);
  std::function<boost::json::value(int)> gen = [&](int depth) -> boost::json::value {
    switch (rng() % (depth > 4 ? 6 : 8)) {
      case 0:
        return nullptr;
      case 1:
        return rng() % 2 == 0;
      case 2:
        return static_cast<int64_t>(rng());
      case 3:
        return static_cast<uint64_t>(rng());
      case 4:
        return static_cast<double>(static_cast<int64_t>(rng() % 2000000) - 1000000) / 64.0 +
               1.0 / 128;  // never integral
      case 5: {
        std::string s;
        for (int i = 0, n = static_cast<int>(rng() % 12); i < n; ++i) {
          const char* pieces[] = {"a", "\"", "\\", "\n", "é", "😀", "0", " "};
          s += pieces[rng() % 8];
        }
        return boost::json::value(s);
      }
      case 6: {
        boost::json::array a;
        for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) a.push_back(gen(depth + 1));
        return a;
      }
      default: {
        boost::json::object o;
        for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i)
          o["k" + std::to_string(i)] = gen(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 500; ++i) {
    const std::string json = boost::json::serialize(gen(0));
    const std::string etf = Etf(json, Keys::kBinaries);
    EXPECT_EQ(boost::json::parse(Json(etf)), boost::json::parse(json)) << json;
    EXPECT_EQ(boost::json::parse(Json(Etf(json), /*atom_keys=*/true)), boost::json::parse(json));
    for (size_t cut = 0; cut < etf.size(); ++cut) {
      std::string out;
      ASSERT_FALSE(ToJson(etf.substr(0, cut), &out).ok()) << json << " cut at " << cut;
    }
  }
}

}  // namespace
}  // namespace parley::encoding::etf
