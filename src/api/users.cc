// Users: the caller, other users, the caller's guilds.
#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <functional>
#include <mutex>

#include "api/handlers.h"
#include "util/time_format.h"
#include "util/visible_text.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

void GetCurrentUser(Api&, const CallPtr& call) {
  call->Reply(200, json::CurrentUserObject(*call->user));
}

namespace {

// Checks `password` against the caller's on the blocking pool (argon2id
// takes tens of milliseconds), then runs `then` there; a wrong one is
// Discord's 50035 PASSWORD_DOES_NOT_MATCH.
void WithPasswordChecked(Api& api, const CallPtr& call, const bj::object& body,
                         std::function<void()> then) {
  auto* v = body.if_contains("password");
  if (call->user->bot || call->user->password_hash.empty()) {
    return call->Fail(ApiError::MissingAccess());
  }
  if (!v || !v->is_string()) {
    FormErrors e;
    e.Add("password", "BASE_TYPE_REQUIRED", "This field is required");
    return call->Fail(e.ToError());
  }
  boost::asio::post(api.blocking(),
                    [call, password = std::string(v->as_string()), then = std::move(then)] {
                      if (!VerifyPassword(call->user->password_hash, password)) {
                        FormErrors e;
                        e.Add("password", "PASSWORD_DOES_NOT_MATCH", "Password does not match.");
                        return call->Fail(e.ToError());
                      }
                      then();
                    });
}

}  // namespace

void PatchCurrentUser(Api& api, const CallPtr& call) {
  bj::object body;
  if (!call->ParseBody(&body)) return;
  User u = *call->user;
  FormErrors errs;
  // A new password (with the current one, as Discord asks): every token
  // of the user is revoked (their gateway sessions close with 4004) and
  // the reply carries the one new token, as Discord's does.
  std::string new_password;
  if (auto* v = body.if_contains("new_password")) {
    if (!v->is_string() || v->as_string().size() < 8 || v->as_string().size() > 256)
      errs.Add("new_password", "PASSWORD_BAD_LENGTH", "Must be between 8 and 256 in length.");
    else
      new_password = std::string(v->as_string());
  }
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
  // Commits the user (and a new password's token change) and replies; a
  // name taken meanwhile is USERNAME_ALREADY_TAKEN.
  auto commit = [&api, call](WriteBatch batch, bj::object reply) {
    api.CommitWithStatus(std::move(batch), [call, reply = bj::serialize(reply)](Status s) mutable {
      if (s.IsConflict()) {
        FormErrors e;
        e.Add("username", "USERNAME_ALREADY_TAKEN", "Username is unavailable.");
        return call->Fail(e.ToError());
      }
      if (!s.ok()) return call->Fail(ApiError::Internal());
      call->Reply(200, std::move(reply));
    });
  };
  if (!new_password.empty()) {
    return WithPasswordChecked(api, call, body, [&api, call, u, new_password, commit]() mutable {
      if (!HashPassword(new_password, api.options().password_cost, &u.password_hash).ok())
        return call->Fail(ApiError::Internal());
      std::string token = NewToken(u.id);
      bj::object reply = json::CurrentUserObject(u);
      reply["token"] = token;
      WriteBatch batch;
      batch.push_back(mut::PutUser{u});
      batch.push_back(mut::DeleteUserSessions{u.id});
      batch.push_back(mut::PutSession{Session{HashToken(token), u.id, NowMs()}});
      commit(std::move(batch), std::move(reply));
    });
  }
  WriteBatch batch;
  batch.push_back(mut::PutUser{u});
  commit(std::move(batch), json::CurrentUserObject(u));
}

// POST /users/@me/delete {password} (Discord's account deletion): the user
// leaves every guild (GUILD_MEMBER_REMOVE to the others), every token is
// revoked (gateway sessions close with 4004), and the account stays only as
// "Deleted User" (its messages keep their author; nobody can log in as it).
// As on Discord, an owner must first transfer or delete their guilds
// (40011).
void DeleteCurrentUser(Api& api, const CallPtr& call) {
  bj::object body;
  if (!call->ParseBody(&body)) return;
  const Snowflake uid = call->user->id;
  for (Snowflake g : api.state().GuildsOfUser(uid)) {
    auto gs = api.state().GetGuild(g);
    if (!gs) continue;
    ReaderLock lock(&gs->mu);
    if (gs->guild.owner_id == uid)
      return call->Fail(
          ApiError{400,
                   40011,
                   "You must transfer ownership of any owned guilds before deleting your account",
                   {}});
  }
  WithPasswordChecked(api, call, body, [&api, call, uid] {
    User gone = *call->user;
    gone.username = fmt::format("deleted_user_{:x}", uid);
    gone.global_name = "Deleted User";
    gone.password_hash.clear();
    WriteBatch batch;
    for (Snowflake g : api.state().GuildsOfUser(uid)) batch.push_back(mut::DeleteMember{g, uid});
    batch.push_back(mut::PutUser{gone});
    batch.push_back(mut::DeleteUserSessions{uid});
    api.CommitWithStatus(std::move(batch), [call](Status s) {
      if (!s.ok()) return call->Fail(ApiError::Internal());
      call->NoContent();
    });
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
  // Discord sends the approximate counts only when asked.
  const bool with_counts = call->QueryParam("with_counts") == "true";
  bj::array out;
  for (Snowflake gid : api.state().GuildsOfUser(call->user->id)) {
    if (gid <= after || (before && gid >= before)) continue;
    if (static_cast<int>(out.size()) >= limit) break;
    auto g = api.state().GetGuild(gid);
    if (!g) continue;
    ReaderLock lock(&g->mu);
    bj::object o = json::PartialGuildObject(*g, call->user->id);
    if (with_counts)
      o["approximate_presence_count"] = 0;
    else
      o.erase("approximate_member_count");
    out.push_back(std::move(o));
  }
  call->Reply(200, out);
}

void LeaveGuild(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  {
    ReaderLock lock(&g->mu);
    if (g->guild.owner_id == call->user->id)
      return call->Fail({400,
                         50055,
                         "Invalid Guild: the owner cannot leave; delete the guild or transfer it",
                         {}});
  }
  WriteBatch batch;
  batch.push_back(mut::DeleteMember{g->id, call->user->id});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

}  // namespace parley::handlers
