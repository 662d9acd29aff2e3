#include "events/event_builder.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <map>
#include <mutex>
#include <set>

#include "events/guild_payloads.h"
#include "model/permissions.h"
#include "util/json_writer.h"
#include "util/time_format.h"
#include "wire/intents.h"
#include "wire/serialize.h"

namespace parley::events {

namespace bj = boost::json;

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::shared_ptr<Event> GuildEvent(std::string_view type, Snowflake guild_id, uint64_t intent,
                                  std::string_view d) {
  auto e = std::make_shared<Event>();
  e->target = Event::Target::kGuild;
  e->guild_id = guild_id;
  e->intent = intent;
  e->frame = MakeDispatch(type, d);
  return e;
}

// MESSAGE_CREATE / MESSAGE_UPDATE: the message as REST shows it, plus
// guild_id and the author's member.
std::shared_ptr<Event> MessageEvent(const State& state, std::string_view type, const Message& m,
                                    const std::vector<Message>& referenced, bool with_member) {
  std::string d;
  d.reserve(512 + m.content.size() + m.embeds.size());
  // Where the user-written part is, for the MESSAGE_CONTENT rule.
  json::ContentSpan span;
  json::AppendMessageJson(&d, m, state, referenced.empty() ? nullptr : &referenced.front(), &span);
  d.pop_back();  // '}'
  d.append(",\"guild_id\":");
  AppendJsonId(&d, m.guild_id);
  if (with_member) {
    if (auto g = state.GetGuild(m.guild_id)) {
      ReaderLock lock(&g->mu);
      auto it = g->members.find(m.author_id);
      if (it != g->members.end()) {
        d.append(",\"member\":");
        AppendPartialMemberJson(&d, it->second);
      }
    }
  }
  d.push_back('}');
  auto e = GuildEvent(type, m.guild_id, intent::kGuildMessages, d);
  e->channel_id = m.channel_id;
  e->permission = perm::kViewChannel;
  e->has_content = true;
  // Offsets into frame->tail, which is ',"op":0,"d":' + d + '}'.
  const size_t shift = e->frame->tail.size() - d.size() - 1;
  e->content_begin = span.begin + shift;
  e->content_end = span.end + shift;
  e->content_stripped = std::move(span.stripped);
  e->author_id = m.author_id;
  std::vector<Snowflake> roles;
  json::ScanMentions(m.content, &e->mentions, &roles);
  return e;
}

std::string ChannelJson(const State& state, const Channel& c) {
  Snowflake last = 0;
  if (auto g = state.GetGuild(c.guild_id)) {
    ReaderLock lock(&g->mu);
    auto it = g->last_message_ids.find(c.id);
    if (it != g->last_message_ids.end()) last = it->second;
  }
  return bj::serialize(json::ChannelObject(c, last));
}

std::string InviteJson(const State& state, const Invite& inv) {
  bj::object o{{"channel_id", json::Id(inv.channel_id)},
               {"guild_id", json::Id(inv.guild_id)},
               {"code", inv.code},
               {"created_at", FormatIso8601(inv.created_ms)},
               {"max_age", inv.max_age},
               {"max_uses", inv.max_uses},
               {"temporary", inv.temporary},
               {"uses", inv.uses}};
  if (auto u = state.GetUser(inv.inviter_id)) o["inviter"] = json::UserObject(*u);
  return bj::serialize(o);
}

// ---- Channel visibility (CommitPlan::views) ----

// The bits whose change can change VIEW_CHANNEL: in a role's permissions,
// ADMINISTRATOR too; in an overwrite, VIEW_CHANNEL alone (ApplyOverwrites
// decides ADMINISTRATOR from the guild-level permissions only).
constexpr uint64_t kViewBits = perm::kViewChannel | perm::kAdministrator;

// Whether a member with guild-level permissions `base` may view `c`, as
// GuildState::ChannelPermissions computes it (`base` computed once per
// member). REQUIRES: g.mu held.
bool MayView(const GuildState& g, uint64_t base, const Member& m, const Channel& c)
    REQUIRES_SHARED(g.mu) {
  return (ApplyOverwrites(base, g.id, m.user_id, m.roles, c.overwrites) & perm::kViewChannel) != 0;
}

// What a batch may change of one guild's channel visibility.
struct ViewScope {
  bool all_members = false;                             // x every channel
  std::set<Snowflake> members;                          // x every channel
  std::set<Snowflake> channels_of_all;                  // every member x these
  std::map<Snowflake, std::set<Snowflake>> of_channel;  // these members x the channel
};

// The members who hold `role_id`, into *out; *all for @everyone.
// REQUIRES: g.mu held.
void AddRoleMembers(const GuildState& g, Snowflake role_id, bool* all, std::set<Snowflake>* out)
    REQUIRES_SHARED(g.mu) {
  if (role_id == g.id) {
    *all = true;
    return;
  }
  for (const auto& [uid, m] : g.members)
    if (std::find(m.roles.begin(), m.roles.end(), role_id) != m.roles.end()) out->insert(uid);
}

const Overwrite* FindOverwrite(const std::vector<Overwrite>& v, const Overwrite& o) {
  for (const Overwrite& x : v)
    if (x.type == o.type && x.id == o.id) return &x;
  return nullptr;
}

// The overwrites of `before` and `after` whose VIEW_CHANNEL bits differ
// (added, removed or changed); one may appear twice.
std::vector<Overwrite> ViewOverwriteChanges(const std::vector<Overwrite>& before,
                                            const std::vector<Overwrite>& after) {
  std::vector<Overwrite> out;
  auto view = [](const Overwrite* o) -> uint64_t {
    if (o == nullptr) return 0;
    return (o->allow & perm::kViewChannel) | ((o->deny & perm::kViewChannel) << 1);
  };
  for (const Overwrite& o : before)
    if (view(&o) != view(FindOverwrite(after, o))) out.push_back(o);
  for (const Overwrite& o : after)
    if (view(&o) != view(FindOverwrite(before, o))) out.push_back(o);
  return out;
}

// Adds to `scopes` what mutation `mu` may change. REQUIRES: before State::Apply.
void AddViewScope(const State& state, const Mutation& mu, std::map<Snowflake, ViewScope>* scopes) {
  std::visit(Overloaded{
                 [&](const mut::PutGuild& m) {
                   auto g = state.GetGuild(m.guild.id);
                   if (!g) return;
                   ReaderLock lock(&g->mu);
                   if (g->guild.owner_id == m.guild.owner_id) return;
                   ViewScope& s = (*scopes)[m.guild.id];
                   s.members.insert(g->guild.owner_id);
                   s.members.insert(m.guild.owner_id);
                 },
                 [&](const mut::PutChannel& m) {
                   auto g = state.GetGuild(m.channel.guild_id);
                   if (!g) return;
                   ReaderLock lock(&g->mu);
                   auto it = g->channels.find(m.channel.id);
                   if (it == g->channels.end()) return;  // new: its own CHANNEL_CREATE
                   std::vector<Overwrite> changed =
                       ViewOverwriteChanges(it->second.overwrites, m.channel.overwrites);
                   if (changed.empty()) return;
                   ViewScope& s = (*scopes)[m.channel.guild_id];
                   bool all = false;
                   std::set<Snowflake>& users = s.of_channel[m.channel.id];
                   for (const Overwrite& o : changed) {
                     if (o.type == 1) {
                       users.insert(o.id);
                     } else {
                       AddRoleMembers(*g, o.id, &all, &users);
                     }
                   }
                   if (all) s.channels_of_all.insert(m.channel.id);
                 },
                 [&](const mut::PutRole& m) {
                   auto g = state.GetGuild(m.role.guild_id);
                   if (!g) return;
                   ReaderLock lock(&g->mu);
                   auto it = g->roles.find(m.role.id);
                   if (it == g->roles.end()) return;  // new: nobody holds it yet
                   if (((it->second.permissions ^ m.role.permissions) & kViewBits) == 0) return;
                   ViewScope& s = (*scopes)[m.role.guild_id];
                   AddRoleMembers(*g, m.role.id, &s.all_members, &s.members);
                 },
                 [&](const mut::DeleteRole& m) {
                   auto g = state.GetGuild(m.guild_id);
                   if (!g) return;
                   ReaderLock lock(&g->mu);
                   auto it = g->roles.find(m.role_id);
                   if (it == g->roles.end()) return;
                   // Its permissions and its overwrites (State drops them with it).
                   bool matters = (it->second.permissions & kViewBits) != 0;
                   for (const auto& [_, c] : g->channels)
                     for (const Overwrite& o : c.overwrites)
                       if (o.type == 0 && o.id == m.role_id &&
                           ((o.allow | o.deny) & perm::kViewChannel) != 0)
                         matters = true;
                   if (!matters) return;
                   ViewScope& s = (*scopes)[m.guild_id];
                   AddRoleMembers(*g, m.role_id, &s.all_members, &s.members);
                 },
                 [&](const mut::PutMember& m) {
                   auto g = state.GetGuild(m.member.guild_id);
                   if (!g) return;
                   ReaderLock lock(&g->mu);
                   auto it = g->members.find(m.member.user_id);
                   if (it == g->members.end()) return;  // joins: GUILD_CREATE
                   std::vector<Snowflake> a = it->second.roles, b = m.member.roles;
                   std::sort(a.begin(), a.end());
                   std::sort(b.begin(), b.end());
                   if (a == b) return;  // a nick
                   (*scopes)[m.member.guild_id].members.insert(m.member.user_id);
                 },
                 [&](const auto&) {},
             },
             mu);
}

// Fills v.before for v.users x v.channels. REQUIRES: g.mu held; every
// user a member.
void FillBefore(const GuildState& g, CommitPlan::ViewCheck* v) REQUIRES_SHARED(g.mu) {
  const size_t n = v->channels.size();
  v->before.assign(v->users.size() * n, false);
  for (size_t u = 0; u < v->users.size(); ++u) {
    const Member& m = g.members.at(v->users[u]);
    const uint64_t base = g.GuildPermissions(m.user_id);
    for (size_t c = 0; c < n; ++c) v->before[u * n + c] = MayView(g, base, m, v->channels[c]);
  }
}

// The checks of one guild's scope (disjoint: each (member, channel) once).
// REQUIRES: g.mu held.
void AddViewChecks(const GuildState& g, const ViewScope& scope,
                   std::vector<CommitPlan::ViewCheck>* out) REQUIRES_SHARED(g.mu) {
  const Snowflake gid = g.id;
  // Members x every channel.
  std::vector<Snowflake> whole;
  if (scope.all_members) {
    for (const auto& [uid, _] : g.members) whole.push_back(uid);
  } else {
    for (Snowflake uid : scope.members)
      if (g.members.count(uid)) whole.push_back(uid);
  }
  if (!whole.empty() && !g.channels.empty()) {
    CommitPlan::ViewCheck& v = out->emplace_back();
    v.guild_id = gid;
    v.users = whole;
    for (const auto& [_, c] : g.channels) v.channels.push_back(c);
    FillBefore(g, &v);
  }
  if (scope.all_members) return;
  auto in_whole = [&](Snowflake uid) {
    return std::binary_search(whole.begin(), whole.end(), uid);
  };
  // Every other member x the channels whose @everyone overwrite changed.
  if (!scope.channels_of_all.empty()) {
    CommitPlan::ViewCheck v;
    v.guild_id = gid;
    for (const auto& [uid, _] : g.members)
      if (!in_whole(uid)) v.users.push_back(uid);
    for (Snowflake cid : scope.channels_of_all) v.channels.push_back(g.channels.at(cid));
    if (!v.users.empty()) {
      FillBefore(g, &v);
      out->push_back(std::move(v));
    }
  }
  // The members named by a channel's changed overwrites x that channel.
  for (const auto& [cid, users] : scope.of_channel) {
    if (scope.channels_of_all.count(cid)) continue;
    CommitPlan::ViewCheck v;
    v.guild_id = gid;
    for (Snowflake uid : users)
      if (g.members.count(uid) && !in_whole(uid)) v.users.push_back(uid);
    if (v.users.empty()) continue;
    v.channels.push_back(g.channels.at(cid));
    FillBefore(g, &v);
    out->push_back(std::move(v));
  }
}

void PlanViews(const State& state, const WriteBatch& batch, CommitPlan* plan) {
  std::map<Snowflake, ViewScope> scopes;
  for (const Mutation& mu : batch) AddViewScope(state, mu, &scopes);
  for (const auto& [gid, scope] : scopes) {
    auto g = state.GetGuild(gid);
    if (!g) continue;
    ReaderLock lock(&g->mu);
    AddViewChecks(*g, scope, &plan->views);
  }
}

// `d` of a CHANNEL_CREATE / CHANNEL_DELETE. REQUIRES: g.mu held.
std::string ChannelJsonLocked(const GuildState& g, const Channel& c) REQUIRES_SHARED(g.mu) {
  auto last = g.last_message_ids.find(c.id);
  return bj::serialize(json::ChannelObject(c, last == g.last_message_ids.end() ? 0 : last->second));
}

// CHANNEL_CREATE to each member of plan.views who may view a channel now
// and could not before, CHANNEL_DELETE (the channel as it was) to each who
// could and may not now; the same cost as PlanViews. `updates`: this
// batch's CHANNEL_UPDATEs by channel, which leave those members out.
// REQUIRES: right after State::Apply.
void BuildViewEvents(const State& state, const CommitPlan& plan,
                     const std::multimap<Snowflake, std::shared_ptr<Event>>& updates,
                     EventBatch* out) {
  for (const CommitPlan::ViewCheck& v : plan.views) {
    auto g = state.GetGuild(v.guild_id);
    if (!g) continue;  // deleted: GUILD_DELETE
    ReaderLock lock(&g->mu);
    const size_t n = v.channels.size();
    std::vector<const Channel*> now(n, nullptr);  // null: deleted in the batch
    for (size_t c = 0; c < n; ++c) {
      auto it = g->channels.find(v.channels[c].id);
      if (it != g->channels.end()) now[c] = &it->second;
    }
    std::vector<FramePtr> created(n), deleted(n);  // one frame per channel
    for (size_t u = 0; u < v.users.size(); ++u) {
      auto mit = g->members.find(v.users[u]);
      if (mit == g->members.end()) continue;  // left: GUILD_DELETE
      const Member& m = mit->second;
      const uint64_t base = g->GuildPermissions(m.user_id);
      for (size_t c = 0; c < n; ++c) {
        if (now[c] == nullptr) continue;
        const bool after = MayView(*g, base, m, *now[c]);
        if (after == v.before[u * n + c]) continue;
        FramePtr& f = after ? created[c] : deleted[c];
        if (!f)
          f = MakeDispatch(after ? "CHANNEL_CREATE" : "CHANNEL_DELETE",
                           ChannelJsonLocked(*g, after ? *now[c] : v.channels[c]));
        auto e = std::make_shared<Event>();
        e->target = Event::Target::kUser;
        e->guild_id = v.guild_id;
        e->channel_id = now[c]->id;
        e->user_id = m.user_id;
        e->intent = intent::kGuilds;
        e->frame = f;
        out->push_back(std::move(e));
        auto [lo, hi] = updates.equal_range(now[c]->id);
        for (auto it = lo; it != hi; ++it) it->second->except_users.push_back(m.user_id);
      }
    }
  }
  for (const auto& [_, e] : updates) {
    std::sort(e->except_users.begin(), e->except_users.end());
    e->except_users.erase(std::unique(e->except_users.begin(), e->except_users.end()),
                          e->except_users.end());
  }
}

}  // namespace

CommitPlan PlanEvents(const State& state, const WriteBatch& batch) {
  CommitPlan plan;
  plan.items.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    CommitPlan::Item& item = plan.items[i];
    std::visit(
        Overloaded{
            [&](const mut::PutGuild& m) { item.existed = state.GetGuild(m.guild.id) != nullptr; },
            [&](const mut::PutChannel& m) {
              if (auto g = state.GetGuild(m.channel.guild_id)) {
                ReaderLock lock(&g->mu);
                item.existed = g->channels.count(m.channel.id) > 0;
              }
            },
            [&](const mut::DeleteChannel& m) {
              if (auto gid = state.GuildOfChannel(m.channel_id)) {
                item.guild_id = *gid;
                if (auto g = state.GetGuild(*gid)) {
                  ReaderLock lock(&g->mu);
                  auto it = g->channels.find(m.channel_id);
                  if (it != g->channels.end()) item.channel = it->second;
                }
              }
            },
            [&](const mut::PutRole& m) {
              if (auto g = state.GetGuild(m.role.guild_id)) {
                ReaderLock lock(&g->mu);
                item.existed = g->roles.count(m.role.id) > 0;
              }
            },
            [&](const mut::PutMember& m) {
              if (auto g = state.GetGuild(m.member.guild_id)) {
                ReaderLock lock(&g->mu);
                item.existed = g->members.count(m.member.user_id) > 0;
              }
            },
            [&](const mut::DeleteMember& m) {
              if (auto g = state.GetGuild(m.guild_id)) {
                ReaderLock lock(&g->mu);
                item.existed = g->members.count(m.user_id) > 0;
              }
            },
            [&](const mut::PutInvite& m) {
              item.existed = state.GetInvite(m.invite.code).has_value();
            },
            [&](const mut::DeleteInvite& m) { item.invite = state.GetInvite(m.code); },
            [&](const mut::DeleteSession& m) {
              if (auto uid = state.Authenticate(m.hash)) item.user_id = *uid;
            },
            [&](const mut::DeleteMessages& m) {
              if (auto gid = state.GuildOfChannel(m.channel_id)) item.guild_id = *gid;
            },
            [&](const auto&) {},
        },
        batch[i]);
  }
  PlanViews(state, batch, &plan);
  return plan;
}

EventBatch BuildEvents(const State& state, const WriteBatch& batch, const CommitPlan& plan) {
  EventBatch out;
  std::multimap<Snowflake, std::shared_ptr<Event>> updates;  // CHANNEL_UPDATEs, by channel
  for (size_t i = 0; i < batch.size(); ++i) {
    const CommitPlan::Item& item = plan.items[i];
    std::visit(
        Overloaded{
            [&](const mut::InsertMessage& m) {
              if (m.message.guild_id)
                out.push_back(MessageEvent(state, "MESSAGE_CREATE", m.message, m.referenced, true));
            },
            // A revoked token ends the sessions identified with it (Discord
            // closes them with 4004).
            [&](const mut::DeleteSession& m) {
              if (!item.user_id) return;
              auto e = std::make_shared<Event>();
              e->target = Event::Target::kUser;
              e->action = Event::Action::kEndSessions;
              e->user_id = item.user_id;
              e->token_tag = TokenTag(m.hash);
              out.push_back(std::move(e));
            },
            [&](const mut::DeleteUserSessions& m) {
              auto e = std::make_shared<Event>();
              e->target = Event::Target::kUser;
              e->action = Event::Action::kEndSessions;
              e->user_id = m.user_id;
              out.push_back(std::move(e));
            },
            [&](const mut::UpdateMessage& m) {
              if (m.message.guild_id)
                out.push_back(
                    MessageEvent(state, "MESSAGE_UPDATE", m.message, m.referenced, false));
            },
            [&](const mut::DeleteMessages& m) {
              if (!item.guild_id || m.ids.empty()) return;
              std::string d;
              if (m.ids.size() == 1) {
                d.append("{\"id\":");
                AppendJsonId(&d, m.ids[0]);
              } else {
                d.append("{\"ids\":[");
                for (size_t k = 0; k < m.ids.size(); ++k) {
                  if (k) d.push_back(',');
                  AppendJsonId(&d, m.ids[k]);
                }
                d.push_back(']');
              }
              d.append(",\"channel_id\":");
              AppendJsonId(&d, m.channel_id);
              d.append(",\"guild_id\":");
              AppendJsonId(&d, item.guild_id);
              d.push_back('}');
              auto e = GuildEvent(m.ids.size() == 1 ? "MESSAGE_DELETE" : "MESSAGE_DELETE_BULK",
                                  item.guild_id, intent::kGuildMessages, d);
              e->channel_id = m.channel_id;
              e->permission = perm::kViewChannel;
              out.push_back(std::move(e));
            },
            [&](const mut::PutGuild& m) {
              if (!item.existed) return;  // a new guild reaches its owner via PutMember
              auto g = state.GetGuild(m.guild.id);
              if (!g) return;
              std::string d;
              {
                ReaderLock lock(&g->mu);
                d = bj::serialize(json::GuildObject(*g));
              }
              out.push_back(GuildEvent("GUILD_UPDATE", m.guild.id, intent::kGuilds, d));
            },
            [&](const mut::DeleteGuild& m) {
              std::string d = "{\"id\":";
              AppendJsonId(&d, m.guild_id);
              d.push_back('}');
              auto e = GuildEvent("GUILD_DELETE", m.guild_id, intent::kGuilds, d);
              e->action = Event::Action::kGuildDeleted;
              out.push_back(std::move(e));
            },
            [&](const mut::PutChannel& m) {
              auto e =
                  GuildEvent(item.existed ? "CHANNEL_UPDATE" : "CHANNEL_CREATE", m.channel.guild_id,
                             intent::kGuilds, ChannelJson(state, m.channel));
              e->channel_id = m.channel.id;
              e->permission = perm::kViewChannel;
              if (item.existed) updates.emplace(m.channel.id, e);
              out.push_back(std::move(e));
            },
            [&](const mut::DeleteChannel&) {
              if (!item.channel) return;
              // The channel is gone from State: those who could view it are
              // told, by its permissions as they were.
              auto e = GuildEvent("CHANNEL_DELETE", item.guild_id, intent::kGuilds,
                                  bj::serialize(json::ChannelObject(*item.channel, 0)));
              e->channel_id = item.channel->id;
              e->permission = perm::kViewChannel;
              e->deleted_channel = std::make_shared<const Channel>(*item.channel);
              out.push_back(std::move(e));
            },
            [&](const mut::PutRole& m) {
              bj::object d{{"guild_id", json::Id(m.role.guild_id)},
                           {"role", json::RoleObject(m.role)}};
              out.push_back(GuildEvent(item.existed ? "GUILD_ROLE_UPDATE" : "GUILD_ROLE_CREATE",
                                       m.role.guild_id, intent::kGuilds, bj::serialize(d)));
            },
            [&](const mut::DeleteRole& m) {
              bj::object d{{"guild_id", json::Id(m.guild_id)}, {"role_id", json::Id(m.role_id)}};
              out.push_back(
                  GuildEvent("GUILD_ROLE_DELETE", m.guild_id, intent::kGuilds, bj::serialize(d)));
            },
            [&](const mut::PutMember& m) {
              const Member& mem = m.member;
              out.push_back(GuildEvent(item.existed ? "GUILD_MEMBER_UPDATE" : "GUILD_MEMBER_ADD",
                                       mem.guild_id, intent::kGuildMembers,
                                       MemberEventJson(mem, state, mem.guild_id)));
              if (!item.existed) {
                auto e = std::make_shared<Event>();
                e->target = Event::Target::kUser;
                e->action = Event::Action::kJoinGuild;
                e->guild_id = mem.guild_id;
                e->user_id = mem.user_id;
                out.push_back(std::move(e));
              }
            },
            [&](const mut::DeleteMember& m) {
              if (!item.existed) return;
              bj::object d{{"guild_id", json::Id(m.guild_id)}};
              if (auto u = state.GetUser(m.user_id)) d["user"] = json::UserObject(*u);
              out.push_back(GuildEvent("GUILD_MEMBER_REMOVE", m.guild_id, intent::kGuildMembers,
                                       bj::serialize(d)));
              auto e = std::make_shared<Event>();
              e->target = Event::Target::kUser;
              e->action = Event::Action::kLeaveGuild;
              e->guild_id = m.guild_id;
              e->user_id = m.user_id;
              e->intent = intent::kGuilds;
              std::string gd = "{\"id\":";
              AppendJsonId(&gd, m.guild_id);
              gd.push_back('}');
              e->frame = MakeDispatch("GUILD_DELETE", gd);
              out.push_back(std::move(e));
            },
            [&](const mut::PutInvite& m) {
              if (item.existed) return;  // a use count going up is not an event
              auto e = GuildEvent("INVITE_CREATE", m.invite.guild_id, intent::kGuildInvites,
                                  InviteJson(state, m.invite));
              e->channel_id = m.invite.channel_id;
              e->permission = perm::kManageChannels;
              out.push_back(std::move(e));
            },
            [&](const mut::DeleteInvite&) {
              if (!item.invite) return;
              const Invite& inv = *item.invite;
              bj::object d{{"channel_id", json::Id(inv.channel_id)},
                           {"guild_id", json::Id(inv.guild_id)},
                           {"code", inv.code}};
              auto e = GuildEvent("INVITE_DELETE", inv.guild_id, intent::kGuildInvites,
                                  bj::serialize(d));
              e->channel_id = inv.channel_id;
              e->permission = perm::kManageChannels;
              out.push_back(std::move(e));
            },
            [&](const auto&) {},
        },
        batch[i]);
  }
  if (!plan.views.empty()) BuildViewEvents(state, plan, updates, &out);
  return out;
}

EventPtr BuildTypingEvent(const State& state, Snowflake guild_id, Snowflake channel_id,
                          Snowflake user_id, int64_t now_ms) {
  std::string d = "{\"channel_id\":";
  AppendJsonId(&d, channel_id);
  d.append(",\"guild_id\":");
  AppendJsonId(&d, guild_id);
  d.append(",\"user_id\":");
  AppendJsonId(&d, user_id);
  d.append(",\"timestamp\":");
  AppendJsonInt(&d, now_ms / 1000);
  if (auto g = state.GetGuild(guild_id)) {
    std::optional<Member> m;
    {
      ReaderLock lock(&g->mu);
      auto it = g->members.find(user_id);
      if (it != g->members.end()) m = it->second;
    }
    if (m) {
      std::string md = MemberEventJson(*m, state, 0);
      d.append(",\"member\":");
      d.append(md);
    }
  }
  d.push_back('}');
  auto e = GuildEvent("TYPING_START", guild_id, intent::kGuildMessageTyping, d);
  e->channel_id = channel_id;
  e->permission = perm::kViewChannel;
  return e;
}

EventPtr BuildPresenceEvent(Snowflake user_id, Snowflake guild_id, const Presence& p) {
  return GuildEvent("PRESENCE_UPDATE", guild_id, intent::kGuildPresences,
                    PresenceUpdateJson(user_id, guild_id, p));
}

EventBatch BuildPresenceEvents(const State& state, Snowflake user_id, const Presence& p) {
  EventBatch out;
  for (Snowflake gid : state.GuildsOfUser(user_id))
    out.push_back(GuildEvent("PRESENCE_UPDATE", gid, intent::kGuildPresences,
                             PresenceUpdateJson(user_id, gid, p)));
  return out;
}

}  // namespace parley::events
