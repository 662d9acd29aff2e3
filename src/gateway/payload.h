// Gateway payloads sent by clients: decoding and validation. Everything a
// client may send is checked here, once, so that the session code only sees
// well-typed values; a violation names the close code Discord uses for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/snowflake.h"
#include "wire/intents.h"

namespace parley::gateway {

namespace op {
inline constexpr int kDispatch = 0;
inline constexpr int kHeartbeat = 1;
inline constexpr int kIdentify = 2;
inline constexpr int kPresenceUpdate = 3;
inline constexpr int kVoiceStateUpdate = 4;
inline constexpr int kResume = 6;
inline constexpr int kReconnect = 7;
inline constexpr int kRequestGuildMembers = 8;
inline constexpr int kInvalidSession = 9;
inline constexpr int kHello = 10;
inline constexpr int kHeartbeatAck = 11;
}  // namespace op

// Gateway close codes (Discord's meanings).
namespace close_code {
inline constexpr uint16_t kUnknownError = 4000;
inline constexpr uint16_t kUnknownOpcode = 4001;
inline constexpr uint16_t kDecodeError = 4002;
inline constexpr uint16_t kNotAuthenticated = 4003;
inline constexpr uint16_t kAuthenticationFailed = 4004;
inline constexpr uint16_t kAlreadyAuthenticated = 4005;
inline constexpr uint16_t kInvalidSeq = 4007;
inline constexpr uint16_t kRateLimited = 4008;
inline constexpr uint16_t kSessionTimedOut = 4009;
inline constexpr uint16_t kInvalidShard = 4010;
inline constexpr uint16_t kShardingRequired = 4011;
inline constexpr uint16_t kInvalidApiVersion = 4012;
inline constexpr uint16_t kInvalidIntents = 4013;
inline constexpr uint16_t kDisallowedIntents = 4014;
}  // namespace close_code

// The largest payload a client may send (Discord's limit).
inline constexpr size_t kMaxClientPayloadBytes = 4096;
// The largest shard count accepted in Identify.
inline constexpr int kMaxShardCount = 1024;

struct PresenceUpdate {
  std::string status = "online";       // online | idle | dnd | invisible | offline
  std::string activities_json = "[]";  // the client's array, re-serialized (at most 8 entries)
  int64_t since = 0;                   // null -> 0
  bool afk = false;
};

struct Identify {
  std::string token;                // as sent; a leading "Bot " is stripped
  std::optional<uint64_t> intents;  // absent -> nullopt (users may omit it)
  int shard_id = 0;
  int shard_count = 1;
  int large_threshold = 50;  // clamped to 50..250
  std::optional<PresenceUpdate> presence;
};

struct Resume {
  std::string token;  // a leading "Bot " is stripped
  std::string session_id;
  uint64_t seq = 0;  // null -> 0
};

struct RequestGuildMembers {
  Snowflake guild_id = 0;
  std::optional<std::string> query;  // as sent (<= 100 bytes)
  int limit = 0;                     // 0..100 with a query, 0 = all when query == ""
  bool presences = false;
  std::vector<Snowflake> user_ids;  // at most 100
  std::string nonce;                // <= 32 bytes; empty = none
};

// One decoded client payload.
struct ClientPayload {
  int op = -1;
  std::optional<uint64_t> heartbeat_seq;  // op 1: d (null -> nullopt)
  Identify identify;                      // op 2
  PresenceUpdate presence;                // op 3
  Resume resume;                          // op 6
  RequestGuildMembers request_members;    // op 8
};

struct DecodeError {
  uint16_t close_code = close_code::kDecodeError;
  std::string reason;  // short, for the close frame (<= 100 bytes)
};

// Decodes one text message from a client. Returns true and fills *out, or
// returns false and fills *err with the close code to use:
//   - not JSON, not an object, `op` missing / not an integer, `d` or one of
//     its fields of the wrong type, text over `max_bytes` (Discord's 4096;
//     the JSON form of an ETF or MessagePack payload, whose own size was
//     checked, may be larger) -> 4002;
//   - an op a client may not send (anything but 1, 2, 3, 4, 6, 8) -> 4001;
//   - op 2: `shard` not [i, n] with 0 <= i < n <= kMaxShardCount -> 4010;
//     `intents` not an integer, negative, or with bits outside
//     intent::kAllDefined -> 4013 (a missing `intents` is not an error here).
// Op 4 (voice) decodes with no fields (Parley has no voice; it is ignored).
// REQUIRES: out, err non-null. Never throws; never allocates more than a
// small multiple of text.size().
bool DecodeClientPayload(std::string_view text, ClientPayload* out, DecodeError* err,
                         size_t max_bytes = kMaxClientPayloadBytes);

}  // namespace parley::gateway
