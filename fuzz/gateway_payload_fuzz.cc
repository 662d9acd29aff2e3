// libFuzzer target for the gateway client-payload decoder (src/gateway/payload.h).
//
// Input: the text of one client message, as the WebSocket layer hands it over
// (its UTF-8 check is not assumed). The fuzzer aborts unless the result obeys
// the contract: on success the op is one a client may send and every field is
// within its documented range (activities_json re-parses as an array of at
// most 8 objects carrying only name/type/url/state); on failure the close code
// is 4001, 4002, 4010 or 4013 with a short non-empty reason. Decoding twice
// must give the same result.
#include <boost/json.hpp>
// Boost.JSON compiled here, header-only style, so that it carries the
// fuzzer's coverage instrumentation too (and no parley_boost is needed).
#include <boost/json/src.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_check.h"
#include "gateway/payload.h"

namespace {

namespace gw = parley::gateway;
namespace json = boost::json;

bool IsStatus(std::string_view s) {
  return s == "online" || s == "idle" || s == "dnd" || s == "invisible" || s == "offline";
}

void CheckPresence(const gw::PresenceUpdate& p) {
  FUZZ_CHECK(IsStatus(p.status));
  FUZZ_CHECK(p.since >= 0);
  boost::system::error_code ec;
  const json::value v = json::parse(p.activities_json, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(v.is_array());
  FUZZ_CHECK(v.get_array().size() <= 8);
  // Compact: serializing the parsed value gives the same text back.
  FUZZ_CHECK(json::serialize(v) == p.activities_json);
  for (const json::value& a : v.get_array()) {
    FUZZ_CHECK(a.is_object());
    const json::object& o = a.get_object();
    FUZZ_CHECK(o.size() >= 2 && o.size() <= 4);
    for (const auto& kv : o) {
      const std::string_view k = kv.key();
      FUZZ_CHECK(k == "name" || k == "type" || k == "url" || k == "state");
    }
    FUZZ_CHECK(o.contains("name") && o.at("name").is_string());
    FUZZ_CHECK(o.at("name").get_string().size() <= 128);
    FUZZ_CHECK(o.contains("type") && o.at("type").is_int64());
    FUZZ_CHECK(o.at("type").get_int64() >= 0 && o.at("type").get_int64() <= 6);
    if (o.contains("url")) FUZZ_CHECK(o.at("url").is_string());
    if (o.contains("state")) FUZZ_CHECK(o.at("state").is_string());
  }
}

void CheckPayload(const gw::ClientPayload& p) {
  switch (p.op) {
    case gw::op::kHeartbeat:
    case gw::op::kVoiceStateUpdate:
      break;
    case gw::op::kIdentify: {
      const gw::Identify& id = p.identify;
      if (id.intents) FUZZ_CHECK((*id.intents & ~parley::intent::kAllDefined) == 0);
      FUZZ_CHECK(id.shard_id >= 0 && id.shard_id < id.shard_count);
      FUZZ_CHECK(id.shard_count <= gw::kMaxShardCount);
      FUZZ_CHECK(id.large_threshold >= 50 && id.large_threshold <= 250);
      if (id.presence) CheckPresence(*id.presence);
      break;
    }
    case gw::op::kPresenceUpdate:
      CheckPresence(p.presence);
      break;
    case gw::op::kResume:
      FUZZ_CHECK(p.resume.session_id.size() <= 64);
      break;
    case gw::op::kRequestGuildMembers: {
      const gw::RequestGuildMembers& r = p.request_members;
      FUZZ_CHECK(r.guild_id != 0);
      if (r.query) FUZZ_CHECK(r.query->size() <= 100);
      FUZZ_CHECK(r.limit >= 0 && r.limit <= (r.query ? 100 : 1000));
      FUZZ_CHECK(r.user_ids.size() <= 100);
      for (parley::Snowflake id : r.user_ids) FUZZ_CHECK(id != 0);
      FUZZ_CHECK(r.nonce.size() <= 32);
      break;
    }
    default:
      FUZZ_CHECK(false && "op a client may not send");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gw::ClientPayload p;
  gw::DecodeError err;
  const bool ok = gw::DecodeClientPayload(text, &p, &err);
  if (ok) {
    FUZZ_CHECK(text.size() <= gw::kMaxClientPayloadBytes);
    CheckPayload(p);
  } else {
    const uint16_t c = err.close_code;
    FUZZ_CHECK(c == gw::close_code::kUnknownOpcode || c == gw::close_code::kDecodeError ||
               c == gw::close_code::kInvalidShard || c == gw::close_code::kInvalidIntents);
    FUZZ_CHECK(!err.reason.empty() && err.reason.size() <= 100);
  }

  // Deterministic: a second decode agrees.
  gw::ClientPayload p2;
  gw::DecodeError err2;
  FUZZ_CHECK(gw::DecodeClientPayload(text, &p2, &err2) == ok);
  if (ok) {
    FUZZ_CHECK(p2.op == p.op);
    FUZZ_CHECK(p2.heartbeat_seq == p.heartbeat_seq);
    FUZZ_CHECK(p2.identify.token == p.identify.token);
    FUZZ_CHECK(p2.presence.activities_json == p.presence.activities_json);
    FUZZ_CHECK(p2.request_members.user_ids == p.request_members.user_ids);
  } else {
    FUZZ_CHECK(err2.close_code == err.close_code && err2.reason == err.reason);
  }
  return 0;
}
