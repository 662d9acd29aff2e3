#include "state/state.h"

#include <algorithm>
#include <climits>

#include "model/permissions.h"

namespace parley {

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

uint64_t GuildState::GuildPermissions(Snowflake user_id) const {
  auto mit = members.find(user_id);
  const Role* ev = everyone();
  if (mit == members.end() || !ev) return 0;
  std::vector<const Role*> rs;
  rs.reserve(mit->second.roles.size());
  for (Snowflake rid : mit->second.roles) {
    auto rit = roles.find(rid);
    if (rit != roles.end()) rs.push_back(&rit->second);
  }
  return ComputeBasePermissions(guild, user_id, *ev, rs);
}

uint64_t GuildState::ChannelPermissions(const Channel& channel, Snowflake user_id) const {
  auto mit = members.find(user_id);
  if (mit == members.end()) return 0;
  // Overwrites apply even when the guild-level permissions are 0 (a locked
  // down @everyone with one channel opened by an overwrite).
  uint64_t base = GuildPermissions(user_id);
  return ApplyOverwrites(base, guild.id, user_id, mit->second.roles, channel.overwrites);
}

int GuildState::TopRolePosition(Snowflake user_id) const {
  if (user_id == guild.owner_id) return INT_MAX;
  int top = 0;
  auto mit = members.find(user_id);
  if (mit == members.end()) return -1;
  for (Snowflake rid : mit->second.roles) {
    auto rit = roles.find(rid);
    if (rit != roles.end()) top = std::max(top, rit->second.position);
  }
  return top;
}

void State::Load(Snapshot snap) {
  WriteBatch batch;
  batch.reserve(snap.users.size() + snap.guilds.size() + snap.channels.size() + snap.roles.size() +
                snap.members.size() + snap.invites.size() + snap.sessions.size() +
                snap.applications.size() + snap.commands.size());
  for (auto& u : snap.users) batch.push_back(mut::PutUser{std::move(u)});
  for (auto& a : snap.applications) batch.push_back(mut::PutApplication{std::move(a)});
  for (auto& s : snap.sessions) batch.push_back(mut::PutSession{s});
  for (auto& g : snap.guilds) batch.push_back(mut::PutGuild{std::move(g)});
  for (auto& r : snap.roles) batch.push_back(mut::PutRole{std::move(r)});
  for (auto& c : snap.channels) batch.push_back(mut::PutChannel{std::move(c)});
  for (auto& m : snap.members) batch.push_back(mut::PutMember{std::move(m)});
  for (auto& i : snap.invites) batch.push_back(mut::PutInvite{std::move(i)});
  for (auto& c : snap.commands) batch.push_back(mut::PutCommand{std::move(c)});
  Apply(batch);
  for (auto [channel_id, message_id] : snap.last_message_ids) {
    auto gid = GuildOfChannel(channel_id);
    if (!gid) continue;
    if (auto g = GetGuild(*gid)) {
      WriterLock lock(&g->mu);
      g->last_message_ids[channel_id] = message_id;
    }
  }
}

void State::Apply(const WriteBatch& batch) {
  for (const Mutation& m : batch) ApplyOne(m);
}

void State::AddGuildOfUser(Snowflake user_id, Snowflake guild_id) {
  user_guilds_.Update(user_id, [&](std::vector<Snowflake>& v) {
    auto it = std::lower_bound(v.begin(), v.end(), guild_id);
    if (it == v.end() || *it != guild_id) v.insert(it, guild_id);
  });
}

void State::RemoveGuildOfUser(Snowflake user_id, Snowflake guild_id) {
  user_guilds_.Update(user_id, [&](std::vector<Snowflake>& v) {
    auto it = std::lower_bound(v.begin(), v.end(), guild_id);
    if (it != v.end() && *it == guild_id) v.erase(it);
  });
}

void State::ApplyOne(const Mutation& m) {
  std::visit(
      [&](const auto& op) {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, mut::PutUser>) {
          Snowflake first = first_user_id_.load(std::memory_order_relaxed);
          if (!op.user.bot && (first == 0 || op.user.id < first))
            first_user_id_.store(op.user.id, std::memory_order_relaxed);
          auto old = users_.Get(op.user.id);
          if (old && *old && ToLower((*old)->username) != ToLower(op.user.username))
            user_ids_by_name_.Erase(ToLower((*old)->username));
          user_ids_by_name_.Put(ToLower(op.user.username), op.user.id);
          users_.Put(op.user.id, std::make_shared<const User>(op.user));
        } else if constexpr (std::is_same_v<T, mut::PutApplication>) {
          applications_.Put(op.app.id, op.app);
        } else if constexpr (std::is_same_v<T, mut::PutSession>) {
          sessions_.Put(op.session.hash, op.session.user_id);
          user_sessions_.Update(op.session.user_id,
                                [&](std::vector<TokenHash>& v) { v.push_back(op.session.hash); });
        } else if constexpr (std::is_same_v<T, mut::DeleteSession>) {
          auto uid = sessions_.Get(op.hash);
          sessions_.Erase(op.hash);
          if (uid)
            user_sessions_.Update(*uid, [&](std::vector<TokenHash>& v) { std::erase(v, op.hash); });
        } else if constexpr (std::is_same_v<T, mut::DeleteUserSessions>) {
          auto hashes = user_sessions_.Get(op.user_id);
          user_sessions_.Erase(op.user_id);
          if (hashes)
            for (const auto& h : *hashes) sessions_.Erase(h);
        } else if constexpr (std::is_same_v<T, mut::PutGuild>) {
          auto g = GetGuild(op.guild.id);
          if (!g) {
            // Filled in before it is published: no reader sees it empty.
            g = std::make_shared<GuildState>(op.guild.id);
            {
              WriterLock lock(&g->mu);
              g->guild = op.guild;
            }
            guilds_.Put(op.guild.id, g);
            return;
          }
          WriterLock lock(&g->mu);
          g->guild = op.guild;
        } else if constexpr (std::is_same_v<T, mut::DeleteGuild>) {
          auto g = GetGuild(op.guild_id);
          if (!g) return;
          std::vector<Snowflake> member_ids, channel_ids;
          {
            ReaderLock lock(&g->mu);
            for (auto& [uid, _] : g->members) member_ids.push_back(uid);
            for (auto& [cid, _] : g->channels) channel_ids.push_back(cid);
          }
          for (Snowflake uid : member_ids) RemoveGuildOfUser(uid, op.guild_id);
          for (Snowflake cid : channel_ids) channel_guild_.Erase(cid);
          invites_.EraseIf(
              [&](const std::string&, const Invite& i) { return i.guild_id == op.guild_id; });
          commands_.EraseIf([&](const CommandScope& s, const std::vector<ApplicationCommand>&) {
            return s.guild_id == op.guild_id;
          });
          guilds_.Erase(op.guild_id);
        } else if constexpr (std::is_same_v<T, mut::PutChannel>) {
          auto g = GetGuild(op.channel.guild_id);
          if (!g) return;
          {
            WriterLock lock(&g->mu);
            g->channels[op.channel.id] = op.channel;
          }
          channel_guild_.Put(op.channel.id, op.channel.guild_id);
        } else if constexpr (std::is_same_v<T, mut::DeleteChannel>) {
          auto gid = channel_guild_.Get(op.channel_id);
          if (!gid) return;
          if (auto g = GetGuild(*gid)) {
            WriterLock lock(&g->mu);
            g->channels.erase(op.channel_id);
            g->last_message_ids.erase(op.channel_id);
          }
          channel_guild_.Erase(op.channel_id);
          invites_.EraseIf(
              [&](const std::string&, const Invite& i) { return i.channel_id == op.channel_id; });
        } else if constexpr (std::is_same_v<T, mut::PutRole>) {
          if (auto g = GetGuild(op.role.guild_id)) {
            WriterLock lock(&g->mu);
            g->roles[op.role.id] = op.role;
          }
        } else if constexpr (std::is_same_v<T, mut::DeleteRole>) {
          if (auto g = GetGuild(op.guild_id)) {
            WriterLock lock(&g->mu);
            g->roles.erase(op.role_id);
            for (auto& [_, mem] : g->members) std::erase(mem.roles, op.role_id);
            for (auto& [_, ch] : g->channels)
              std::erase_if(ch.overwrites,
                            [&](const Overwrite& o) { return o.type == 0 && o.id == op.role_id; });
          }
        } else if constexpr (std::is_same_v<T, mut::PutMember>) {
          if (auto g = GetGuild(op.member.guild_id)) {
            {
              WriterLock lock(&g->mu);
              g->members[op.member.user_id] = op.member;
            }
            AddGuildOfUser(op.member.user_id, op.member.guild_id);
          }
        } else if constexpr (std::is_same_v<T, mut::DeleteMember>) {
          if (auto g = GetGuild(op.guild_id)) {
            WriterLock lock(&g->mu);
            g->members.erase(op.user_id);
          }
          RemoveGuildOfUser(op.user_id, op.guild_id);
        } else if constexpr (std::is_same_v<T, mut::PutInvite>) {
          invites_.Put(op.invite.code, op.invite);
        } else if constexpr (std::is_same_v<T, mut::DeleteInvite>) {
          invites_.Erase(op.code);
        } else if constexpr (std::is_same_v<T, mut::InsertMessage>) {
          if (auto g = GetGuild(op.message.guild_id)) {
            WriterLock lock(&g->mu);
            // A message that raced its channel's deletion leaves no trace.
            if (!g->channels.count(op.message.channel_id)) return;
            Snowflake& last = g->last_message_ids[op.message.channel_id];
            last = std::max(last, op.message.id);
          }
        } else if constexpr (std::is_same_v<T, mut::PutCommand>) {
          const ApplicationCommand& c = op.command;
          commands_.Update({c.application_id, c.guild_id}, [&](std::vector<ApplicationCommand>& v) {
            auto it = std::lower_bound(
                v.begin(), v.end(), c.id,
                [](const ApplicationCommand& x, Snowflake id) { return x.id < id; });
            if (it != v.end() && it->id == c.id)
              *it = c;
            else
              v.insert(it, c);
          });
        } else if constexpr (std::is_same_v<T, mut::DeleteCommand>) {
          CommandScope scope{op.application_id, op.guild_id};
          bool now_empty = false;
          commands_.Update(scope, [&](std::vector<ApplicationCommand>& v) {
            std::erase_if(v, [&](const ApplicationCommand& x) { return x.id == op.id; });
            now_empty = v.empty();
          });
          if (now_empty) commands_.Erase(scope);
        } else if constexpr (std::is_same_v<T, mut::UpdateMessage> ||
                             std::is_same_v<T, mut::DeleteMessages>) {
          // Messages live in the store only.
        }
      },
      m);
}

std::shared_ptr<const User> State::GetUser(Snowflake id) const {
  auto u = users_.Get(id);
  return u ? *u : nullptr;
}

std::optional<Snowflake> State::UserIdByName(const std::string& lower) const {
  return user_ids_by_name_.Get(lower);
}

std::optional<Snowflake> State::Authenticate(const TokenHash& hash) const {
  return sessions_.Get(hash);
}

std::optional<Application> State::GetApplication(Snowflake id) const {
  return applications_.Get(id);
}

std::vector<Application> State::ApplicationsOwnedBy(Snowflake owner_id) const {
  std::vector<Application> out;
  applications_.ForEach([&](Snowflake, const Application& a) {
    if (a.owner_id == owner_id) out.push_back(a);
  });
  return out;
}

std::shared_ptr<GuildState> State::GetGuild(Snowflake guild_id) const {
  auto g = guilds_.Get(guild_id);
  return g ? *g : nullptr;
}

std::optional<Snowflake> State::GuildOfChannel(Snowflake channel_id) const {
  return channel_guild_.Get(channel_id);
}

std::vector<Snowflake> State::GuildsOfUser(Snowflake user_id) const {
  auto v = user_guilds_.Get(user_id);
  return v ? *v : std::vector<Snowflake>{};
}

std::optional<Invite> State::GetInvite(const std::string& code) const {
  return invites_.Get(code);
}

std::vector<ApplicationCommand> State::Commands(const CommandScope& scope) const {
  return commands_.Get(scope).value_or(std::vector<ApplicationCommand>{});
}

std::vector<Invite> State::InvitesOfGuild(Snowflake guild_id) const {
  std::vector<Invite> out;
  invites_.ForEach([&](const std::string&, const Invite& i) {
    if (i.guild_id == guild_id) out.push_back(i);
  });
  return out;
}

}  // namespace parley
