#include "gateway/payload.h"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>

#include "util/json_writer.h"

namespace parley::gateway {

namespace json = boost::json;

namespace {

constexpr size_t kMaxActivities = 8;
constexpr size_t kMaxActivityNameBytes = 128;
constexpr int64_t kMaxActivityType = 6;
constexpr size_t kMaxSessionIdBytes = 64;
constexpr size_t kMaxQueryBytes = 100;
constexpr size_t kMaxUserIds = 100;
constexpr size_t kMaxNonceBytes = 32;
constexpr int64_t kMaxMembersLimit = 1000;
constexpr int64_t kMaxMembersLimitWithQuery = 100;
constexpr int64_t kMinLargeThreshold = 50;
constexpr int64_t kMaxLargeThreshold = 250;

bool Fail(DecodeError* err, uint16_t code, std::string_view reason) {
  err->close_code = code;
  err->reason.assign(reason.data(), reason.size());
  return false;
}

bool DecodeFail(DecodeError* err, std::string_view reason) {
  return Fail(err, close_code::kDecodeError, reason);
}

// The value of `v` if it is a JSON integer that fits in an int64.
std::optional<int64_t> AsInt64(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= uint64_t{std::numeric_limits<int64_t>::max()}) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

// The value of `v` if it is a non-negative JSON integer.
std::optional<uint64_t> AsUint64(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  return std::nullopt;
}

// `key` of `o`, or nullptr if it is absent or null (optional fields).
const json::value* Optional(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

// A snowflake: a string of digits or a JSON integer; nonzero.
std::optional<Snowflake> AsSnowflake(const json::value& v) {
  std::optional<Snowflake> id;
  if (v.is_string()) {
    const json::string& s = v.get_string();
    id = ParseSnowflake(std::string_view(s.data(), s.size()));
  } else {
    id = AsUint64(v);
  }
  if (id && *id == 0) return std::nullopt;
  return id;
}

std::string_view StripBot(std::string_view token) {
  if (token.starts_with("Bot ")) token.remove_prefix(4);
  return token;
}

std::string_view View(const json::string& s) {
  return std::string_view(s.data(), s.size());
}

bool DecodeActivities(const json::array& in, std::string* out, DecodeError* err) {
  if (in.size() > kMaxActivities) return DecodeFail(err, "too many activities");
  out->clear();
  out->push_back('[');
  for (const json::value& item : in) {
    const json::object* a = item.if_object();
    if (a == nullptr) return DecodeFail(err, "activity must be an object");
    const json::value* name = a->if_contains("name");
    if (name == nullptr || !name->is_string()) return DecodeFail(err, "activity name");
    if (name->get_string().size() > kMaxActivityNameBytes) {
      return DecodeFail(err, "activity name too long");
    }
    const json::value* type = a->if_contains("type");
    const std::optional<int64_t> t = type ? AsInt64(*type) : std::nullopt;
    if (!t || *t < 0 || *t > kMaxActivityType) return DecodeFail(err, "activity type");
    const json::value* url = Optional(*a, "url");
    const json::value* state = Optional(*a, "state");
    if ((url && !url->is_string()) || (state && !state->is_string())) {
      return DecodeFail(err, "activity url/state must be strings");
    }
    if (out->size() > 1) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(out, View(name->get_string()));
    out->append(",\"type\":");
    AppendJsonInt(out, *t);
    if (url) {
      out->append(",\"url\":");
      AppendJsonString(out, View(url->get_string()));
    }
    if (state) {
      out->append(",\"state\":");
      AppendJsonString(out, View(state->get_string()));
    }
    out->push_back('}');
  }
  out->push_back(']');
  return true;
}

bool DecodePresence(const json::value& d, PresenceUpdate* p, DecodeError* err) {
  const json::object* o = d.if_object();
  if (o == nullptr) return DecodeFail(err, "presence must be an object");

  const json::value* status = o->if_contains("status");
  if (status == nullptr || !status->is_string()) return DecodeFail(err, "invalid status");
  const std::string_view s = View(status->get_string());
  if (s != "online" && s != "idle" && s != "dnd" && s != "invisible" && s != "offline") {
    return DecodeFail(err, "invalid status");
  }
  p->status.assign(s);

  p->since = 0;
  if (const json::value* since = Optional(*o, "since")) {
    const std::optional<int64_t> v = AsInt64(*since);
    if (!v || *v < 0) return DecodeFail(err, "invalid since");
    p->since = *v;
  }

  p->afk = false;
  if (const json::value* afk = Optional(*o, "afk")) {
    if (!afk->is_bool()) return DecodeFail(err, "afk must be a bool");
    p->afk = afk->get_bool();
  }

  p->activities_json = "[]";
  if (const json::value* activities = Optional(*o, "activities")) {
    if (!activities->is_array()) return DecodeFail(err, "activities must be an array");
    if (!DecodeActivities(activities->get_array(), &p->activities_json, err)) return false;
  }
  return true;
}

bool DecodeIdentify(const json::object& d, Identify* id, DecodeError* err) {
  const json::value* token = d.if_contains("token");
  if (token == nullptr || !token->is_string()) return DecodeFail(err, "token must be a string");
  id->token.assign(StripBot(View(token->get_string())));

  if (const json::value* intents = d.if_contains("intents")) {
    const std::optional<uint64_t> v = AsUint64(*intents);
    if (!v || (*v & ~intent::kAllDefined) != 0) {
      return Fail(err, close_code::kInvalidIntents, "invalid intents");
    }
    id->intents = *v;
  }

  if (const json::value* properties = Optional(d, "properties")) {
    if (!properties->is_object()) return DecodeFail(err, "properties must be an object");
  }
  // `compress` (payload compression) is ignored: Parley compresses the
  // transport only. oceanic.js sends the name of the transport compression
  // it asked for ("zlib-stream") here, so any type is accepted.

  if (const json::value* lt = Optional(d, "large_threshold")) {
    if (lt->is_uint64() || (lt->is_int64() && lt->get_int64() > kMaxLargeThreshold)) {
      id->large_threshold = kMaxLargeThreshold;
    } else if (lt->is_int64()) {
      id->large_threshold = static_cast<int>(std::max(lt->get_int64(), kMinLargeThreshold));
    } else {
      return DecodeFail(err, "large_threshold must be an integer");
    }
  }

  if (const json::value* shard = Optional(d, "shard")) {
    const json::array* a = shard->if_array();
    std::optional<int64_t> i, n;
    if (a != nullptr && a->size() == 2) {
      i = AsInt64((*a)[0]);
      n = AsInt64((*a)[1]);
    }
    if (!i || !n || *i < 0 || *i >= *n || *n > kMaxShardCount) {
      return Fail(err, close_code::kInvalidShard, "invalid shard");
    }
    id->shard_id = static_cast<int>(*i);
    id->shard_count = static_cast<int>(*n);
  }

  if (const json::value* presence = Optional(d, "presence")) {
    if (!DecodePresence(*presence, &id->presence.emplace(), err)) return false;
  }
  return true;
}

bool DecodeResume(const json::object& d, Resume* r, DecodeError* err) {
  const json::value* token = d.if_contains("token");
  if (token == nullptr || !token->is_string()) return DecodeFail(err, "token must be a string");
  r->token.assign(StripBot(View(token->get_string())));

  const json::value* session = d.if_contains("session_id");
  if (session == nullptr || !session->is_string()) {
    return DecodeFail(err, "session_id must be a string");
  }
  if (session->get_string().size() > kMaxSessionIdBytes) {
    return DecodeFail(err, "session_id too long");
  }
  r->session_id.assign(View(session->get_string()));

  r->seq = 0;
  if (const json::value* seq = Optional(d, "seq")) {
    const std::optional<uint64_t> v = AsUint64(*seq);
    if (!v) return DecodeFail(err, "invalid seq");
    r->seq = *v;
  }
  return true;
}

bool DecodeRequestMembers(const json::object& d, RequestGuildMembers* r, DecodeError* err) {
  const json::value* guild = d.if_contains("guild_id");
  const std::optional<Snowflake> guild_id = guild ? AsSnowflake(*guild) : std::nullopt;
  if (!guild_id) return DecodeFail(err, "invalid guild_id");
  r->guild_id = *guild_id;

  if (const json::value* query = Optional(d, "query")) {
    if (!query->is_string()) return DecodeFail(err, "query must be a string");
    if (query->get_string().size() > kMaxQueryBytes) return DecodeFail(err, "query too long");
    r->query.emplace(View(query->get_string()));
  }

  int64_t limit = 0;
  if (const json::value* l = Optional(d, "limit")) {
    if (l->is_uint64()) {
      limit = kMaxMembersLimit;
    } else if (l->is_int64() && l->get_int64() >= 0) {
      limit = std::min(l->get_int64(), kMaxMembersLimit);
    } else {
      return DecodeFail(err, "invalid limit");
    }
  }
  if (r->query) limit = std::min(limit, kMaxMembersLimitWithQuery);
  r->limit = static_cast<int>(limit);

  if (const json::value* presences = Optional(d, "presences")) {
    if (!presences->is_bool()) return DecodeFail(err, "presences must be a bool");
    r->presences = presences->get_bool();
  }

  if (const json::value* users = Optional(d, "user_ids")) {
    if (const json::array* a = users->if_array()) {
      if (a->size() > kMaxUserIds) return DecodeFail(err, "too many user_ids");
      r->user_ids.reserve(a->size());
      for (const json::value& u : *a) {
        const std::optional<Snowflake> id = AsSnowflake(u);
        if (!id) return DecodeFail(err, "invalid user_ids");
        r->user_ids.push_back(*id);
      }
    } else {
      const std::optional<Snowflake> id = AsSnowflake(*users);
      if (!id) return DecodeFail(err, "invalid user_ids");
      r->user_ids.push_back(*id);
    }
  }

  if (const json::value* nonce = Optional(d, "nonce")) {
    if (!nonce->is_string()) return DecodeFail(err, "nonce must be a string");
    if (nonce->get_string().size() > kMaxNonceBytes) return DecodeFail(err, "nonce too long");
    r->nonce.assign(View(nonce->get_string()));
  }
  return true;
}

bool Decode(std::string_view text, ClientPayload* out, DecodeError* err, size_t max_bytes) {
  if (text.size() > max_bytes) return DecodeFail(err, "payload too large");

  // The whole tree lives in one arena: a 4 KiB payload fits the stack buffer
  // or needs a few geometric blocks after it.
  unsigned char buffer[8192];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::parse_options options;
  options.max_depth = 32;
  boost::system::error_code ec;
  const json::value v = json::parse(json::string_view(text.data(), text.size()), ec,
                                    json::storage_ptr(&arena), options);
  if (ec) return DecodeFail(err, "invalid JSON");
  const json::object* payload = v.if_object();
  if (payload == nullptr) return DecodeFail(err, "payload must be an object");

  // An integer too large for an int cannot be an allowed op (4001); only a
  // non-integer `op` is a decode error.
  const json::value* op_value = payload->if_contains("op");
  if (op_value == nullptr || !(op_value->is_int64() || op_value->is_uint64())) {
    return DecodeFail(err, "op must be an integer");
  }
  const std::optional<int64_t> op64 = AsInt64(*op_value);
  const int op = op64 && *op64 >= 0 && *op64 <= op::kHeartbeatAck ? static_cast<int>(*op64) : -1;
  if (op != op::kHeartbeat && op != op::kIdentify && op != op::kPresenceUpdate &&
      op != op::kVoiceStateUpdate && op != op::kResume && op != op::kRequestGuildMembers) {
    return Fail(err, close_code::kUnknownOpcode, "unknown opcode");
  }

  *out = ClientPayload();
  out->op = op;
  const json::value* d = payload->if_contains("d");
  if (op == op::kHeartbeat) {
    if (d != nullptr && !d->is_null()) {
      const std::optional<uint64_t> seq = AsUint64(*d);
      if (!seq) return DecodeFail(err, "heartbeat d must be a sequence number");
      out->heartbeat_seq = *seq;
    }
    return true;
  }
  if (d == nullptr || !d->is_object()) return DecodeFail(err, "d must be an object");
  const json::object& data = d->get_object();
  switch (op) {
    case op::kIdentify:
      return DecodeIdentify(data, &out->identify, err);
    case op::kPresenceUpdate:
      return DecodePresence(*d, &out->presence, err);
    case op::kResume:
      return DecodeResume(data, &out->resume, err);
    case op::kRequestGuildMembers:
      return DecodeRequestMembers(data, &out->request_members, err);
    default:  // op::kVoiceStateUpdate: ignored
      return true;
  }
}

}  // namespace

bool DecodeClientPayload(std::string_view text, ClientPayload* out, DecodeError* err,
                         size_t max_bytes) {
  try {
    return Decode(text, out, err, max_bytes);
  } catch (...) {
    // Only std::bad_alloc can get here. The reason fits std::string's small
    // buffer, so reporting it does not allocate.
    err->close_code = close_code::kDecodeError;
    err->reason = "decode failed";
    return false;
  }
}

}  // namespace parley::gateway
