#include "gateway/payload.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace parley::gateway {
namespace {

// Decodes `text`, expecting success.
ClientPayload Ok(std::string_view text) {
  ClientPayload p;
  DecodeError err;
  EXPECT_TRUE(DecodeClientPayload(text, &p, &err))
      << text << " -> " << err.close_code << " " << err.reason;
  return p;
}

// Decodes `text`, expecting failure; returns the close code.
uint16_t Code(std::string_view text) {
  ClientPayload p;
  DecodeError err;
  if (DecodeClientPayload(text, &p, &err)) {
    ADD_FAILURE() << "decoded: " << text;
    return 0;
  }
  EXPECT_FALSE(err.reason.empty());
  EXPECT_LE(err.reason.size(), 100u);
  return err.close_code;
}

std::string Identify(std::string_view fields) {
  return std::string(R"({"op":2,"d":{"token":"abc",)") + std::string(fields) + "}}";
}

std::string Presence(std::string_view d) {
  return std::string(R"({"op":3,"d":)") + std::string(d) + "}";
}

std::string Request(std::string_view fields) {
  return std::string(R"({"op":8,"d":{)") + std::string(fields) + "}}";
}

// ---------------------------------------------------------------------------
// Envelope

TEST(GatewayPayload, RejectsNonJsonAndNonObjects) {
  EXPECT_EQ(Code(""), close_code::kDecodeError);
  EXPECT_EQ(Code("{"), close_code::kDecodeError);
  EXPECT_EQ(Code("not json"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1,"d":null} trailing)"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1,"d":null,})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1 /* c */,"d":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code("[1]"), close_code::kDecodeError);
  EXPECT_EQ(Code("1"), close_code::kDecodeError);
  EXPECT_EQ(Code("null"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"("op")"), close_code::kDecodeError);
}

TEST(GatewayPayload, OpMustBeAnInteger) {
  EXPECT_EQ(Code(R"({"d":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":"1"})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1.0})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1e0})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":true})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":[1]})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":{"a":1}})"), close_code::kDecodeError);
  // Beyond uint64: parsed as a double.
  EXPECT_EQ(Code(R"({"op":18446744073709551617})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1e400})"), close_code::kDecodeError);
}

TEST(GatewayPayload, OnlyClientOpsAreAllowed) {
  for (const char* op : {"0", "5", "7", "9", "10", "11", "12", "-1", "999", "2147483648",
                         "4294967297", "9223372036854775807", "9223372036854775808",
                         "18446744073709551615", "-9223372036854775808"}) {
    EXPECT_EQ(Code(std::string(R"({"op":)") + op + R"(,"d":{}})"), close_code::kUnknownOpcode)
        << op;
  }
}

TEST(GatewayPayload, OpIsCheckedBeforeD) {
  EXPECT_EQ(Code(R"({"op":7})"), close_code::kUnknownOpcode);
  EXPECT_EQ(Code(R"({"op":0,"d":"garbage","s":1,"t":"READY"})"), close_code::kUnknownOpcode);
}

TEST(GatewayPayload, IgnoresSAndTAndUnknownKeys) {
  ClientPayload p = Ok(R"({"op":1,"d":5,"s":"x","t":{"y":[1,2]},"extra":[null]})");
  EXPECT_EQ(p.op, op::kHeartbeat);
  EXPECT_EQ(p.heartbeat_seq, 5u);
}

TEST(GatewayPayload, KeyOrderDoesNotMatter) {
  ClientPayload p = Ok(R"({"d":7,"op":1})");
  EXPECT_EQ(p.op, op::kHeartbeat);
  EXPECT_EQ(p.heartbeat_seq, 7u);
}

TEST(GatewayPayload, WhitespaceAroundTokens) {
  ClientPayload p = Ok(" \n\t{ \"op\" : 1 ,\r\n \"d\" : null } \n");
  EXPECT_EQ(p.op, op::kHeartbeat);
}

TEST(GatewayPayload, SizeLimit) {
  // Exactly 4096 bytes: accepted; 4097: refused before parsing.
  const std::string prefix = R"({"op":1,"d":null,"pad":")", suffix = "\"}";
  const std::string pad(kMaxClientPayloadBytes - prefix.size() - suffix.size(), 'x');
  const std::string exact = prefix + pad + suffix;
  ASSERT_EQ(exact.size(), kMaxClientPayloadBytes);
  EXPECT_EQ(Ok(exact).op, op::kHeartbeat);
  const std::string over = prefix + pad + "x" + suffix;
  ASSERT_EQ(over.size(), kMaxClientPayloadBytes + 1);
  EXPECT_EQ(Code(over), close_code::kDecodeError);
  // Even valid JSON padded with whitespace is refused on size.
  std::string spaces = R"({"op":1,"d":null})";
  spaces.resize(kMaxClientPayloadBytes + 1, ' ');
  EXPECT_EQ(Code(spaces), close_code::kDecodeError);
  EXPECT_EQ(Code(std::string(1 << 20, '[')), close_code::kDecodeError);
}

TEST(GatewayPayload, DeepNestingIsADecodeError) {
  std::string deep =
      R"({"op":1,"d":null,"x":)" + std::string(2000, '[') + std::string(2000, ']') + "}";
  EXPECT_EQ(Code(deep), close_code::kDecodeError);
  std::string objects;
  for (int i = 0; i < 500; ++i) objects += R"({"a":)";
  objects += "1";
  for (int i = 0; i < 500; ++i) objects += "}";
  EXPECT_EQ(Code(objects), close_code::kDecodeError);
  // Within the limit: fine (unknown keys are ignored).
  std::string shallow =
      R"({"op":1,"d":null,"x":)" + std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_EQ(Ok(shallow).op, op::kHeartbeat);
}

TEST(GatewayPayload, InvalidUtf8DoesNotCrash) {
  EXPECT_EQ(Code("{\"op\":1,\"d\":null,\"x\":\"\xff\xfe\"}"), close_code::kDecodeError);
  EXPECT_EQ(Code("{\"op\":1,\"d\":null,\"x\":\"\xc3\"}"), close_code::kDecodeError);
  EXPECT_EQ(Code("{\"op\":1,\"d\":null,\"x\":\"\xed\xa0\x80\"}"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1,"d":null,"x":"\ud800"})"), close_code::kDecodeError);
  std::string nul = R"({"op":1,"d":null,"x":)";
  nul.push_back('\0');
  nul += "}";
  EXPECT_EQ(Code(nul), close_code::kDecodeError);
  EXPECT_EQ(Ok(R"({"op":1,"d":null,"x":"\u0000"})").op, op::kHeartbeat);
  EXPECT_EQ(Code("\xef\xbb\xbf{\"op\":1}"), close_code::kDecodeError);  // BOM
}

TEST(GatewayPayload, HugeNumbersDoNotCrash) {
  std::string digits(3000, '9');
  EXPECT_EQ(Ok(R"({"op":1,"d":null,"x":)" + digits + "}").op, op::kHeartbeat);
  EXPECT_EQ(Code(R"({"op":1,"d":)" + digits + "}"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":1,"d":1e999999999999})"), close_code::kDecodeError);
  EXPECT_EQ(Code(Identify(R"("intents":)" + digits)), close_code::kInvalidIntents);
  EXPECT_EQ(Code(Identify(R"("shard":[0,)" + digits + "]")), close_code::kInvalidShard);
  EXPECT_EQ(Code(Request(R"("guild_id":)" + digits)), close_code::kDecodeError);
}

TEST(GatewayPayload, ManySmallValuesStayWithinLimits) {
  std::string many = R"({"op":1,"d":null,"x":[)";
  while (many.size() < 4000) many += "[],";
  many += "0]}";
  EXPECT_EQ(Ok(many).op, op::kHeartbeat);
  std::string keys = R"({"op":1,"d":null)";
  for (int i = 0; keys.size() < 4000; ++i) keys += ",\"k" + std::to_string(i) + "\":{}";
  keys += "}";
  EXPECT_EQ(Ok(keys).op, op::kHeartbeat);
}

TEST(GatewayPayload, DuplicateKeysDoNotCrash) {
  ClientPayload p;
  DecodeError err;
  // Whichever copy wins, the result is well-formed.
  if (DecodeClientPayload(R"({"op":1,"op":1,"d":1,"d":2})", &p, &err)) {
    EXPECT_EQ(p.op, op::kHeartbeat);
  }
}

TEST(GatewayPayload, OutIsResetBetweenCalls) {
  ClientPayload p;
  DecodeError err;
  ASSERT_TRUE(DecodeClientPayload(R"({"op":1,"d":9})", &p, &err));
  EXPECT_EQ(p.heartbeat_seq, 9u);
  ASSERT_TRUE(DecodeClientPayload(R"({"op":1,"d":null})", &p, &err));
  EXPECT_EQ(p.heartbeat_seq, std::nullopt);
}

// ---------------------------------------------------------------------------
// Op 1: heartbeat

TEST(GatewayPayload, HeartbeatNullOrMissing) {
  EXPECT_EQ(Ok(R"({"op":1,"d":null})").heartbeat_seq, std::nullopt);
  EXPECT_EQ(Ok(R"({"op":1})").heartbeat_seq, std::nullopt);
}

TEST(GatewayPayload, HeartbeatSeq) {
  EXPECT_EQ(Ok(R"({"op":1,"d":0})").heartbeat_seq, 0u);
  EXPECT_EQ(Ok(R"({"op":1,"d":251})").heartbeat_seq, 251u);
  EXPECT_EQ(Ok(R"({"op":1,"d":18446744073709551615})").heartbeat_seq, 18446744073709551615ull);
}

TEST(GatewayPayload, HeartbeatBadSeq) {
  for (const char* d : {"-1", "1.5", "1.0", "\"5\"", "true", "[]", "{}", "-9223372036854775808"}) {
    EXPECT_EQ(Code(std::string(R"({"op":1,"d":)") + d + "}"), close_code::kDecodeError) << d;
  }
}

// ---------------------------------------------------------------------------
// Op 2: identify

// What discord.js 14 (@discordjs/ws) sends.
TEST(GatewayPayload, IdentifyLikeDiscordJs) {
  ClientPayload p = Ok(R"({"op":2,"d":{"token":"Bot MTIz.abc.def","properties":{"os":"linux",)"
                       R"("browser":"@discordjs/ws 1.0.2","device":"@discordjs/ws 1.0.2"},)"
                       R"("intents":33281,"compress":false,"shard":[0,1],"large_threshold":50}})");
  EXPECT_EQ(p.op, op::kIdentify);
  EXPECT_EQ(p.identify.token, "MTIz.abc.def");
  ASSERT_TRUE(p.identify.intents.has_value());
  EXPECT_EQ(*p.identify.intents,
            intent::kGuilds | intent::kGuildMessages | intent::kMessageContent);
  EXPECT_EQ(p.identify.shard_id, 0);
  EXPECT_EQ(p.identify.shard_count, 1);
  EXPECT_EQ(p.identify.large_threshold, 50);
  EXPECT_FALSE(p.identify.presence.has_value());
}

TEST(GatewayPayload, IdentifyWithInitialPresence) {
  ClientPayload p =
      Ok(R"({"op":2,"d":{"token":"t","intents":513,"properties":{"os":"linux",)"
         R"("browser":"discord.js","device":"discord.js"},"presence":{"activities":)"
         R"([{"name":"with Parley","type":0}],"afk":false,"since":null,"status":"idle"}}})");
  ASSERT_TRUE(p.identify.presence.has_value());
  EXPECT_EQ(p.identify.presence->status, "idle");
  EXPECT_EQ(p.identify.presence->activities_json, R"([{"name":"with Parley","type":0}])");
  EXPECT_EQ(Code(Identify(R"("presence":{"status":"away"})")), close_code::kDecodeError);
  EXPECT_EQ(Code(Identify(R"("presence":[])")), close_code::kDecodeError);
  EXPECT_EQ(Code(Identify(R"("presence":"online")")), close_code::kDecodeError);
  EXPECT_FALSE(Ok(Identify(R"("presence":null)")).identify.presence.has_value());
}

TEST(GatewayPayload, IdentifyMinimal) {
  ClientPayload p = Ok(R"({"op":2,"d":{"token":"user-token"}})");
  EXPECT_EQ(p.identify.token, "user-token");
  EXPECT_FALSE(p.identify.intents.has_value());
  EXPECT_EQ(p.identify.shard_id, 0);
  EXPECT_EQ(p.identify.shard_count, 1);
  EXPECT_EQ(p.identify.large_threshold, 50);
}

TEST(GatewayPayload, IdentifyToken) {
  EXPECT_EQ(Ok(Identify("\"x\":1")).identify.token, "abc");
  EXPECT_EQ(Ok(R"({"op":2,"d":{"token":"Bot Bot x"}})").identify.token, "Bot x");
  EXPECT_EQ(Ok(R"({"op":2,"d":{"token":"bot x"}})").identify.token, "bot x");
  EXPECT_EQ(Ok(R"({"op":2,"d":{"token":"Bot"}})").identify.token, "Bot");
  EXPECT_EQ(Ok(R"({"op":2,"d":{"token":""}})").identify.token, "");
  EXPECT_EQ(Code(R"({"op":2,"d":{}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":2,"d":{"token":null}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":2,"d":{"token":123}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":2,"d":{"token":["a"]}})"), close_code::kDecodeError);
}

TEST(GatewayPayload, IdentifyNeedsObjectD) {
  EXPECT_EQ(Code(R"({"op":2})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":2,"d":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":2,"d":"token"})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":2,"d":[]})"), close_code::kDecodeError);
}

TEST(GatewayPayload, IdentifyIntents) {
  EXPECT_EQ(Ok(Identify(R"("intents":0)")).identify.intents, 0u);
  EXPECT_EQ(Ok(Identify(R"("intents":131071)")).identify.intents, (1u << 17) - 1);
  EXPECT_EQ(Ok(Identify(R"("intents":53608447)")).identify.intents, intent::kAllDefined);
  EXPECT_EQ(53608447u, intent::kAllDefined);
  // 3276799 = 0x31FFFF: bits 0..16, 20, 21 (discord.js 14's IntentsBitField.All before
  // bits 24 and 25 were added): all defined.
  EXPECT_EQ(Ok(Identify(R"("intents":3276799)")).identify.intents, 3276799u);
  EXPECT_EQ(Code(Identify(R"("intents":3407871)")), close_code::kInvalidIntents);  // + bit 17
  for (const char* bad : {"131072", "1048575", "4194304", "67108864", "9223372036854775807",
                          "18446744073709551615", "-1", "-9223372036854775808", "1.0", "513.5",
                          "1e3", "\"513\"", "true", "false", "null", "[513]", "{}"}) {
    EXPECT_EQ(Code(Identify(std::string(R"("intents":)") + bad)), close_code::kInvalidIntents)
        << bad;
  }
}

TEST(GatewayPayload, IdentifyShard) {
  ClientPayload p = Ok(Identify(R"("shard":[2,3])"));
  EXPECT_EQ(p.identify.shard_id, 2);
  EXPECT_EQ(p.identify.shard_count, 3);
  p = Ok(Identify(R"("shard":[1023,1024])"));
  EXPECT_EQ(p.identify.shard_id, 1023);
  EXPECT_EQ(p.identify.shard_count, 1024);
  EXPECT_EQ(Ok(Identify(R"("shard":null)")).identify.shard_count, 1);
  for (const char* bad : {"[1,1]",
                          "[0,0]",
                          "[-1,1]",
                          "[0,1025]",
                          "[2,1]",
                          "[0]",
                          "[0,1,2]",
                          "[]",
                          "[0.0,1]",
                          "[0,1.0]",
                          "[\"0\",\"1\"]",
                          "[null,1]",
                          "[true,1]",
                          "[0,18446744073709551615]",
                          "[4294967296,4294967297]",
                          "[0,[1]]",
                          "{\"0\":1}",
                          "\"0,1\"",
                          "1",
                          "true"}) {
    EXPECT_EQ(Code(Identify(std::string(R"("shard":)") + bad)), close_code::kInvalidShard) << bad;
  }
}

TEST(GatewayPayload, IdentifyLargeThreshold) {
  auto lt = [](std::string_view v) {
    return Ok(Identify(std::string(R"("large_threshold":)") + std::string(v)))
        .identify.large_threshold;
  };
  EXPECT_EQ(lt("100"), 100);
  EXPECT_EQ(lt("50"), 50);
  EXPECT_EQ(lt("250"), 250);
  EXPECT_EQ(lt("10"), 50);
  EXPECT_EQ(lt("0"), 50);
  EXPECT_EQ(lt("-5"), 50);
  EXPECT_EQ(lt("-9223372036854775808"), 50);
  EXPECT_EQ(lt("251"), 250);
  EXPECT_EQ(lt("4294967296"), 250);
  EXPECT_EQ(lt("18446744073709551615"), 250);
  EXPECT_EQ(lt("null"), 50);
  EXPECT_EQ(Code(Identify(R"("large_threshold":100.0)")), close_code::kDecodeError);
  EXPECT_EQ(Code(Identify(R"("large_threshold":"100")")), close_code::kDecodeError);
  EXPECT_EQ(Code(Identify(R"("large_threshold":true)")), close_code::kDecodeError);
}

TEST(GatewayPayload, IdentifyPropertiesAndCompress) {
  EXPECT_EQ(Ok(Identify(R"("properties":{"$os":"linux","x":[1,{}]})")).op, op::kIdentify);
  EXPECT_EQ(Ok(Identify(R"("properties":null,"compress":null)")).op, op::kIdentify);
  EXPECT_EQ(Ok(Identify(R"("compress":true)")).op, op::kIdentify);
  EXPECT_EQ(Code(Identify(R"("properties":"linux")")), close_code::kDecodeError);
  EXPECT_EQ(Code(Identify(R"("properties":[])")), close_code::kDecodeError);
  // Ignored whatever its type: oceanic.js sends "zlib-stream" there.
  EXPECT_EQ(Ok(Identify(R"("compress":"zlib-stream")")).op, op::kIdentify);
  EXPECT_EQ(Ok(Identify(R"("compress":1)")).op, op::kIdentify);
}

TEST(GatewayPayload, IdentifyErrorPrecedence) {
  // Fields are checked in a fixed order; each error is reported on its own.
  EXPECT_EQ(Code(Identify(R"("intents":-1,"shard":[5,1])")), close_code::kInvalidIntents);
  EXPECT_EQ(Code(Identify(R"("intents":1,"shard":[5,1])")), close_code::kInvalidShard);
}

// ---------------------------------------------------------------------------
// Op 3: presence update

TEST(GatewayPayload, PresenceLikeDiscordJs) {
  ClientPayload p = Ok(R"({"op":3,"d":{"activities":[{"name":"Custom Status","state":"coding",)"
                       R"("type":4},{"name":"Stream","type":1,"url":"https://twitch.tv/x"}],)"
                       R"("afk":false,"since":null,"status":"dnd"}})");
  EXPECT_EQ(p.op, op::kPresenceUpdate);
  EXPECT_EQ(p.presence.status, "dnd");
  EXPECT_EQ(p.presence.since, 0);
  EXPECT_FALSE(p.presence.afk);
  EXPECT_EQ(p.presence.activities_json,
            R"([{"name":"Custom Status","type":4,"state":"coding"},)"
            R"({"name":"Stream","type":1,"url":"https://twitch.tv/x"}])");
}

TEST(GatewayPayload, PresenceStatus) {
  for (const char* s : {"online", "idle", "dnd", "invisible", "offline"}) {
    EXPECT_EQ(Ok(Presence(std::string(R"({"status":")") + s + "\"}")).presence.status, s);
  }
  for (const char* bad : {"\"away\"", "\"ONLINE\"", "\"\"", "\"online \"", "null", "1", "[]"}) {
    EXPECT_EQ(Code(Presence(std::string(R"({"status":)") + bad + "}")), close_code::kDecodeError)
        << bad;
  }
  EXPECT_EQ(Code(Presence("{}")), close_code::kDecodeError);
}

TEST(GatewayPayload, PresenceDefaults) {
  ClientPayload p = Ok(Presence(R"({"status":"online"})"));
  EXPECT_EQ(p.presence.since, 0);
  EXPECT_FALSE(p.presence.afk);
  EXPECT_EQ(p.presence.activities_json, "[]");
  p = Ok(Presence(R"({"status":"online","activities":null,"afk":null})"));
  EXPECT_EQ(p.presence.activities_json, "[]");
  p = Ok(Presence(R"({"status":"online","activities":[]})"));
  EXPECT_EQ(p.presence.activities_json, "[]");
}

TEST(GatewayPayload, PresenceSinceAndAfk) {
  ClientPayload p = Ok(Presence(R"({"status":"idle","since":1700000000000,"afk":true})"));
  EXPECT_EQ(p.presence.since, 1700000000000);
  EXPECT_TRUE(p.presence.afk);
  for (const char* bad :
       {"-1", "1.5", "1700000000000.0", "\"0\"", "true", "18446744073709551615"}) {
    EXPECT_EQ(Code(Presence(std::string(R"({"status":"idle","since":)") + bad + "}")),
              close_code::kDecodeError)
        << bad;
  }
  EXPECT_EQ(Code(Presence(R"({"status":"idle","afk":0})")), close_code::kDecodeError);
  EXPECT_EQ(Code(Presence(R"({"status":"idle","afk":"true"})")), close_code::kDecodeError);
}

TEST(GatewayPayload, PresenceNeedsObjectD) {
  EXPECT_EQ(Code(R"({"op":3})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":3,"d":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":3,"d":"online"})"), close_code::kDecodeError);
}

TEST(GatewayPayload, PresenceActivitiesReserialized) {
  // Only name, type, url, state survive; the output is compact and in a fixed order.
  ClientPayload p = Ok(Presence(
      R"({"status":"online","activities":[ { "type" : 2 , "name" : "\"quoted\"\n\u00e9\u2603",)"
      R"( "state" : null, "url": null, "details":"x", "assets":{"large_image":"a"},)"
      R"( "created_at":1, "emoji":{"name":"z"} } ]})"));
  EXPECT_EQ(p.presence.activities_json,
            "[{\"name\":\"\\\"quoted\\\"\\n\xc3\xa9\xe2\x98\x83\","
            "\"type\":2}]");
  auto parsed = boost::json::parse(p.presence.activities_json);
  ASSERT_TRUE(parsed.is_array());
  EXPECT_EQ(parsed.as_array()[0].as_object().at("name").as_string(),
            "\"quoted\"\n\xc3\xa9\xe2\x98\x83");
}

TEST(GatewayPayload, PresenceActivitiesLimits) {
  std::string eight = R"({"status":"online","activities":[)";
  for (int i = 0; i < 8; ++i) eight += std::string(i ? "," : "") + R"({"name":"a","type":0})";
  EXPECT_EQ(
      boost::json::parse(Ok(Presence(eight + "]}")).presence.activities_json).as_array().size(),
      8u);
  EXPECT_EQ(Code(Presence(eight + R"(,{"name":"a","type":0}]})")), close_code::kDecodeError);

  auto act = [](std::string_view a) {
    return Presence(std::string(R"({"status":"online","activities":[)") + std::string(a) + "]}");
  };
  std::string name128(128, 'n');
  EXPECT_EQ(Ok(act(R"({"name":")" + name128 + R"(","type":6})")).op, op::kPresenceUpdate);
  EXPECT_EQ(Code(act(R"({"name":")" + name128 + R"(n","type":0})")), close_code::kDecodeError);
  EXPECT_EQ(Ok(act(R"({"name":"","type":0})")).op, op::kPresenceUpdate);
  for (const char* bad :
       {R"({"type":0})", R"({"name":null,"type":0})", R"({"name":1,"type":0})", R"({"name":"a"})",
        R"({"name":"a","type":null})", R"({"name":"a","type":7})", R"({"name":"a","type":-1})",
        R"({"name":"a","type":0.0})", R"({"name":"a","type":"0"})",
        R"({"name":"a","type":0,"url":1})", R"({"name":"a","type":0,"state":{}})", "null", "1",
        "\"a\"", "[]"}) {
    EXPECT_EQ(Code(act(bad)), close_code::kDecodeError) << bad;
  }
  EXPECT_EQ(Code(Presence(R"({"status":"online","activities":{}})")), close_code::kDecodeError);
  EXPECT_EQ(Code(Presence(R"({"status":"online","activities":"[]"})")), close_code::kDecodeError);
}

// ---------------------------------------------------------------------------
// Op 6: resume

TEST(GatewayPayload, ResumeLikeDiscordJs) {
  ClientPayload p = Ok(R"({"op":6,"d":{"token":"Bot MTIz.abc.def","seq":1337,)"
                       R"("session_id":"0123456789abcdef0123456789abcdef"}})");
  EXPECT_EQ(p.op, op::kResume);
  EXPECT_EQ(p.resume.token, "MTIz.abc.def");
  EXPECT_EQ(p.resume.session_id, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(p.resume.seq, 1337u);
}

TEST(GatewayPayload, ResumeSeq) {
  EXPECT_EQ(Ok(R"({"op":6,"d":{"token":"t","session_id":"s","seq":null}})").resume.seq, 0u);
  EXPECT_EQ(Ok(R"({"op":6,"d":{"token":"t","session_id":"s"}})").resume.seq, 0u);
  EXPECT_EQ(
      Ok(R"({"op":6,"d":{"token":"t","session_id":"s","seq":18446744073709551615}})").resume.seq,
      18446744073709551615ull);
  for (const char* bad : {"-1", "1.0", "\"1\"", "true", "[1]"}) {
    EXPECT_EQ(Code(std::string(R"({"op":6,"d":{"token":"t","session_id":"s","seq":)") + bad + "}}"),
              close_code::kDecodeError)
        << bad;
  }
}

TEST(GatewayPayload, ResumeFields) {
  std::string sid64(64, 's');
  EXPECT_EQ(Ok(R"({"op":6,"d":{"token":"t","session_id":")" + sid64 + R"("}})").resume.session_id,
            sid64);
  EXPECT_EQ(Code(R"({"op":6,"d":{"token":"t","session_id":")" + sid64 + R"(s"}})"),
            close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":{"token":"t"}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":{"token":"t","session_id":null}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":{"token":"t","session_id":5}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":{"session_id":"s"}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":{"token":1,"session_id":"s"}})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":6,"d":["t","s",1]})"), close_code::kDecodeError);
}

// ---------------------------------------------------------------------------
// Op 8: request guild members

TEST(GatewayPayload, RequestAllMembersLikeDiscordJs) {
  ClientPayload p = Ok(R"({"op":8,"d":{"guild_id":"222078108977594368","presences":false,)"
                       R"("query":"","nonce":"1150391412345678901","limit":0}})");
  EXPECT_EQ(p.op, op::kRequestGuildMembers);
  EXPECT_EQ(p.request_members.guild_id, 222078108977594368ull);
  EXPECT_EQ(p.request_members.query, "");
  EXPECT_EQ(p.request_members.limit, 0);
  EXPECT_FALSE(p.request_members.presences);
  EXPECT_TRUE(p.request_members.user_ids.empty());
  EXPECT_EQ(p.request_members.nonce, "1150391412345678901");
}

TEST(GatewayPayload, RequestMembersByIds) {
  ClientPayload p = Ok(
      Request(R"("guild_id":"1","presences":true,"user_ids":["175928847299117063",42],"limit":0)"));
  EXPECT_TRUE(p.request_members.presences);
  EXPECT_EQ(p.request_members.query, std::nullopt);
  EXPECT_EQ(p.request_members.user_ids, (std::vector<Snowflake>{175928847299117063ull, 42}));
  EXPECT_EQ(p.request_members.nonce, "");
  p = Ok(Request(R"("guild_id":1,"user_ids":"175928847299117063")"));
  EXPECT_EQ(p.request_members.user_ids, (std::vector<Snowflake>{175928847299117063ull}));
  p = Ok(Request(R"("guild_id":1,"user_ids":7)"));
  EXPECT_EQ(p.request_members.user_ids, (std::vector<Snowflake>{7}));
  EXPECT_TRUE(Ok(Request(R"("guild_id":1,"user_ids":[])")).request_members.user_ids.empty());
  EXPECT_TRUE(Ok(Request(R"("guild_id":1,"user_ids":null)")).request_members.user_ids.empty());

  std::string ids100, ids101;
  for (int i = 1; i <= 100; ++i) ids100 += (i > 1 ? "," : "") + std::to_string(i);
  ids101 = ids100 + ",101";
  EXPECT_EQ(
      Ok(Request(R"("guild_id":1,"user_ids":[)" + ids100 + "]")).request_members.user_ids.size(),
      100u);
  EXPECT_EQ(Code(Request(R"("guild_id":1,"user_ids":[)" + ids101 + "]")), close_code::kDecodeError);
  for (const char* bad :
       {"[\"0\"]", "[0]", "[-1]", "[1.0]", "[\"abc\"]", "[\"-1\"]", "[\"+1\"]", "[\" 1\"]",
        "[null]", "[[1]]", "[\"18446744073709551616\"]", "true", "{}", "\"\"", "1.5"}) {
    EXPECT_EQ(Code(Request(std::string(R"("guild_id":1,"user_ids":)") + bad)),
              close_code::kDecodeError)
        << bad;
  }
}

TEST(GatewayPayload, RequestMembersGuildId) {
  EXPECT_EQ(Ok(Request(R"("guild_id":"18446744073709551615")")).request_members.guild_id,
            18446744073709551615ull);
  EXPECT_EQ(Ok(Request(R"("guild_id":18446744073709551615)")).request_members.guild_id,
            18446744073709551615ull);
  EXPECT_EQ(Ok(Request(R"("guild_id":"007")")).request_members.guild_id, 7u);
  for (const char* bad : {"\"0\"", "0", "-5", "\"\"", "\"12a\"", "\"1 \"", "\"-1\"", "1.0",
                          "\"18446744073709551616\"", "18446744073709551616", "null", "true",
                          "[\"1\"]", "{}", "\"000000000000000000001\""}) {
    EXPECT_EQ(Code(Request(std::string(R"("guild_id":)") + bad)), close_code::kDecodeError) << bad;
  }
  EXPECT_EQ(Code(Request(R"("query":"")")), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":8})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":8,"d":"1"})"), close_code::kDecodeError);
}

TEST(GatewayPayload, RequestMembersQueryAndLimit) {
  ClientPayload p = Ok(Request(R"("guild_id":"1","query":"al","limit":10)"));
  EXPECT_EQ(p.request_members.query, "al");
  EXPECT_EQ(p.request_members.limit, 10);
  // With a query Discord caps the limit at 100: clamp, do not refuse.
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","query":"al","limit":1000)")).request_members.limit, 100);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","query":"","limit":500)")).request_members.limit, 100);
  // Without one: 0..1000.
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","user_ids":[1],"limit":1000)")).request_members.limit,
            1000);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","limit":5000)")).request_members.limit, 1000);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","limit":18446744073709551615)")).request_members.limit,
            1000);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1")")).request_members.limit, 0);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","limit":null)")).request_members.limit, 0);
  for (const char* bad : {"-1", "1.0", "\"10\"", "true", "[]"}) {
    EXPECT_EQ(Code(Request(std::string(R"("guild_id":"1","limit":)") + bad)),
              close_code::kDecodeError)
        << bad;
  }
  std::string q100(100, 'q');
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","query":")" + q100 + "\"")).request_members.query, q100);
  EXPECT_EQ(Code(Request(R"("guild_id":"1","query":")" + q100 + "q\"")), close_code::kDecodeError);
  EXPECT_EQ(Code(Request(R"("guild_id":"1","query":5)")), close_code::kDecodeError);
  EXPECT_EQ(Code(Request(R"("guild_id":"1","query":["a"])")), close_code::kDecodeError);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","query":null)")).request_members.query, std::nullopt);
}

TEST(GatewayPayload, RequestMembersPresencesAndNonce) {
  EXPECT_EQ(Code(Request(R"("guild_id":"1","presences":1)")), close_code::kDecodeError);
  EXPECT_EQ(Code(Request(R"("guild_id":"1","presences":"true")")), close_code::kDecodeError);
  std::string n32(32, 'n');
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","nonce":")" + n32 + "\"")).request_members.nonce, n32);
  EXPECT_EQ(Code(Request(R"("guild_id":"1","nonce":")" + n32 + "n\"")), close_code::kDecodeError);
  EXPECT_EQ(Code(Request(R"("guild_id":"1","nonce":12345)")), close_code::kDecodeError);
  EXPECT_EQ(Ok(Request(R"("guild_id":"1","nonce":null)")).request_members.nonce, "");
}

// ---------------------------------------------------------------------------
// Op 4: voice state update (ignored)

TEST(GatewayPayload, VoiceStateUpdate) {
  ClientPayload p = Ok(R"({"op":4,"d":{"guild_id":"41771983423143937","channel_id":null,)"
                       R"("self_mute":false,"self_deaf":false}})");
  EXPECT_EQ(p.op, op::kVoiceStateUpdate);
  EXPECT_EQ(Ok(R"({"op":4,"d":{}})").op, op::kVoiceStateUpdate);
  EXPECT_EQ(Code(R"({"op":4})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":4,"d":null})"), close_code::kDecodeError);
  EXPECT_EQ(Code(R"({"op":4,"d":1})"), close_code::kDecodeError);
}

}  // namespace
}  // namespace parley::gateway
