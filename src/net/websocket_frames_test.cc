#include "net/websocket_frames.h"

#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace parley::net {
namespace {

using Status = WsFrameParser::Status;

// First bytes of client frames.
constexpr uint8_t kText = 0x01;
constexpr uint8_t kBinary = 0x02;
constexpr uint8_t kCont = 0x00;
constexpr uint8_t kFin = 0x80;
constexpr uint8_t kClose = 0x88;
constexpr uint8_t kPing = 0x89;
constexpr uint8_t kPong = 0x8A;

// ---------------------------------------------------------------------------
// Helpers

// A client frame: masked with `key` (unless !masked), its length written in
// `len_width` bytes (1: 7-bit, 2: 16-bit, 8: 64-bit; 0: minimal).
std::string ClientFrame(uint8_t byte0, std::string_view payload, int len_width = 0,
                        uint32_t key = 0x37FA213D, bool masked = true) {
  const uint64_t n = payload.size();
  if (len_width == 0) len_width = n < 126 ? 1 : n <= 0xFFFF ? 2 : 8;
  std::string f;
  f.push_back(static_cast<char>(byte0));
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (len_width == 1) {
    f.push_back(static_cast<char>(mask_bit | static_cast<char>(n)));
  } else if (len_width == 2) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(static_cast<char>(n >> shift));
  }
  uint8_t k[4] = {static_cast<uint8_t>(key >> 24), static_cast<uint8_t>(key >> 16),
                  static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
  if (masked) f.append(reinterpret_cast<const char*>(k), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f.push_back(masked ? static_cast<char>(payload[i] ^ k[i & 3]) : payload[i]);
  }
  return f;
}

std::string CloseBody(uint16_t code, std::string_view reason = {}) {
  std::string s;
  s.push_back(static_cast<char>(code >> 8));
  s.push_back(static_cast<char>(code));
  s.append(reason);
  return s;
}

struct Event {
  enum Kind { kMessage, kPing, kPong, kClose };
  Kind kind;
  WsOpcode opcode = WsOpcode::kContinuation;  // kMessage only
  uint16_t code = 0;                          // kClose only
  std::string payload;                        // or close reason
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  static const char* kNames[] = {"message", "ping", "pong", "close"};
  os << kNames[e.kind];
  if (e.kind == Event::kMessage) os << "/" << static_cast<int>(e.opcode);
  if (e.kind == Event::kClose) os << "/" << e.code;
  return os << "(" << e.payload.size() << " bytes)";
}

Event Message(WsOpcode op, std::string_view p) {
  return Event{Event::kMessage, op, 0, std::string(p)};
}
Event Text(std::string_view p) {
  return Message(WsOpcode::kText, p);
}
Event Binary(std::string_view p) {
  return Message(WsOpcode::kBinary, p);
}
Event Ping(std::string_view p) {
  return Event{Event::kPing, {}, 0, std::string(p)};
}
Event Pong(std::string_view p) {
  return Event{Event::kPong, {}, 0, std::string(p)};
}
Event Close(uint16_t code, std::string_view reason = {}) {
  return Event{Event::kClose, {}, code, std::string(reason)};
}

class Recorder : public WsFrameParser::Handler {
 public:
  bool OnMessage(WsOpcode opcode, std::string_view payload) override {
    last_payload = payload.data();
    return Record(Message(opcode, payload));
  }
  bool OnPing(std::string_view payload) override {
    last_payload = payload.data();
    return Record(Ping(payload));
  }
  bool OnPong(std::string_view payload) override {
    last_payload = payload.data();
    return Record(Pong(payload));
  }
  void OnClose(uint16_t code, std::string_view reason) override { Record(Close(code, reason)); }

  std::vector<Event> events;
  const char* last_payload = nullptr;
  int stop_after = -1;  // Return false from the n-th callback (1-based).

 private:
  bool Record(Event e) {
    events.push_back(std::move(e));
    return static_cast<int>(events.size()) != stop_after;
  }
};

struct Outcome {
  std::vector<Event> events;
  Status status;
  uint16_t code;  // When failed.
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "status " << static_cast<int>(o.status) << " code " << o.code << " events [";
  for (const Event& e : o.events) os << e << " ";
  return os << "]";
}

// Feeds `wire` to a new parser in chunks of sizes drawn from `next_chunk`,
// each chunk copied to its own buffer (so that ASan sees any read past it).
template <typename NextChunk>
Outcome FeedChunks(std::string_view wire, uint32_t max, NextChunk next_chunk) {
  WsFrameParser parser(max);
  Recorder rec;
  Status st = Status::kOk;
  size_t pos = 0;
  while (pos < wire.size()) {
    size_t n = std::min(next_chunk(), wire.size() - pos);
    std::vector<uint8_t> chunk(wire.begin() + pos, wire.begin() + pos + n);
    st = parser.Consume(chunk, rec);
    pos += n;
    EXPECT_EQ(st, parser.status());
    if (st != Status::kOk) {
      EXPECT_EQ(parser.buffer_capacity(), 0u);
      break;
    }
  }
  EXPECT_LE(parser.buffer_capacity(), size_t{max} + 125);
  return Outcome{rec.events, st, st == Status::kFailed ? parser.close_code() : uint16_t{0}};
}

Outcome FeedWhole(std::string_view wire, uint32_t max = 4096) {
  return FeedChunks(wire, max, [&] { return wire.size(); });
}

Outcome FeedBytewise(std::string_view wire, uint32_t max = 4096) {
  return FeedChunks(wire, max, [] { return size_t{1}; });
}

Outcome FeedRandomChunks(std::string_view wire, uint32_t seed, uint32_t max = 4096) {
  std::mt19937 rng(seed);
  return FeedChunks(wire, max, [&] {
    // Mostly small chunks (header boundaries), sometimes large ones.
    return rng() % 4 == 0 ? size_t{1} + rng() % 512 : size_t{1} + rng() % 9;
  });
}

// Feeds `wire` whole, byte by byte and in random chunks; expects the same
// outcome every way and returns it.
Outcome FeedAllWays(std::string_view wire, uint32_t max = 4096) {
  Outcome whole = FeedWhole(wire, max);
  EXPECT_EQ(FeedBytewise(wire, max), whole);
  for (uint32_t seed = 1; seed <= 3; ++seed) EXPECT_EQ(FeedRandomChunks(wire, seed, max), whole);
  return whole;
}

Outcome Ok(std::vector<Event> events) {
  return Outcome{std::move(events), Status::kOk, 0};
}
Outcome Closed(std::vector<Event> events) {
  return Outcome{std::move(events), Status::kClosed, 0};
}
Outcome Failed(uint16_t code, std::vector<Event> events = {}) {
  return Outcome{std::move(events), Status::kFailed, code};
}

// Turns server frames (unmasked) into client frames (masked with `key`).
std::string MaskServerFrames(std::string_view wire, uint32_t key) {
  std::string out;
  size_t pos = 0;
  while (pos < wire.size()) {
    const auto byte1 = static_cast<uint8_t>(wire[pos + 1]);
    EXPECT_EQ(byte1 & 0x80, 0) << "server frames are not masked";
    size_t header = 2;
    uint64_t len = byte1 & 0x7F;
    if (len >= 126) {
      const size_t width = len == 126 ? 2 : 8;
      len = 0;
      for (size_t i = 0; i < width; ++i) len = len << 8 | static_cast<uint8_t>(wire[pos + 2 + i]);
      header += width;
    }
    std::string frame(wire.substr(pos, header));
    frame[1] = static_cast<char>(frame[1] | 0x80);
    uint8_t k[4] = {static_cast<uint8_t>(key >> 24), static_cast<uint8_t>(key >> 16),
                    static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
    frame.append(reinterpret_cast<const char*>(k), 4);
    for (uint64_t i = 0; i < len; ++i)
      frame.push_back(static_cast<char>(wire[pos + header + i] ^ k[i & 3]));
    out += frame;
    pos += header + len;
  }
  return out;
}

// Encodes any value up to 0x1FFFFF in `len` bytes (1-4), including
// surrogates and overlong forms: for testing the validator.
std::string EncodeRaw(uint32_t cp, int len) {
  std::string s;
  if (len == 1) {
    s.push_back(static_cast<char>(cp));
  } else if (len == 2) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (len == 3) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

std::string EncodeUtf8(uint32_t cp) {
  return EncodeRaw(cp, cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
}

// A straightforward reference decoder (RFC 3629), independent of the DFA.
bool ReferenceUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    int len;
    uint32_t cp;
    if (b < 0x80) {
      len = 1, cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int j = 1; j < len; ++j) {
      const auto c = static_cast<uint8_t>(s[i + j]);
      if ((c & 0xC0) != 0x80) return false;
      cp = cp << 6 | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Feeds `s` to a validator split at the given points.
bool ValidSplit(std::string_view s, std::vector<size_t> cuts) {
  Utf8Validator v;
  size_t prev = 0;
  bool ok = true;
  cuts.push_back(s.size());
  for (size_t cut : cuts) {
    ok = v.Feed(s.substr(prev, cut - prev)) && ok;
    prev = cut;
  }
  return ok && v.complete();
}

const std::vector<std::string>& Utf8Samples() {
  static const std::vector<std::string> kSamples = {
      "",
      "hello",
      "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",  // κόσμε
      "\xC2\xA2\xE2\x82\xAC\xF0\x9F\x98\x80!",
      "\xF4\x8F\xBF\xBF",
      "\xED\x9F\xBF\xEE\x80\x80",
      "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64",
      "ab\xC0\x80",
      "\xE0\x9F\xBF",
      "\xF0\x8F\xBF\xBF",
      "\xF4\x90\x80\x80",
      "a\xF8\x88\x80\x80\x80",
      "\xE2\x82",
      "\xBF",
      "0123456789abcdef\xC2",
      "0123456789abcdef0123456789abcdef\xE2\x82\xAC",
  };
  return kSamples;
}

// ---------------------------------------------------------------------------
// UTF-8

TEST(Utf8, AcceptsValid) {
  for (std::string_view s :
       {std::string_view(""), std::string_view("hello"), std::string_view("a\0b", 3),
        std::string_view("\x7F"), std::string_view("\xC2\x80"), std::string_view("\xDF\xBF"),
        std::string_view("\xE0\xA0\x80"), std::string_view("\xE2\x82\xAC"),
        std::string_view("\xED\x9F\xBF"), std::string_view("\xEE\x80\x80"),
        std::string_view("\xEF\xBF\xBF"), std::string_view("\xF0\x90\x80\x80"),
        std::string_view("\xF0\x9F\x98\x80"), std::string_view("\xF4\x8F\xBF\xBF"),
        std::string_view("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")}) {
    EXPECT_TRUE(IsValidUtf8(s)) << testing::PrintToString(s);
  }
}

TEST(Utf8, RejectsInvalid) {
  for (std::string_view s : {
           "\x80",
           "\xBF",
           "a\x80z",  // lone continuation
           "\xC0\x80",
           "\xC1\xBF",  // overlong 2-byte
           "\xE0\x80\x80",
           "\xE0\x9F\xBF",  // overlong 3-byte
           "\xED\xA0\x80",
           "\xED\xBF\xBF",  // surrogates
           "\xF0\x80\x80\x80",
           "\xF0\x8F\xBF\xBF",  // overlong 4-byte
           "\xF4\x90\x80\x80",
           "\xF7\xBF\xBF\xBF",  // above U+10FFFF
           "\xF5\x80\x80\x80",
           "\xF8\x88\x80\x80\x80",  // bad lead bytes
           "\xFE",
           "\xFF",
           "\xC2",
           "\xE2\x82",
           "\xF0\x9F\x98",  // truncated
           "\xC2\x41",
           "\xE2\x28\xA1",
           "\xF0\x9F\x28\x80",  // bad continuation
       }) {
    EXPECT_FALSE(IsValidUtf8(s)) << testing::PrintToString(s);
  }
}

TEST(Utf8, EveryScalarValueIsValidAndEverySurrogateOrOverlongIsNot) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(IsValidUtf8(EncodeUtf8(cp)), !surrogate) << cp;
    // Longer-than-needed forms are invalid.
    const int len = static_cast<int>(EncodeUtf8(cp).size());
    for (int longer = len + 1; longer <= 4; ++longer) {
      ASSERT_FALSE(IsValidUtf8(EncodeRaw(cp, longer))) << cp << " in " << longer;
    }
  }
  for (uint32_t cp = 0x110000; cp <= 0x1FFFFF; cp += 0x101) {
    ASSERT_FALSE(IsValidUtf8(EncodeRaw(cp, 4))) << cp;
  }
}

TEST(Utf8, IncrementalAgreesWithOneShotAtEverySplit) {
  for (const std::string& s : Utf8Samples()) {
    const bool expected = IsValidUtf8(s);
    EXPECT_EQ(expected, ReferenceUtf8(s)) << testing::PrintToString(s);
    for (size_t i = 0; i <= s.size(); ++i) {
      EXPECT_EQ(ValidSplit(s, {i}), expected) << testing::PrintToString(s) << " at " << i;
      for (size_t j = i; j <= s.size(); ++j) {
        EXPECT_EQ(ValidSplit(s, {i, j}), expected)
            << testing::PrintToString(s) << " at " << i << "," << j;
      }
    }
    std::vector<size_t> every;
    for (size_t i = 1; i < s.size(); ++i) every.push_back(i);
    EXPECT_EQ(ValidSplit(s, every), expected) << testing::PrintToString(s);
  }
}

TEST(Utf8, FailureIsStickyUntilReset) {
  Utf8Validator v;
  EXPECT_TRUE(v.Feed("abc\xE2\x82"));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.Feed("\xAC"));
  EXPECT_TRUE(v.complete());
  EXPECT_FALSE(v.Feed("\xC0"));
  EXPECT_FALSE(v.Feed("abc"));
  EXPECT_FALSE(v.complete());
  v.Reset();
  EXPECT_TRUE(v.Feed("abc"));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, RandomBytesAgreeWithReferenceDecoder) {
  std::mt19937 rng(6455);
  // Bytes biased to the interesting ranges, so that many strings are valid.
  const uint8_t kPool[] = {'a',  'z',  0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                           0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
                           0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  int valid = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    std::string s;
    const size_t len = rng() % 12;
    for (size_t i = 0; i < len; ++i) {
      s.push_back(static_cast<char>(rng() % 3 == 0 ? rng() % 256 : kPool[rng() % sizeof kPool]));
    }
    const bool expected = ReferenceUtf8(s);
    valid += expected;
    ASSERT_EQ(IsValidUtf8(s), expected) << testing::PrintToString(s);
    const size_t cut = s.empty() ? 0 : rng() % (s.size() + 1);
    ASSERT_EQ(ValidSplit(s, {cut}), expected) << testing::PrintToString(s);
  }
  EXPECT_GT(valid, 10000);  // The test exercised both outcomes.
}

TEST(Utf8, LongAsciiAndMixedRuns) {
  std::string s(1000, 'x');
  EXPECT_TRUE(IsValidUtf8(s));
  s[997] = static_cast<char>(0xC3);
  s[998] = static_cast<char>(0xA9);
  EXPECT_TRUE(IsValidUtf8(s));
  s[500] = static_cast<char>(0x80);
  EXPECT_FALSE(IsValidUtf8(s));
}

// ---------------------------------------------------------------------------
// WsFrameParser: well-formed input

TEST(WsFrameParser, StateIsSmall) {
  // The per-connection cost of an idle connection's framing state.
  EXPECT_LE(sizeof(WsFrameParser), 40u);
  WsFrameParser parser;
  EXPECT_EQ(parser.buffer_capacity(), 0u);
  EXPECT_EQ(parser.max_message_size(), 4096u);
  EXPECT_EQ(parser.status(), Status::kOk);
}

TEST(WsFrameParser, Rfc6455Examples) {
  // Section 5.7: a single-frame masked text message, and a masked pong.
  const std::string hello("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  EXPECT_EQ(FeedAllWays(hello), Ok({Text("Hello")}));
  const std::string pong("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  EXPECT_EQ(FeedAllWays(pong), Ok({Pong("Hello")}));
  // Our builder agrees with the RFC's bytes.
  EXPECT_EQ(ClientFrame(kFin | kText, "Hello"), hello);
}

TEST(WsFrameParser, DeliversMessagesAndControlFrames) {
  const std::string wire = ClientFrame(kFin | kText, "{\"op\":1}") +
                           ClientFrame(kFin | kBinary, std::string("\x00\xFF\x80", 3)) +
                           ClientFrame(kPing, "p1") + ClientFrame(kPong, "") +
                           ClientFrame(kFin | kText, "") + ClientFrame(kPing, "");
  EXPECT_EQ(FeedAllWays(wire), Ok({Text("{\"op\":1}"), Binary(std::string("\x00\xFF\x80", 3)),
                                   Ping("p1"), Pong(""), Text(""), Ping("")}));
}

TEST(WsFrameParser, ReassemblesFragmentsWithControlFramesInBetween) {
  const std::string wire = ClientFrame(kText, "Hel") + ClientFrame(kPing, "ping") +
                           ClientFrame(kCont, "") + ClientFrame(kPong, "pong") +
                           ClientFrame(kFin | kCont, "lo") + ClientFrame(kBinary, "a") +
                           ClientFrame(kFin | kCont, "b");
  EXPECT_EQ(FeedAllWays(wire), Ok({Ping("ping"), Pong("pong"), Text("Hello"), Binary("ab")}));
}

TEST(WsFrameParser, EmptyFragments) {
  const std::string wire = ClientFrame(kText, "") + ClientFrame(kCont, "") +
                           ClientFrame(kFin | kCont, "") + ClientFrame(kBinary, "") +
                           ClientFrame(kFin | kCont, "x");
  EXPECT_EQ(FeedAllWays(wire), Ok({Text(""), Binary("x")}));
}

TEST(WsFrameParser, AllThreeLengthEncodings) {
  const uint32_t kMax = 1 << 20;
  for (size_t n : {0, 1, 125, 126, 127, 1000, 65535, 65536, 70000}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    const std::string wire = ClientFrame(kFin | kText, payload);
    const size_t header = wire.size() - n;
    EXPECT_EQ(header, n < 126 ? 6u : n <= 0xFFFF ? 8u : 14u) << n;
    EXPECT_EQ(FeedWhole(wire, kMax), Ok({Text(payload)})) << n;
    EXPECT_EQ(FeedRandomChunks(wire, 7, kMax), Ok({Text(payload)})) << n;
    if (n <= 1000) {
      EXPECT_EQ(FeedBytewise(wire, kMax), Ok({Text(payload)})) << n;
    }
  }
}

TEST(WsFrameParser, AcceptsNonMinimalLengths) {
  const std::string wire = ClientFrame(kFin | kText, "abc", 2) +
                           ClientFrame(kFin | kBinary, "de", 8) + ClientFrame(kFin | kText, "", 8) +
                           ClientFrame(kFin | kText, "", 2);
  EXPECT_EQ(FeedAllWays(wire), Ok({Text("abc"), Binary("de"), Text(""), Text("")}));
}

TEST(WsFrameParser, AnyMaskingKey) {
  for (uint32_t key : {0x00000000u, 0xFFFFFFFFu, 0x01020304u, 0x80000001u}) {
    std::string payload = "the quick brown fox jumps over the lazy dog";
    EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, payload, 0, key)), Ok({Text(payload)}));
  }
}

TEST(WsFrameParser, CloseFrames) {
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, "")), Closed({Close(kWsCloseNoStatus)}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, CloseBody(1000))), Closed({Close(1000)}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, CloseBody(4000, "bye \xE2\x82\xAC"))),
            Closed({Close(4000, "bye \xE2\x82\xAC")}));
  for (uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    EXPECT_EQ(FeedWhole(ClientFrame(kClose, CloseBody(code, "r"))), Closed({Close(code, "r")}))
        << code;
  }
  // 123-byte reason: the largest close payload.
  const std::string reason(123, 'r');
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, CloseBody(1000, reason))),
            Closed({Close(1000, reason)}));
}

TEST(WsFrameParser, NothingIsParsedAfterClose) {
  const std::string wire = ClientFrame(kFin | kText, "a") + ClientFrame(kClose, CloseBody(1001)) +
                           ClientFrame(kFin | kText, "b") + "garbage";
  EXPECT_EQ(FeedAllWays(wire), Closed({Text("a"), Close(1001)}));
  WsFrameParser parser;
  Recorder rec;
  std::vector<uint8_t> bytes(wire.begin(), wire.end());
  EXPECT_EQ(parser.Consume(bytes, rec), Status::kClosed);
  std::vector<uint8_t> more = {0x81, 0x80, 0, 0, 0, 0};
  EXPECT_EQ(parser.Consume(more, rec), Status::kClosed);
  EXPECT_EQ(rec.events.size(), 2u);
}

TEST(WsFrameParser, ClosesInsideFragmentedMessage) {
  // A close may interrupt a fragmented message; the partial message is dropped.
  const std::string wire = ClientFrame(kText, "partial") + ClientFrame(kClose, CloseBody(1000));
  EXPECT_EQ(FeedAllWays(wire), Closed({Close(1000)}));
}

TEST(WsFrameParser, HandlerCanStopParsing) {
  const std::string wire =
      ClientFrame(kFin | kText, "a") + ClientFrame(kPing, "b") + ClientFrame(kFin | kText, "c");
  for (int stop_after = 1; stop_after <= 2; ++stop_after) {
    WsFrameParser parser;
    Recorder rec;
    rec.stop_after = stop_after;
    std::vector<uint8_t> bytes(wire.begin(), wire.end());
    EXPECT_EQ(parser.Consume(bytes, rec), Status::kStopped);
    EXPECT_EQ(rec.events.size(), static_cast<size_t>(stop_after));
    EXPECT_EQ(parser.Consume(bytes, rec), Status::kStopped);
    EXPECT_EQ(rec.events.size(), static_cast<size_t>(stop_after));
    EXPECT_EQ(parser.buffer_capacity(), 0u);
  }
}

TEST(WsFrameParser, WholeFramesAreDeliveredWithoutCopy) {
  const std::string wire = ClientFrame(kFin | kText, "zero copy") + ClientFrame(kPing, "p");
  std::vector<uint8_t> bytes(wire.begin(), wire.end());
  WsFrameParser parser;
  Recorder rec;
  ASSERT_EQ(parser.Consume(bytes, rec), Status::kOk);
  ASSERT_EQ(rec.events.size(), 2u);
  const auto* begin = reinterpret_cast<const char*>(bytes.data());
  EXPECT_EQ(rec.last_payload, begin + bytes.size() - 1);  // The ping's payload, in place.
  EXPECT_EQ(parser.buffer_capacity(), 0u);
}

TEST(WsFrameParser, BufferExistsOnlyWhileAMessageIsIncomplete) {
  WsFrameParser parser;
  Recorder rec;
  auto feed = [&](std::string s) {
    std::vector<uint8_t> b(s.begin(), s.end());
    return parser.Consume(b, rec);
  };
  // A frame split across reads.
  const std::string frame = ClientFrame(kFin | kText, std::string(300, 'x'));
  EXPECT_EQ(feed(frame.substr(0, 6)), Status::kOk);  // Header only: nothing buffered yet.
  EXPECT_EQ(parser.buffer_capacity(), 0u);
  EXPECT_EQ(feed(frame.substr(6, 100)), Status::kOk);
  EXPECT_GE(parser.buffer_capacity(), 100u);
  EXPECT_EQ(feed(frame.substr(106)), Status::kOk);
  EXPECT_EQ(parser.buffer_capacity(), 0u);
  ASSERT_EQ(rec.events.size(), 1u);
  EXPECT_EQ(rec.events[0], Text(std::string(300, 'x')));
  // A fragmented message.
  EXPECT_EQ(feed(ClientFrame(kBinary, "abc")), Status::kOk);
  EXPECT_GE(parser.buffer_capacity(), 3u);
  EXPECT_EQ(feed(ClientFrame(kFin | kCont, "def")), Status::kOk);
  EXPECT_EQ(parser.buffer_capacity(), 0u);
  // A split ping.
  const std::string ping = ClientFrame(kPing, "12345");
  EXPECT_EQ(feed(ping.substr(0, 8)), Status::kOk);
  EXPECT_GT(parser.buffer_capacity(), 0u);
  EXPECT_EQ(feed(ping.substr(8)), Status::kOk);
  EXPECT_EQ(parser.buffer_capacity(), 0u);
  // A split ping inside a fragmented message keeps the message's bytes.
  EXPECT_EQ(feed(ClientFrame(kText, "first ")), Status::kOk);
  EXPECT_EQ(feed(ping.substr(0, 9)), Status::kOk);
  EXPECT_EQ(feed(ping.substr(9)), Status::kOk);
  EXPECT_GT(parser.buffer_capacity(), 0u);
  EXPECT_EQ(feed(ClientFrame(kFin | kCont, "second")), Status::kOk);
  EXPECT_EQ(parser.buffer_capacity(), 0u);
  EXPECT_EQ(rec.events, (std::vector<Event>{Text(std::string(300, 'x')), Binary("abcdef"),
                                            Ping("12345"), Ping("12345"), Text("first second")}));
  // Failure frees the buffer.
  EXPECT_EQ(feed(ClientFrame(kText, "open")), Status::kOk);
  EXPECT_GT(parser.buffer_capacity(), 0u);
  EXPECT_EQ(feed(ClientFrame(kFin | kText, "again")), Status::kFailed);
  EXPECT_EQ(parser.buffer_capacity(), 0u);
}

TEST(WsFrameParser, MoveKeepsPartialState) {
  const std::string wire = ClientFrame(kText, "frag") + ClientFrame(kFin | kCont, "mented");
  std::vector<uint8_t> a(wire.begin(), wire.begin() + 15);
  std::vector<uint8_t> b(wire.begin() + 15, wire.end());
  WsFrameParser first(100);
  Recorder rec;
  ASSERT_EQ(first.Consume(a, rec), Status::kOk);
  WsFrameParser second(std::move(first));
  EXPECT_EQ(second.max_message_size(), 100u);
  ASSERT_EQ(second.Consume(b, rec), Status::kOk);
  EXPECT_EQ(rec.events, std::vector<Event>{Text("fragmented")});
  WsFrameParser third;
  third = std::move(second);
  EXPECT_EQ(third.max_message_size(), 100u);
}

// ---------------------------------------------------------------------------
// WsFrameParser: protocol errors

TEST(WsFrameParser, RejectsUnmaskedFrames) {
  // Section 5.7's unmasked "Hello" is a server frame: a client must mask.
  EXPECT_EQ(FeedAllWays(std::string("\x81\x05Hello", 7)), Failed(kWsCloseProtocolError));
  EXPECT_EQ(FeedAllWays(ClientFrame(kPing, "x", 0, 0, false)), Failed(kWsCloseProtocolError));
}

TEST(WsFrameParser, RejectsRsvBits) {
  for (int rsv : {0x40, 0x20, 0x10, 0x70}) {
    for (int byte0 : {kFin | kText, kFin | kBinary, int{kPing}, int{kClose}, int{kText}}) {
      EXPECT_EQ(FeedAllWays(ClientFrame(byte0 | rsv, "x")), Failed(kWsCloseProtocolError))
          << byte0 << "/" << rsv;
    }
  }
  // Also on a continuation, with the message already delivered in part.
  EXPECT_EQ(FeedAllWays(ClientFrame(kText, "a") + ClientFrame(kFin | 0x40, "b")),
            Failed(kWsCloseProtocolError));
}

TEST(WsFrameParser, RejectsUnknownOpcodes) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(FeedAllWays(ClientFrame(kFin | op, "x")), Failed(kWsCloseProtocolError)) << int{op};
    EXPECT_EQ(FeedAllWays(ClientFrame(op, "")), Failed(kWsCloseProtocolError)) << int{op};
  }
  // A valid frame before it is still delivered.
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, "ok") + ClientFrame(kFin | 3, "")),
            Failed(kWsCloseProtocolError, {Text("ok")}));
}

TEST(WsFrameParser, RejectsFragmentedControlFrames) {
  for (uint8_t byte0 : {0x08, 0x09, 0x0A}) {
    EXPECT_EQ(FeedAllWays(ClientFrame(byte0, "")), Failed(kWsCloseProtocolError)) << int{byte0};
  }
}

TEST(WsFrameParser, RejectsControlPayloadsOver125Bytes) {
  const std::string p125(125, 'p'), p126(126, 'p');
  EXPECT_EQ(FeedAllWays(ClientFrame(kPing, p125)), Ok({Ping(p125)}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kPong, p125)), Ok({Pong(p125)}));
  for (uint8_t byte0 : {kPing, kPong, kClose}) {
    EXPECT_EQ(FeedAllWays(ClientFrame(byte0, p126)), Failed(kWsCloseProtocolError));
    // A short payload with a 16- or 64-bit length is rejected as well.
    EXPECT_EQ(FeedAllWays(ClientFrame(byte0, "", 2)), Failed(kWsCloseProtocolError));
    EXPECT_EQ(FeedAllWays(ClientFrame(byte0, "", 8)), Failed(kWsCloseProtocolError));
  }
}

TEST(WsFrameParser, RejectsContinuationWithoutMessage) {
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kCont, "x")), Failed(kWsCloseProtocolError));
  EXPECT_EQ(FeedAllWays(ClientFrame(kCont, "x")), Failed(kWsCloseProtocolError));
  // ... also right after a message ended.
  EXPECT_EQ(FeedAllWays(ClientFrame(kText, "a") + ClientFrame(kFin | kCont, "b") +
                        ClientFrame(kFin | kCont, "c")),
            Failed(kWsCloseProtocolError, {Text("ab")}));
}

TEST(WsFrameParser, RejectsNewMessageInsideFragmentedMessage) {
  for (int byte0 : {kFin | kText, kFin | kBinary, int{kText}, int{kBinary}}) {
    EXPECT_EQ(FeedAllWays(ClientFrame(kBinary, "a") + ClientFrame(byte0, "b")),
              Failed(kWsCloseProtocolError))
        << int{byte0};
  }
}

TEST(WsFrameParser, Rejects64BitLengthWithTopBitSet) {
  std::string wire("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x05", 10);
  EXPECT_EQ(FeedAllWays(wire), Failed(kWsCloseProtocolError));
  wire[2] = static_cast<char>(0xFF);
  EXPECT_EQ(FeedAllWays(wire), Failed(kWsCloseProtocolError));
  // Even with a limit as large as allowed.
  EXPECT_EQ(FeedWhole(wire, WsFrameParser::kMaxMessageSizeLimit), Failed(kWsCloseProtocolError));
}

TEST(WsFrameParser, RejectsMessagesOverTheLimit) {
  const std::string max(4096, 'm'), over(4097, 'm');
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kBinary, max)), Ok({Binary(max)}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, max, 8)), Ok({Text(max)}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kBinary, over)), Failed(kWsCloseMessageTooBig));
  // Detected from the header, before any payload arrives.
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, over).substr(0, 4)),
            Failed(kWsCloseMessageTooBig));
  // A length too large for any limit.
  EXPECT_EQ(FeedAllWays(std::string("\x82\xFF\x00\x00\x01\x00\x00\x00\x00\x00", 10)),
            Failed(kWsCloseMessageTooBig));
  EXPECT_EQ(FeedAllWays(std::string("\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 10)),
            Failed(kWsCloseMessageTooBig));
  // Across fragments.
  const std::string half(2048, 'h');
  EXPECT_EQ(FeedAllWays(ClientFrame(kText, half) + ClientFrame(kCont, half) +
                        ClientFrame(kFin | kCont, "")),
            Ok({Text(half + half)}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kText, half) + ClientFrame(kCont, half) +
                        ClientFrame(kFin | kCont, "x")),
            Failed(kWsCloseMessageTooBig));
}

TEST(WsFrameParser, MessageLimitIsConfigurable) {
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, "0123456789"), 10), Ok({Text("0123456789")}));
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, "0123456789a"), 10),
            Failed(kWsCloseMessageTooBig));
  EXPECT_EQ(FeedAllWays(ClientFrame(kText, "01234") + ClientFrame(kFin | kCont, "56789a"), 10),
            Failed(kWsCloseMessageTooBig));
  // Control frames are bounded by 125 bytes, not by the message limit.
  const std::string p(125, 'p');
  EXPECT_EQ(FeedAllWays(ClientFrame(kText, "01234") + ClientFrame(kPing, p) +
                            ClientFrame(kFin | kCont, "56789"),
                        10),
            Ok({Ping(p), Text("0123456789")}));
  const std::string big(100000, 'b');
  EXPECT_EQ(FeedWhole(ClientFrame(kFin | kBinary, big), 100000), Ok({Binary(big)}));
  EXPECT_EQ(FeedWhole(ClientFrame(kFin | kBinary, big)), Failed(kWsCloseMessageTooBig));
}

TEST(WsFrameParser, RejectsInvalidUtf8InText) {
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, "ab\xC0\x80")), Failed(kWsCloseInvalidPayload));
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, "\xED\xA0\x80")), Failed(kWsCloseInvalidPayload));
  // Truncated at the end of the message.
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kText, "euro \xE2\x82")),
            Failed(kWsCloseInvalidPayload));
  // Binary messages are not checked.
  EXPECT_EQ(FeedAllWays(ClientFrame(kFin | kBinary, "ab\xC0\x80")), Ok({Binary("ab\xC0\x80")}));
  // Ping payloads neither.
  EXPECT_EQ(FeedAllWays(ClientFrame(kPing, "\xFF")), Ok({Ping("\xFF")}));
}

TEST(WsFrameParser, InvalidUtf8FailsFastBeforeTheMessageEnds) {
  // Autobahn 6.4: the first fragment already cannot start valid UTF-8.
  const std::string wire =
      ClientFrame(kText, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xF4\x90");
  EXPECT_EQ(FeedAllWays(wire), Failed(kWsCloseInvalidPayload));
  // ... even within a frame whose remaining bytes have not arrived.
  const std::string frame = ClientFrame(kFin | kText, "ab\xFF" + std::string(100, 'x'));
  EXPECT_EQ(FeedAllWays(frame.substr(0, 9)), Failed(kWsCloseInvalidPayload));
}

TEST(WsFrameParser, Utf8SplitAcrossFragments) {
  for (const std::string& s : Utf8Samples()) {
    const bool valid = IsValidUtf8(s);
    for (size_t i = 0; i <= s.size(); ++i) {
      const std::string wire = ClientFrame(kText, s.substr(0, i)) + ClientFrame(kPing, "") +
                               ClientFrame(kFin | kCont, s.substr(i));
      const Outcome out = FeedAllWays(wire);
      if (valid) {
        EXPECT_EQ(out, Ok({Ping(""), Text(s)})) << testing::PrintToString(s) << " at " << i;
      } else {
        EXPECT_EQ(out.status, Status::kFailed);
        EXPECT_EQ(out.code, kWsCloseInvalidPayload);
        for (const Event& e : out.events) EXPECT_EQ(e.kind, Event::kPing);
      }
    }
    // One byte per fragment.
    std::string wire;
    for (size_t i = 0; i < s.size(); ++i) {
      wire += ClientFrame(i == 0 ? kText : kCont, s.substr(i, 1));
    }
    wire += ClientFrame(kFin | (s.empty() ? kText : kCont), "");
    const Outcome out = FeedAllWays(wire);
    EXPECT_EQ(out.status, valid ? Status::kOk : Status::kFailed) << testing::PrintToString(s);
    if (valid) {
      EXPECT_EQ(out.events, std::vector<Event>{Text(s)});
    } else {
      EXPECT_EQ(out.code, kWsCloseInvalidPayload);
    }
  }
}

TEST(WsFrameParser, RejectsBadClosePayloads) {
  // One byte: no room for a code.
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, "\x03")), Failed(kWsCloseProtocolError));
  for (uint16_t code :
       {0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(FeedAllWays(ClientFrame(kClose, CloseBody(code))), Failed(kWsCloseProtocolError))
        << code;
  }
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, CloseBody(1000, "bad \xC0\xAF"))),
            Failed(kWsCloseInvalidPayload));
  EXPECT_EQ(FeedAllWays(ClientFrame(kClose, CloseBody(1000, "cut \xE2\x82"))),
            Failed(kWsCloseInvalidPayload));
}

TEST(WsFrameParser, FailureIsSticky) {
  WsFrameParser parser;
  Recorder rec;
  std::string bad = ClientFrame(kFin | 0x40 | kText, "x");
  std::vector<uint8_t> b(bad.begin(), bad.end());
  EXPECT_EQ(parser.Consume(b, rec), Status::kFailed);
  EXPECT_EQ(parser.close_code(), kWsCloseProtocolError);
  std::string good = ClientFrame(kFin | kText, "x");
  std::vector<uint8_t> g(good.begin(), good.end());
  EXPECT_EQ(parser.Consume(g, rec), Status::kFailed);
  EXPECT_EQ(parser.close_code(), kWsCloseProtocolError);
  EXPECT_TRUE(rec.events.empty());
  EXPECT_EQ(parser.Consume({}, rec), Status::kFailed);
}

TEST(WsFrameParser, EmptyInputIsANoOp) {
  WsFrameParser parser;
  Recorder rec;
  EXPECT_EQ(parser.Consume({}, rec), Status::kOk);
  EXPECT_TRUE(rec.events.empty());
}

// ---------------------------------------------------------------------------
// WsFrameParser: property tests over generated streams

// A random valid UTF-8 string of about `n` bytes.
std::string RandomText(std::mt19937& rng, size_t n) {
  std::string s;
  while (s.size() < n) {
    switch (rng() % 5) {
      case 0:
        s += EncodeUtf8(0x80 + rng() % (0x800 - 0x80));
        break;
      case 1: {
        uint32_t cp = 0x800 + rng() % (0x10000 - 0x800);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
        s += EncodeUtf8(cp);
        break;
      }
      case 2:
        s += EncodeUtf8(0x10000 + rng() % (0x110000 - 0x10000));
        break;
      default:
        s.push_back(static_cast<char>(rng() % 0x80));
    }
  }
  return s;
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

size_t RandomSize(std::mt19937& rng, size_t max) {
  switch (rng() % 8) {
    case 0:
      return 0;
    case 1:
      return max == 0 ? 0 : rng() % (max + 1);
    case 2:
      return std::min<size_t>(max, 120 + rng() % 20);  // Around the 7-bit limit.
    default:
      return std::min<size_t>(max, rng() % 40);
  }
}

int RandomLenWidth(std::mt19937& rng, size_t n) {
  const int minimal = n < 126 ? 1 : n <= 0xFFFF ? 2 : 8;
  switch (rng() % 6) {
    case 0:
      return std::max(minimal, 2);
    case 1:
      return 8;
    default:
      return minimal;
  }
}

// A random valid stream of client frames and the events it must produce.
struct Stream {
  std::string wire;
  std::vector<Event> events;
};

Stream RandomStream(std::mt19937& rng, uint32_t max) {
  Stream st;
  auto control = [&] {
    const bool ping = rng() % 2;
    const std::string p = RandomBytes(rng, RandomSize(rng, 125));
    st.wire += ClientFrame(ping ? kPing : kPong, p, 1, static_cast<uint32_t>(rng()));
    st.events.push_back(ping ? Ping(p) : Pong(p));
  };
  const int messages = 1 + static_cast<int>(rng() % 8);
  for (int m = 0; m < messages; ++m) {
    if (rng() % 4 == 0) control();
    const bool text = rng() % 2;
    const size_t size = rng() % 16 == 0 ? max : RandomSize(rng, max);
    std::string payload = text ? RandomText(rng, size) : RandomBytes(rng, size);
    if (payload.size() > max) payload.resize(max);
    if (text) {
      while (!IsValidUtf8(payload)) payload.pop_back();  // Cut inside a character.
    }
    // Split into fragments at random points (through characters too).
    std::vector<size_t> cuts = {0, payload.size()};
    const int extra = rng() % 3 == 0 ? static_cast<int>(rng() % 5) : 0;
    for (int i = 0; i < extra; ++i) cuts.push_back(payload.empty() ? 0 : rng() % payload.size());
    std::sort(cuts.begin(), cuts.end());
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      const bool first = i == 0, last = i + 2 == cuts.size();
      uint8_t byte0 = first ? (text ? kText : kBinary) : kCont;
      if (last) byte0 |= kFin;
      const std::string frag = payload.substr(cuts[i], cuts[i + 1] - cuts[i]);
      st.wire +=
          ClientFrame(byte0, frag, RandomLenWidth(rng, frag.size()), static_cast<uint32_t>(rng()));
      if (!last && rng() % 3 == 0) control();
    }
    st.events.push_back(text ? Text(payload) : Binary(payload));
  }
  if (rng() % 2) {
    uint16_t code = rng() % 2 ? 1000 : static_cast<uint16_t>(3000 + rng() % 2000);
    std::string reason = RandomText(rng, rng() % 100);
    while (reason.size() > 123 || !IsValidUtf8(reason)) reason.pop_back();
    st.wire += ClientFrame(kClose, CloseBody(code, reason), 1, static_cast<uint32_t>(rng()));
    st.events.push_back(Close(code, reason));
  }
  return st;
}

TEST(WsFrameParser, RandomValidStreamsUnderAnySplit) {
  for (uint32_t seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    const uint32_t max = seed % 3 == 0 ? 4096 : 1 + rng() % 600;
    const Stream st = RandomStream(rng, max);
    const bool closed = !st.events.empty() && st.events.back().kind == Event::kClose;
    const Outcome expected{st.events, closed ? Status::kClosed : Status::kOk, 0};
    ASSERT_EQ(FeedWhole(st.wire, max), expected) << "seed " << seed;
    ASSERT_EQ(FeedBytewise(st.wire, max), expected) << "seed " << seed;
    for (uint32_t split_seed = 0; split_seed < 5; ++split_seed) {
      ASSERT_EQ(FeedRandomChunks(st.wire, seed * 31 + split_seed, max), expected)
          << "seed " << seed << " split " << split_seed;
    }
  }
}

// Corrupted streams: whatever the outcome, it does not depend on how the
// bytes are split, and the delivered events respect the protocol.
TEST(WsFrameParser, RandomCorruptStreamsAreSplitIndependent) {
  int failed = 0;
  for (uint32_t seed = 0; seed < 400; ++seed) {
    std::mt19937 rng(seed + 1000);
    const uint32_t max = 1 + rng() % 300;
    std::string wire = RandomStream(rng, max).wire;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips && !wire.empty(); ++i) {
      wire[rng() % wire.size()] ^= static_cast<char>(1u << (rng() % 8));
    }
    const Outcome whole = FeedWhole(wire, max);
    ASSERT_EQ(FeedBytewise(wire, max), whole) << "seed " << seed;
    ASSERT_EQ(FeedRandomChunks(wire, seed, max), whole) << "seed " << seed;
    failed += whole.status == Status::kFailed;
    for (const Event& e : whole.events) {
      if (e.kind == Event::kMessage) {
        EXPECT_LE(e.payload.size(), max);
        if (e.opcode == WsOpcode::kText) {
          EXPECT_TRUE(IsValidUtf8(e.payload));
        }
      } else {
        EXPECT_LE(e.payload.size(), 125u);
      }
      if (e.kind == Event::kClose && e.code != kWsCloseNoStatus) {
        EXPECT_TRUE(IsValidWsCloseCode(e.code));
      }
    }
    if (whole.status == Status::kFailed) {
      EXPECT_TRUE(whole.code == 1002 || whole.code == 1007 || whole.code == 1009) << whole.code;
    }
  }
  EXPECT_GT(failed, 100);
}

// ---------------------------------------------------------------------------
// Writers

TEST(WsWriters, FrameHeaders) {
  auto header = [](WsOpcode op, uint64_t len, bool fin) {
    std::string s;
    AppendFrameHeader(&s, op, len, fin);
    return s;
  };
  EXPECT_EQ(header(WsOpcode::kText, 0, true), std::string("\x81\x00", 2));
  EXPECT_EQ(header(WsOpcode::kBinary, 125, true), std::string("\x82\x7D", 2));
  EXPECT_EQ(header(WsOpcode::kText, 126, false), std::string("\x01\x7E\x00\x7E", 4));
  EXPECT_EQ(header(WsOpcode::kContinuation, 65535, true), std::string("\x80\x7E\xFF\xFF", 4));
  EXPECT_EQ(header(WsOpcode::kBinary, 65536, true),
            std::string("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  EXPECT_EQ(header(WsOpcode::kBinary, 0x0102030405060708ull, true),
            std::string("\x82\x7F\x01\x02\x03\x04\x05\x06\x07\x08", 10));
  EXPECT_EQ(header(WsOpcode::kPing, 5, true), std::string("\x89\x05", 2));
}

TEST(WsWriters, Frames) {
  std::string s;
  AppendTextFrame(&s, "Hello");
  EXPECT_EQ(s, std::string("\x81\x05Hello", 7));  // RFC 6455 section 5.7.
  s.clear();
  AppendBinaryFrame(&s, std::string(256, 'b'));
  EXPECT_EQ(s, std::string("\x82\x7E\x01\x00", 4) + std::string(256, 'b'));
  s.clear();
  AppendPingFrame(&s, "Hello");
  EXPECT_EQ(s, std::string("\x89\x05Hello", 7));
  s.clear();
  AppendPingFrame(&s);
  EXPECT_EQ(s, std::string("\x89\x00", 2));
  s.clear();
  AppendPongFrame(&s, "Hello");
  EXPECT_EQ(s, std::string("\x8A\x05Hello", 7));
  s.clear();
  AppendCloseFrame(&s, 1000, "bye");
  EXPECT_EQ(s, std::string("\x88\x05\x03\xE8"
                           "bye",
                           7));
  s.clear();
  AppendCloseFrame(&s, 4004);
  EXPECT_EQ(s, std::string("\x88\x02\x0F\xA4", 4));
  s.clear();
  AppendCloseFrame(&s, kWsCloseNoStatus);
  EXPECT_EQ(s, std::string("\x88\x00", 2));
}

TEST(WsWriters, CloseReasonIsCutOnACharacterBoundary) {
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xC3\xA9";  // é, 2 bytes each.
  std::string s;
  AppendCloseFrame(&s, 1001, reason);
  ASSERT_EQ(s.size(), 2u + 2 + 122);  // 61 characters; a 62nd would need 124 bytes.
  EXPECT_EQ(static_cast<uint8_t>(s[1]), 124);
  EXPECT_TRUE(IsValidUtf8(s.substr(4)));
  s.clear();
  AppendCloseFrame(&s, 1001, std::string(200, 'a'));
  EXPECT_EQ(s.size(), 2u + 125);
}

TEST(WsWriters, RoundTripThroughTheParser) {
  std::string server;
  AppendTextFrame(&server, "{\"op\":10}");
  AppendBinaryFrame(&server, std::string(70000, '\x01'));
  AppendPingFrame(&server, "hb");
  AppendFrameHeader(&server, WsOpcode::kText, 3, false);
  server += "caf";
  AppendPongFrame(&server, "");
  AppendFrameHeader(&server, WsOpcode::kContinuation, 2, true);
  server += "\xC3\xA9";
  AppendBinaryFrame(&server, std::string(300, '\xFF'));
  AppendCloseFrame(&server, 4000, "done");
  const std::string client = MaskServerFrames(server, 0xDEADBEEF);
  EXPECT_EQ(FeedWhole(client, 100000),
            Closed({Text("{\"op\":10}"), Binary(std::string(70000, '\x01')), Ping("hb"), Pong(""),
                    Text("caf\xC3\xA9"), Binary(std::string(300, '\xFF')), Close(4000, "done")}));
  EXPECT_EQ(FeedRandomChunks(client, 99, 100000), FeedWhole(client, 100000));
}

// ---------------------------------------------------------------------------
// Handshake

TEST(WebSocketHandshake, AcceptKeyFromRfc6455) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // Another well-known pair.
  EXPECT_EQ(WebSocketAccept("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(WebSocketHandshake, ValidatesKeys) {
  EXPECT_TRUE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(IsValidWebSocketKey("x3JJHMbDL1EzLkh9GBhXDw=="));
  EXPECT_FALSE(IsValidWebSocketKey(""));
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ="));
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQAA"));
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25j*Q=="));
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ==x"));
}

TEST(WsCloseCodes, Validity) {
  int valid = 0;
  for (uint32_t code = 0; code <= 65535; ++code) valid += IsValidWsCloseCode(code);
  EXPECT_EQ(valid, 4 + 5 + 2000);
  EXPECT_FALSE(IsValidWsCloseCode(1004));
  EXPECT_FALSE(IsValidWsCloseCode(1005));
  EXPECT_FALSE(IsValidWsCloseCode(1006));
  EXPECT_FALSE(IsValidWsCloseCode(1015));
  EXPECT_TRUE(IsValidWsCloseCode(1011));
  EXPECT_TRUE(IsValidWsCloseCode(4999));
}

}  // namespace
}  // namespace parley::net
