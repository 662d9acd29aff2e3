// Shared lookups for handlers: a caller reaches a guild only as a member and
// a channel only with VIEW_CHANNEL; a non-member never learns what a guild
// contains.
#include <charconv>

#include "api/handlers.h"
#include "model/permissions.h"

namespace parley::handlers {

std::optional<Snowflake> ParamId(const CallPtr& call, size_t i, const ApiError& err) {
  auto id = i < call->params.size() ? ParseSnowflake(call->params[i]) : std::nullopt;
  if (!id) call->Fail(err);
  return id;
}

int QueryLimit(const CallPtr& call, int fallback, int max, FormErrors* errs) {
  if (!call->HasQueryParam("limit")) return fallback;
  std::string s = call->QueryParam("limit");
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > max) {
    errs->Add("limit", "NUMBER_TYPE_MAX", "Must be between 1 and " + std::to_string(max) + ".");
    return 0;
  }
  return v;
}

bool OwnApplication(const CallPtr& call) {
  auto id = call->params.empty() ? std::nullopt : ParseSnowflake(call->params[0]);
  if (!call->user->bot || !id || *id != call->user->id) {
    call->Fail(ApiError::MissingAccess());
    return false;
  }
  return true;
}

std::shared_ptr<GuildState> MemberGuild(Api& api, const CallPtr& call, size_t param) {
  auto gid = ParamId(call, param, ApiError::UnknownGuild());
  if (!gid) return nullptr;
  auto g = api.state().GetGuild(*gid);
  if (!g) {
    call->Fail(ApiError::UnknownGuild());
    return nullptr;
  }
  bool member;
  {
    ReaderLock lock(&g->mu);
    member = g->members.count(call->user->id) != 0;
  }
  if (!member) {
    call->Fail(ApiError::MissingAccess());
    return nullptr;
  }
  return g;
}

std::optional<ChannelAccess> AccessChannel(Api& api, const CallPtr& call, uint64_t need,
                                           size_t param) {
  auto cid = ParamId(call, param, ApiError::UnknownChannel());
  if (!cid) return std::nullopt;
  auto gid = api.state().GuildOfChannel(*cid);
  auto g = gid ? api.state().GetGuild(*gid) : nullptr;
  if (!g) {
    call->Fail(ApiError::UnknownChannel());
    return std::nullopt;
  }
  ChannelAccess a;
  {
    ReaderLock lock(&g->mu);
    auto it = g->channels.find(*cid);
    if (it == g->channels.end()) {
      call->Fail(ApiError::UnknownChannel());
      return std::nullopt;
    }
    a.permissions = g->ChannelPermissions(it->second, call->user->id);
    a.channel = it->second;
    auto lit = g->last_message_ids.find(*cid);
    if (lit != g->last_message_ids.end()) a.last_message_id = lit->second;
  }
  if (!(a.permissions & perm::kViewChannel)) {
    call->Fail(ApiError::MissingAccess());
    return std::nullopt;
  }
  if ((a.permissions & need) != need) {
    call->Fail(ApiError::MissingPermissions());
    return std::nullopt;
  }
  a.guild = std::move(g);
  return a;
}

std::optional<PositionItem> ReadPositionItem(const boost::json::value& v, size_t i,
                                             FormErrors* errs) {
  const std::string at = std::to_string(i);
  const boost::json::object* o = v.if_object();
  const boost::json::value* id_v = o ? o->if_contains("id") : nullptr;
  std::optional<Snowflake> id;
  if (id_v && id_v->is_string()) id = ParseSnowflake(id_v->as_string());
  if (!id) {
    errs->Add(at + ".id", "BASE_TYPE_REQUIRED", "This field is required");
    return std::nullopt;
  }
  PositionItem item{o, *id, std::nullopt};
  if (const boost::json::value* pos = o->if_contains("position"); pos && !pos->is_null()) {
    if (!pos->is_int64()) {
      errs->Add(at + ".position", "NUMBER_TYPE_COERCE", "Value is not int.");
      return std::nullopt;
    }
    item.position = pos->as_int64();
  }
  return item;
}

}  // namespace parley::handlers
