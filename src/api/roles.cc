// Roles and role assignment.
#include <algorithm>
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "api/serialize.h"
#include "model/permissions.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

// Reads name/permissions/color/hoist/mentionable into `r`.
void ReadRoleFields(const bj::object& body, Role* r, FormErrors* errs) {
  if (auto* v = body.if_contains("name"); v && !v->is_null()) {
    if (!v->is_string() || v->as_string().empty() || v->as_string().size() > 100 * 4)
      errs->Add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.");
    else
      r->name = std::string(v->as_string());
  }
  if (auto* v = body.if_contains("permissions"); v && !v->is_null()) {
    std::optional<uint64_t> bits;
    if (v->is_string())
      bits = ParseSnowflake(v->as_string());
    else if (v->is_int64() && v->as_int64() >= 0)
      bits = static_cast<uint64_t>(v->as_int64());
    if (!bits || *bits > perm::kAll)
      errs->Add("permissions", "NUMBER_TYPE_COERCE", "Value is not a permission set.");
    else
      r->permissions = *bits;
  }
  if (auto* v = body.if_contains("color"); v && !v->is_null()) {
    if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > 0xFFFFFF)
      errs->Add("color", "NUMBER_TYPE_MAX", "Must be between 0 and 16777215.");
    else
      r->color = static_cast<uint32_t>(v->as_int64());
  }
  if (auto* v = body.if_contains("hoist"); v && v->is_bool()) r->hoist = v->as_bool();
  if (auto* v = body.if_contains("mentionable"); v && v->is_bool()) r->mentionable = v->as_bool();
}

// The guild, if the caller has MANAGE_ROLES there. Fills `top` with the
// caller's highest role position.
std::shared_ptr<GuildState> RoleManager(Api& api, const CallPtr& call, int* top) {
  auto g = MemberGuild(api, call);
  if (!g) return nullptr;
  std::shared_lock lock(g->mu);
  if (!(g->GuildPermissions(call->user->id) & perm::kManageRoles)) {
    call->Fail(ApiError::MissingPermissions());
    return nullptr;
  }
  *top = g->TopRolePosition(call->user->id);
  return g;
}

}  // namespace

void ListRoles(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  bj::array out;
  std::shared_lock lock(g->mu);
  for (const auto& [_, r] : g->roles) out.push_back(json::RoleObject(r));
  call->Reply(200, out);
}

void CreateRole(Api& api, const CallPtr& call) {
  int top = 0;
  auto g = RoleManager(api, call, &top);
  if (!g) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  Role r;
  r.guild_id = g->guild.id;
  r.name = "new role";
  {
    std::shared_lock lock(g->mu);
    const Role* ev = g->everyone();
    r.permissions = ev ? ev->permissions : 0;
    if (g->roles.size() >= 250)
      return call->Fail({400, 30005, "Maximum number of guild roles reached (250)", {}});
  }
  FormErrors errs;
  ReadRoleFields(body, &r, &errs);
  if (!errs.empty()) return call->Fail(errs.ToError());
  r.id = api.ids().Next();
  r.position = 1;  // just above @everyone, as on Discord
  std::string reply = bj::serialize(json::RoleObject(r));
  WriteBatch batch;
  batch.push_back(mut::PutRole{r});
  api.Commit(call, std::move(batch),
             [call, reply = std::move(reply)]() mutable { call->Reply(200, std::move(reply)); });
}

void PatchRole(Api& api, const CallPtr& call) {
  int top = 0;
  auto g = RoleManager(api, call, &top);
  if (!g) return;
  auto rid = ParamId(call, 1, ApiError::UnknownRole());
  if (!rid) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  Role r;
  {
    std::shared_lock lock(g->mu);
    auto it = g->roles.find(*rid);
    if (it == g->roles.end()) return call->Fail(ApiError::UnknownRole());
    r = it->second;
  }
  if (r.id != r.guild_id && r.position >= top) return call->Fail(ApiError::MissingPermissions());
  FormErrors errs;
  ReadRoleFields(body, &r, &errs);
  if (r.id == r.guild_id) r.name = "@everyone";
  if (auto* v = body.if_contains("position"); v && v->is_int64() && r.id != r.guild_id)
    r.position = static_cast<int>(std::clamp<int64_t>(v->as_int64(), 1, 1000));
  if (!errs.empty()) return call->Fail(errs.ToError());
  std::string reply = bj::serialize(json::RoleObject(r));
  WriteBatch batch;
  batch.push_back(mut::PutRole{r});
  api.Commit(call, std::move(batch),
             [call, reply = std::move(reply)]() mutable { call->Reply(200, std::move(reply)); });
}

void DeleteRole(Api& api, const CallPtr& call) {
  int top = 0;
  auto g = RoleManager(api, call, &top);
  if (!g) return;
  auto rid = ParamId(call, 1, ApiError::UnknownRole());
  if (!rid) return;
  {
    std::shared_lock lock(g->mu);
    auto it = g->roles.find(*rid);
    if (it == g->roles.end()) return call->Fail(ApiError::UnknownRole());
    if (*rid == g->guild.id) return call->Fail({400, 50028, "Invalid Role", {}});
    if (it->second.position >= top) return call->Fail(ApiError::MissingPermissions());
  }
  WriteBatch batch;
  batch.push_back(mut::DeleteRole{g->guild.id, *rid});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

namespace {
void ChangeMemberRole(Api& api, const CallPtr& call, bool add) {
  int top = 0;
  auto g = RoleManager(api, call, &top);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  auto rid = ParamId(call, 2, ApiError::UnknownRole());
  if (!rid) return;
  Member m;
  {
    std::shared_lock lock(g->mu);
    auto mit = g->members.find(*uid);
    if (mit == g->members.end()) return call->Fail(ApiError::UnknownMember());
    auto rit = g->roles.find(*rid);
    if (rit == g->roles.end() || *rid == g->guild.id) return call->Fail(ApiError::UnknownRole());
    if (rit->second.position >= top) return call->Fail(ApiError::MissingPermissions());
    m = mit->second;
  }
  auto it = std::find(m.roles.begin(), m.roles.end(), *rid);
  if (add == (it != m.roles.end())) return call->NoContent();  // nothing to change
  if (add)
    m.roles.push_back(*rid);
  else
    m.roles.erase(it);
  WriteBatch batch;
  batch.push_back(mut::PutMember{std::move(m)});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}
}  // namespace

void AddMemberRole(Api& api, const CallPtr& call) {
  ChangeMemberRole(api, call, true);
}
void RemoveMemberRole(Api& api, const CallPtr& call) {
  ChangeMemberRole(api, call, false);
}

}  // namespace parley::handlers
