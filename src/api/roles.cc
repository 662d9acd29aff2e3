// Roles and role assignment.
#include <algorithm>
#include <boost/json/serialize.hpp>
#include <map>

#include "api/handlers.h"
#include "model/permissions.h"
#include "wire/serialize.h"

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

// What a role manager may do, read under the guild lock. REQUIRES: g.mu held.
struct Manager {
  uint64_t permissions = 0;  // the caller's guild permissions
  int top = 0;               // the caller's highest role position
  bool owner = false;
  // A role at `position` is below the caller (the owner outranks all).
  bool Outranks(int position) const { return owner || position < top; }
  // `bits` are all held by the caller (no one grants what they lack).
  bool Holds(uint64_t bits) const { return (bits & ~permissions) == 0; }
};

// Fails the call unless the caller has MANAGE_ROLES. REQUIRES: g.mu held.
std::optional<Manager> RoleManager(const GuildState& g, Snowflake user_id) REQUIRES_SHARED(g.mu) {
  Manager m;
  m.permissions = g.GuildPermissions(user_id);
  if (!(m.permissions & perm::kManageRoles)) return std::nullopt;
  m.top = g.TopRolePosition(user_id);
  m.owner = g.guild.owner_id == user_id;
  return m;
}

}  // namespace

void ListRoles(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  bj::array out;
  ReaderLock lock(&g->mu);
  for (const auto& [_, r] : g->roles) out.push_back(json::RoleObject(r));
  call->Reply(200, out);
}

void GetRoleMemberCounts(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  std::map<Snowflake, int> counts;
  ReaderLock lock(&g->mu);
  for (const auto& [id, _] : g->roles)
    if (id != g->id) counts[id] = 0;
  for (const auto& [_, m] : g->members)
    for (Snowflake r : m.roles)
      if (auto it = counts.find(r); it != counts.end()) ++it->second;
  bj::object out;
  for (auto [id, n] : counts) out[std::to_string(id)] = n;
  call->Reply(200, out);
}

void GetRole(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto id = ParseSnowflake(call->params[1]);
  ReaderLock lock(&g->mu);
  auto it = id ? g->roles.find(*id) : g->roles.end();
  if (it == g->roles.end()) return call->Fail(ApiError::UnknownRole());
  call->Reply(200, json::RoleObject(it->second));
}

void CreateRole(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto body = std::make_shared<bj::object>();
  if (!call->ParseBody(body.get())) return;
  Snowflake id = api.ids().Next();
  api.CommitBuilt(call, [g, call, body, id]() -> Built {
    ReaderLock lock(&g->mu);
    auto mgr = RoleManager(*g, call->user->id);
    if (!mgr) return Built::Fail(ApiError::MissingPermissions());
    if (g->roles.size() >= 250)
      return Built::Fail({400, 30005, "Maximum number of guild roles reached (250)", {}});
    Role r;
    r.id = id;
    r.guild_id = g->id;
    r.name = "new role";
    const Role* ev = g->everyone();
    r.permissions = ev ? ev->permissions : 0;
    FormErrors errs;
    ReadRoleFields(*body, &r, &errs);
    if (!errs.empty()) return Built::Fail(errs.ToError());
    if (!mgr->Holds(r.permissions)) return Built::Fail(ApiError::MissingPermissions());
    r.position = 1;  // just above @everyone, as on Discord
    Built b;
    b.status = 200;
    b.body = bj::serialize(json::RoleObject(r));
    b.batch.push_back(mut::PutRole{std::move(r)});
    return b;
  });
}

void PatchRole(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto rid = ParamId(call, 1, ApiError::UnknownRole());
  if (!rid) return;
  auto body = std::make_shared<bj::object>();
  if (!call->ParseBody(body.get())) return;
  api.CommitBuilt(call, [g, call, body, rid = *rid]() -> Built {
    ReaderLock lock(&g->mu);
    auto mgr = RoleManager(*g, call->user->id);
    if (!mgr) return Built::Fail(ApiError::MissingPermissions());
    auto it = g->roles.find(rid);
    if (it == g->roles.end()) return Built::Fail(ApiError::UnknownRole());
    Role r = it->second;
    bool everyone = r.id == r.guild_id;
    if (!everyone && !mgr->Outranks(r.position)) return Built::Fail(ApiError::MissingPermissions());
    FormErrors errs;
    ReadRoleFields(*body, &r, &errs);
    if (everyone) r.name = "@everyone";
    if (auto* v = body->if_contains("position"); v && v->is_int64() && !everyone) {
      int pos = static_cast<int>(std::clamp<int64_t>(v->as_int64(), 1, 1000));
      if (!mgr->Outranks(pos)) return Built::Fail(ApiError::MissingPermissions());
      r.position = pos;
    }
    if (!errs.empty()) return Built::Fail(errs.ToError());
    // Only bits the caller holds may be added (to any role, @everyone too).
    if (!mgr->Holds(r.permissions & ~it->second.permissions))
      return Built::Fail(ApiError::MissingPermissions());
    Built b;
    b.status = 200;
    b.body = bj::serialize(json::RoleObject(r));
    b.batch.push_back(mut::PutRole{std::move(r)});
    return b;
  });
}

void PatchRolePositions(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto body = std::make_shared<bj::array>();
  if (!call->ParseArrayBody(body.get())) return;
  api.CommitBuilt(call, [g, call, body]() -> Built {
    ReaderLock lock(&g->mu);
    auto mgr = RoleManager(*g, call->user->id);
    if (!mgr) return Built::Fail(ApiError::MissingPermissions());
    FormErrors errs;
    std::map<Snowflake, Role> moved;
    for (size_t i = 0; i < body->size(); ++i) {
      auto item = ReadPositionItem((*body)[i], i, &errs);
      if (!item) continue;
      auto it = g->roles.find(item->id);
      if (it == g->roles.end()) return Built::Fail(ApiError::UnknownRole());
      if (!item->position) continue;
      if (it->second.id == g->id) continue;  // @everyone stays at 0
      const int pos = static_cast<int>(std::clamp<int64_t>(*item->position, 1, 1000));
      // Unchanged entries are not checked: libraries send every role
      // (discord.js's setPosition), the caller's own top role among them.
      if (pos == it->second.position) continue;
      // Both where the role is and where it goes must be below the caller.
      if (!mgr->Outranks(it->second.position) || !mgr->Outranks(pos))
        return Built::Fail(ApiError::MissingPermissions());
      Role r = it->second;
      r.position = pos;
      moved[r.id] = std::move(r);
    }
    if (!errs.empty()) return Built::Fail(errs.ToError());
    // Every role, as it will be (Discord replies with the guild's roles).
    bj::array out;
    for (const auto& [id, r] : g->roles) {
      auto m = moved.find(id);
      out.push_back(json::RoleObject(m == moved.end() ? r : m->second));
    }
    Built b;
    b.status = 200;
    b.body = bj::serialize(out);
    for (auto& [_, r] : moved) b.batch.push_back(mut::PutRole{std::move(r)});
    return b;
  });
}

void DeleteRole(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto rid = ParamId(call, 1, ApiError::UnknownRole());
  if (!rid) return;
  api.CommitBuilt(call, [g, call, rid = *rid]() -> Built {
    ReaderLock lock(&g->mu);
    auto mgr = RoleManager(*g, call->user->id);
    if (!mgr) return Built::Fail(ApiError::MissingPermissions());
    auto it = g->roles.find(rid);
    if (it == g->roles.end()) return Built::Fail(ApiError::UnknownRole());
    if (rid == g->id) return Built::Fail({400, 50028, "Invalid Role", {}});
    if (!mgr->Outranks(it->second.position)) return Built::Fail(ApiError::MissingPermissions());
    Built b;
    // The role's channel overwrites go with it (in the store as in State).
    for (const auto& [_, c] : g->channels) {
      if (std::none_of(c.overwrites.begin(), c.overwrites.end(),
                       [&](const Overwrite& o) { return o.type == 0 && o.id == rid; }))
        continue;
      Channel updated = c;
      std::erase_if(updated.overwrites,
                    [&](const Overwrite& o) { return o.type == 0 && o.id == rid; });
      b.batch.push_back(mut::PutChannel{std::move(updated)});
    }
    b.batch.push_back(mut::DeleteRole{g->id, rid});
    return b;
  });
}

namespace {
void ChangeMemberRole(Api& api, const CallPtr& call, bool add) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto uid = ParamId(call, 1, ApiError::UnknownMember());
  if (!uid) return;
  auto rid = ParamId(call, 2, ApiError::UnknownRole());
  if (!rid) return;
  api.CommitBuilt(call, [g, call, add, uid = *uid, rid = *rid]() -> Built {
    ReaderLock lock(&g->mu);
    auto mgr = RoleManager(*g, call->user->id);
    if (!mgr) return Built::Fail(ApiError::MissingPermissions());
    auto mit = g->members.find(uid);
    if (mit == g->members.end()) return Built::Fail(ApiError::UnknownMember());
    auto rit = g->roles.find(rid);
    if (rit == g->roles.end() || rid == g->id) return Built::Fail(ApiError::UnknownRole());
    if (!mgr->Outranks(rit->second.position)) return Built::Fail(ApiError::MissingPermissions());
    Member m = mit->second;
    auto it = std::find(m.roles.begin(), m.roles.end(), rid);
    if (add == (it != m.roles.end())) return Built{};  // nothing to change
    if (add)
      m.roles.push_back(rid);
    else
      m.roles.erase(it);
    Built b;
    b.batch.push_back(mut::PutMember{std::move(m)});
    return b;
  });
}
}  // namespace

void AddMemberRole(Api& api, const CallPtr& call) {
  ChangeMemberRole(api, call, true);
}
void RemoveMemberRole(Api& api, const CallPtr& call) {
  ChangeMemberRole(api, call, false);
}

}  // namespace parley::handlers
