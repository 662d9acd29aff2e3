// Users: the caller, other users, the caller's guilds.
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "util/visible_text.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

void GetCurrentUser(Api&, const CallPtr& call) {
  call->Reply(200, json::CurrentUserObject(*call->user));
}

void PatchCurrentUser(Api& api, const CallPtr& call) {
  bj::object body;
  if (!call->ParseBody(&body)) return;
  User u = *call->user;
  FormErrors errs;
  if (auto* v = body.if_contains("global_name")) {
    if (v->is_null()) {
      u.global_name.clear();
    } else if (!v->is_string() || v->as_string().size() > 32 * 4) {
      errs.Add("global_name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.");
    } else if (!IsVisibleText(v->as_string())) {
      errs.Add("global_name", "GLOBAL_NAME_INVALID_CHARACTERS",
               "Cannot contain control, bidirectional or invisible characters.");
    } else {
      u.global_name = std::string(v->as_string());
    }
  }
  if (body.contains("username")) {
    std::string name;
    CheckUsername(body, &name, &errs, "username",
                  u.bot ? NameKind::kApplication : NameKind::kUsername);
    auto other = name.empty() ? std::nullopt : api.state().UserIdByName(ToLower(name));
    if (other && *other != u.id)
      errs.Add("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.");
    if (!name.empty()) u.username = name;
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  std::string reply = bj::serialize(json::CurrentUserObject(u));
  WriteBatch batch;
  batch.push_back(mut::PutUser{u});
  api.CommitWithStatus(std::move(batch), [call, reply = std::move(reply)](Status s) mutable {
    if (s.IsConflict()) {
      FormErrors e;
      e.Add("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.");
      return call->Fail(e.ToError());
    }
    if (!s.ok()) return call->Fail(ApiError::Internal());
    call->Reply(200, std::move(reply));
  });
}

void GetUser(Api& api, const CallPtr& call) {
  auto id = ParamId(call, 0, ApiError::UnknownUser());
  if (!id) return;
  auto u = api.state().GetUser(*id);
  if (!u) return call->Fail(ApiError::UnknownUser());
  call->Reply(200, json::UserObject(*u));
}

void GetCurrentUserGuilds(Api& api, const CallPtr& call) {
  // ?before, ?after, ?limit (1..200, default 200) as Discord.
  Snowflake before = 0, after = 0;
  int limit = 200;
  if (call->HasQueryParam("before"))
    before = ParseSnowflake(call->QueryParam("before")).value_or(0);
  if (call->HasQueryParam("after")) after = ParseSnowflake(call->QueryParam("after")).value_or(0);
  if (call->HasQueryParam("limit")) {
    try {
      limit = std::stoi(call->QueryParam("limit"));
    } catch (...) {
      limit = 0;
    }
    if (limit < 1 || limit > 200) {
      FormErrors e;
      e.Add("limit", "NUMBER_TYPE_MAX", "Must be between 1 and 200.");
      return call->Fail(e.ToError());
    }
  }
  bj::array out;
  for (Snowflake gid : api.state().GuildsOfUser(call->user->id)) {
    if (gid <= after || (before && gid >= before)) continue;
    if (static_cast<int>(out.size()) >= limit) break;
    auto g = api.state().GetGuild(gid);
    if (!g) continue;
    std::shared_lock lock(g->mu);
    out.push_back(json::PartialGuildObject(*g, call->user->id));
  }
  call->Reply(200, out);
}

void LeaveGuild(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  {
    std::shared_lock lock(g->mu);
    if (g->guild.owner_id == call->user->id)
      return call->Fail({400,
                         50055,
                         "Invalid Guild: the owner cannot leave; delete the guild or transfer it",
                         {}});
  }
  WriteBatch batch;
  batch.push_back(mut::DeleteMember{g->guild.id, call->user->id});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

}  // namespace parley::handlers
