// State: the in-memory copy of everything but messages (users, tokens,
// guilds, channels, roles, members, invites, application commands). The hot path (authenticate,
// check permissions, find recipients) reads only this, never SQL.
//
// Consistency: the store loads it at start-up (Load) and every committed
// WriteBatch is applied to it (Apply) on the writer thread, in commit order,
// before the request that wrote it gets its reply.
//
// Locking (see docs/LOCKS.md): the maps are sharded (ShardedMap), and each
// guild has its own reader-writer lock over its channels, roles and members.
// No lock is held while another is taken, except guild lock -> nothing.
#pragma once

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/types.h"
#include "state/sharded_map.h"
#include "store/store.h"
#include "util/mutex.h"

namespace parley {

struct TokenHashHasher {
  size_t operator()(const TokenHash& h) const {
    size_t v;
    static_assert(sizeof(v) <= sizeof(TokenHash));
    std::memcpy(&v, h.data(), sizeof(v));
    return v;
  }
};

// One guild and everything in it. Read under `mu` shared; State writes it
// under `mu` exclusive. `id` never changes and needs no lock.
struct GuildState {
  explicit GuildState(Snowflake guild_id) : id(guild_id) {}

  const Snowflake id;
  mutable SharedMutex mu;
  Guild guild GUARDED_BY(mu);
  std::map<Snowflake, Role> roles GUARDED_BY(mu);        // includes @everyone (id == guild id)
  std::map<Snowflake, Channel> channels GUARDED_BY(mu);  // ordered by id
  std::map<Snowflake, Member> members GUARDED_BY(mu);    // ordered by user id (for ?after=)
  std::map<Snowflake, Snowflake> last_message_ids GUARDED_BY(mu);  // channel -> newest message

  const Role* everyone() const REQUIRES_SHARED(mu) {
    auto it = roles.find(guild.id);
    return it == roles.end() ? nullptr : &it->second;
  }
  // Guild-level permissions of a user; 0 if not a member.
  uint64_t GuildPermissions(Snowflake user_id) const REQUIRES_SHARED(mu);
  // Permissions in a channel of this guild; 0 if not a member.
  uint64_t ChannelPermissions(const Channel& channel, Snowflake user_id) const REQUIRES_SHARED(mu);
  // The highest role position of a member (owner: max int).
  int TopRolePosition(Snowflake user_id) const REQUIRES_SHARED(mu);
};

// Where application commands live: an application's global commands
// (guild_id 0) or its commands in one guild.
struct CommandScope {
  Snowflake application_id = 0;
  Snowflake guild_id = 0;
  friend bool operator==(const CommandScope&, const CommandScope&) = default;
};
struct CommandScopeHasher {
  size_t operator()(const CommandScope& s) const {
    return std::hash<Snowflake>{}(s.application_id * 31 + s.guild_id);
  }
};

class State {
 public:
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // REQUIRES: called once, before any other method.
  void Load(Snapshot snapshot);
  // Applies a committed batch. Called in commit order.
  void Apply(const WriteBatch& batch);

  // Users and auth.
  std::shared_ptr<const User> GetUser(Snowflake id) const;
  // REQUIRES: `lower` is already lowercase.
  std::optional<Snowflake> UserIdByName(const std::string& lower) const;
  std::optional<Snowflake> Authenticate(const TokenHash& hash) const;
  std::optional<Application> GetApplication(Snowflake id) const;
  std::vector<Application> ApplicationsOwnedBy(Snowflake owner_id) const;

  // Guilds. The returned pointer stays valid while held; read it under its mu.
  std::shared_ptr<GuildState> GetGuild(Snowflake guild_id) const;
  // The guild a channel belongs to.
  std::optional<Snowflake> GuildOfChannel(Snowflake channel_id) const;
  // Guild ids the user is a member of, ascending.
  std::vector<Snowflake> GuildsOfUser(Snowflake user_id) const;
  std::optional<Invite> GetInvite(const std::string& code) const;
  std::vector<Invite> InvitesOfGuild(Snowflake guild_id) const;
  // The commands of one scope, by id.
  std::vector<ApplicationCommand> Commands(const CommandScope& scope) const;

  size_t user_count() const { return users_.Size(); }
  size_t guild_count() const { return guilds_.Size(); }
  // The first registered (non-bot) user, 0 if none: the default admin.
  Snowflake first_user_id() const { return first_user_id_.load(std::memory_order_relaxed); }

 private:
  void ApplyOne(const Mutation& m);
  void AddGuildOfUser(Snowflake user_id, Snowflake guild_id);
  void RemoveGuildOfUser(Snowflake user_id, Snowflake guild_id);

  ShardedMap<Snowflake, std::shared_ptr<const User>> users_;
  ShardedMap<std::string, Snowflake> user_ids_by_name_;
  ShardedMap<TokenHash, Snowflake, TokenHashHasher> sessions_;
  ShardedMap<Snowflake, std::vector<TokenHash>> user_sessions_;
  ShardedMap<Snowflake, Application> applications_;
  ShardedMap<Snowflake, std::shared_ptr<GuildState>> guilds_;
  ShardedMap<Snowflake, Snowflake> channel_guild_;
  ShardedMap<Snowflake, std::vector<Snowflake>> user_guilds_;  // sorted
  ShardedMap<std::string, Invite> invites_;
  ShardedMap<CommandScope, std::vector<ApplicationCommand>, CommandScopeHasher> commands_;
  std::atomic<Snowflake> first_user_id_{0};
};

std::string ToLower(std::string_view s);

}  // namespace parley
