// Guild members: list, read, add (bots), modify, kick.
#include <boost/beast/core/string.hpp>
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "model/permissions.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

void ListMembers(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  // A privileged list: a bot needs the GUILD_MEMBERS intent granted to its
  // application (flag 1<<14, or 1<<15 limited), as on Discord.
  if (call->user->bot) {
    auto app = api.state().GetApplication(call->user->id);
    if (!app || !(app->flags & ((1ull << 14) | (1ull << 15))))
      return call->Fail(ApiError::MissingAccess());
  }
  FormErrors errs;
  const int limit = QueryLimit(call, 1, 1000, &errs);
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
  ReaderLock lock(&g->mu);
  for (auto it = g->members.upper_bound(after);
       it != g->members.end() && static_cast<int>(out.size()) < limit; ++it)
    out.push_back(json::MemberObject(it->second, api.state()));
  call->Reply(200, out);
}

// GET /guilds/{id}/members/search?query=&limit=: members whose username,
// display name or nickname starts with `query`, ignoring ASCII case (as
// Discord), ordered by user id; limit 1..1000, default 1.
void SearchMembers(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  FormErrors errs;
  if (!call->HasQueryParam("query"))
    errs.Add("query", "BASE_TYPE_REQUIRED", "This field is required");
  const int limit = QueryLimit(call, 1, 1000, &errs);
  if (!errs.empty()) return call->Fail(errs.ToError());
  const std::string query = call->QueryParam("query");
  auto matches = [&query](std::string_view name) {
    return !name.empty() && name.size() >= query.size() &&
           boost::beast::iequals(name.substr(0, query.size()), query);
  };
  bj::array out;
  ReaderLock lock(&g->mu);
  for (const auto& [uid, m] : g->members) {
    if (static_cast<int>(out.size()) >= limit) break;
    auto u = api.state().GetUser(uid);
    bool hit = matches(m.nick) || (u && (matches(u->username) || matches(u->global_name)));
    if (hit) out.push_back(json::MemberObject(m, api.state()));
  }
  call->Reply(200, out);
}

void GetMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  ReaderLock lock(&g->mu);
  auto it = g->members.find(*uid);
  if (it == g->members.end()) return call->Fail(ApiError::UnknownMember());
  call->Reply(200, json::MemberObject(it->second, api.state()));
}

// GET /users/@me/guilds/{id}/member: the caller's own member. Discord
// serves it to OAuth2 (Bearer) tokens only, never to bots.
void GetCurrentUserGuildMember(Api& api, const CallPtr& call) {
  if (call->user->bot) return call->Fail(ApiError::MissingAccess());
  auto g = MemberGuild(api, call);
  if (!g) return;
  ReaderLock lock(&g->mu);
  auto it = g->members.find(call->user->id);
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
  if (!user->bot)
    return call->Fail(
        {403, 50025, "Only bots can be added directly; users join through an invite", {}});
  Member m{g->id, *uid, "", {}, NowMs()};
  api.CommitBuilt(call, [&api, g, call, m]() -> Built {
    ReaderLock lock(&g->mu);
    if (!(g->GuildPermissions(call->user->id) & perm::kManageGuild))
      return Built::Fail(ApiError::MissingPermissions());
    if (g->members.count(m.user_id)) return Built{};  // already a member: 204
    Built b;
    b.batch.push_back(mut::PutMember{m});
    b.reply = [&api, call, m] { call->Reply(201, json::MemberObject(m, api.state())); };
    return b;
  });
}

void PatchMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  // "@me" is the caller (discord.js sets the bot's nickname that way), and
  // so is Discord's older PATCH /guilds/{id}/members/@me/nick (eris's
  // editNickname): one parameter, only `nick`, and the reply is {nick}.
  const bool nick_route = call->params.size() == 1;
  std::optional<Snowflake> uid = nick_route || call->params[1] == "@me"
                                     ? std::optional(call->user->id)
                                     : ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  auto body = std::make_shared<bj::object>();
  if (!call->ParseBody(body.get())) return;
  if (nick_route) body->erase("roles");
  api.CommitBuilt(call, [&api, g, call, body, uid = *uid, nick_route]() -> Built {
    ReaderLock lock(&g->mu);
    auto it = g->members.find(uid);
    if (it == g->members.end()) return Built::Fail(ApiError::UnknownMember());
    Member m = it->second;
    const Snowflake me = call->user->id;
    const bool self = uid == me;
    const bool owner = g->guild.owner_id == me;
    const uint64_t p = g->GuildPermissions(me);
    const int top = g->TopRolePosition(me);
    // Others may be changed only by someone ranked above them.
    const bool above_target = owner || g->TopRolePosition(uid) < top;
    FormErrors errs;
    bool changed = false;
    if (auto* v = body->if_contains("nick")) {
      if (!(p & (self ? perm::kChangeNickname : perm::kManageNicknames)) ||
          (!self && !above_target))
        return Built::Fail(ApiError::MissingPermissions());
      if (v->is_null()) {
        m.nick.clear();
      } else if (v->is_string() && v->as_string().size() <= 32 * 4) {
        m.nick = std::string(v->as_string());
      } else {
        errs.Add("nick", "BASE_TYPE_MAX_LENGTH", "Must be 32 or fewer in length.");
      }
      changed = true;
    }
    if (auto* v = body->if_contains("roles"); v && !v->is_null()) {
      if (!(p & perm::kManageRoles) || (!self && !above_target))
        return Built::Fail(ApiError::MissingPermissions());
      if (!v->is_array()) {
        errs.Add("roles", "LIST_TYPE_CONVERT", "Must be an array.");
      } else {
        std::vector<Snowflake> roles;
        for (const auto& r : v->as_array()) {
          auto rid = r.is_string() ? ParseSnowflake(r.as_string()) : std::nullopt;
          if (!rid || *rid == g->id || !g->roles.count(*rid))
            return Built::Fail(ApiError::UnknownRole());
          if (std::find(roles.begin(), roles.end(), *rid) == roles.end()) roles.push_back(*rid);
        }
        // Every role added or removed must be below the caller.
        auto outranked = [&](Snowflake rid) {
          g->mu.AssertReaderHeld();  // held by the enclosing scope
          return owner || g->roles.at(rid).position < top;
        };
        for (Snowflake rid : roles)
          if (std::find(m.roles.begin(), m.roles.end(), rid) == m.roles.end() && !outranked(rid))
            return Built::Fail(ApiError::MissingPermissions());
        for (Snowflake rid : m.roles)
          if (std::find(roles.begin(), roles.end(), rid) == roles.end() && g->roles.count(rid) &&
              !outranked(rid))
            return Built::Fail(ApiError::MissingPermissions());
        m.roles = std::move(roles);
        changed = true;
      }
    }
    if (!errs.empty()) return Built::Fail(errs.ToError());
    Built b;
    if (changed) b.batch.push_back(mut::PutMember{m});
    b.reply = [&api, call, m, nick_route] {
      if (nick_route)
        return call->Reply(
            200, bj::object{{"nick", m.nick.empty() ? bj::value(nullptr) : bj::value(m.nick)}});
      call->Reply(200, json::MemberObject(m, api.state()));
    };
    return b;
  });
}

void KickMember(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  {
    ReaderLock lock(&g->mu);
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
  batch.push_back(mut::DeleteMember{g->id, *uid});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

}  // namespace parley::handlers
