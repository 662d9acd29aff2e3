// Guild members: list, read, add (bots), modify, kick.
#include <boost/json/serialize.hpp>
#include <charconv>

#include "api/handlers.h"
#include "api/serialize.h"
#include "model/permissions.h"
#include "util/time_format.h"

namespace parley::handlers {

namespace bj = boost::json;

void ListMembers(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  int limit = 1;
  FormErrors errs;
  if (call->HasQueryParam("limit")) {
    std::string s = call->QueryParam("limit");
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), limit);
    if (ec != std::errc() || p != s.data() + s.size() || limit < 1 || limit > 1000)
      errs.Add("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 1000.");
  }
  Snowflake after = 0;
  if (call->HasQueryParam("after")) {
    auto id = ParseSnowflake(call->QueryParam("after"));
    if (!id)
      errs.Add("after", "NUMBER_TYPE_COERCE", "Value is not snowflake.");
    else
      after = *id;
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  bj::array out;
  std::shared_lock lock(g->mu);
  for (auto it = g->members.upper_bound(after);
       it != g->members.end() && static_cast<int>(out.size()) < limit; ++it)
    out.push_back(json::MemberObject(it->second, api.state()));
  call->Reply(200, out);
}

void GetMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  std::shared_lock lock(g->mu);
  auto it = g->members.find(*uid);
  if (it == g->members.end()) return call->Fail(ApiError::UnknownMember());
  call->Reply(200, json::MemberObject(it->second, api.state()));
}

// Parley's stand-in for Discord's OAuth2 bot authorization: the owner (or a
// member with MANAGE_GUILD) adds a bot user to the guild.
void AddMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownUser());
  if (!uid) return;
  auto user = api.state().GetUser(*uid);
  if (!user) return call->Fail(ApiError::UnknownUser());
  {
    std::shared_lock lock(g->mu);
    if (!(g->GuildPermissions(call->user->id) & perm::kManageGuild))
      return call->Fail(ApiError::MissingPermissions());
    if (g->members.count(*uid)) return call->NoContent();  // already a member
  }
  if (!user->bot)
    return call->Fail(
        {403, 50025, "Only bots can be added directly; users join through an invite", {}});
  Member m{g->guild.id, *uid, "", {}, NowMs()};
  WriteBatch batch;
  batch.push_back(mut::PutMember{m});
  api.Commit(call, std::move(batch),
             [&api, call, m] { call->Reply(201, json::MemberObject(m, api.state())); });
}

void PatchMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  Member m;
  {
    std::shared_lock lock(g->mu);
    auto it = g->members.find(*uid);
    if (it == g->members.end()) return call->Fail(ApiError::UnknownMember());
    m = it->second;
    uint64_t p = g->GuildPermissions(call->user->id);
    bool self = *uid == call->user->id;
    if (auto* v = body.if_contains("nick")) {
      if (!(p & (self ? perm::kChangeNickname : perm::kManageNicknames)))
        return call->Fail(ApiError::MissingPermissions());
      if (v->is_null())
        m.nick.clear();
      else if (v->is_string() && v->as_string().size() <= 32 * 4)
        m.nick = std::string(v->as_string());
      else
        errs.Add("nick", "BASE_TYPE_MAX_LENGTH", "Must be 32 or fewer in length.");
    }
    if (auto* v = body.if_contains("roles"); v && !v->is_null()) {
      if (!(p & perm::kManageRoles)) return call->Fail(ApiError::MissingPermissions());
      int top = g->TopRolePosition(call->user->id);
      std::vector<Snowflake> roles;
      if (!v->is_array()) {
        errs.Add("roles", "LIST_TYPE_CONVERT", "Must be an array.");
      } else {
        for (const auto& r : v->as_array()) {
          auto rid = r.is_string() ? ParseSnowflake(r.as_string()) : std::nullopt;
          auto rit = rid ? g->roles.find(*rid) : g->roles.end();
          if (rit == g->roles.end() || *rid == g->guild.id)
            return call->Fail(ApiError::UnknownRole());
          if (rit->second.position >= top) return call->Fail(ApiError::MissingPermissions());
          if (std::find(roles.begin(), roles.end(), *rid) == roles.end()) roles.push_back(*rid);
        }
        m.roles = std::move(roles);
      }
    }
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  WriteBatch batch;
  batch.push_back(mut::PutMember{m});
  api.Commit(call, std::move(batch),
             [&api, call, m] { call->Reply(200, json::MemberObject(m, api.state())); });
}

void KickMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  {
    std::shared_lock lock(g->mu);
    if (!g->members.count(*uid)) return call->Fail(ApiError::UnknownMember());
    if (!(g->GuildPermissions(call->user->id) & perm::kKickMembers))
      return call->Fail(ApiError::MissingPermissions());
    // The owner cannot be kicked; others only by someone ranked above them.
    if (*uid == g->guild.owner_id ||
        (call->user->id != g->guild.owner_id &&
         g->TopRolePosition(*uid) >= g->TopRolePosition(call->user->id)))
      return call->Fail(ApiError::MissingPermissions());
  }
  WriteBatch batch;
  batch.push_back(mut::DeleteMember{g->guild.id, *uid});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

}  // namespace parley::handlers
