// Presence: which users are online and with what status, across every
// session of every event loop, and in cluster mode across every node
// (docs/cluster.md): a user's presence is then the most recently updated
// of this node's (its sessions here) and of the other nodes' (as they last
// told, through the bus; ties go to the lower node id, so every node
// computes the same). Changes are rare next to messages, so one mutex
// guards it (see docs/LOCKS.md); nothing else is locked while it is held.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/mutex.h"
#include "util/snowflake.h"

namespace parley::events {

struct Presence {
  std::string status = "online";  // online | idle | dnd | invisible
  std::string activities_json = "[]";
  int64_t since = 0;
  bool afk = false;
  // When it was set (wall clock, ms): which of several nodes' wins.
  int64_t updated_ms = 0;
  // What other users see: invisible shows as offline.
  std::string_view visible_status() const {
    return status == "invisible" ? std::string_view("offline") : std::string_view(status);
  }
};

class PresenceRegistry {
 public:
  // Told of every change of this node's own presences (cluster mode: to
  // publish them). Called after the registry's lock is released, on the
  // thread that made the change; `p` is nullopt when the user has no
  // session here any more.
  using LocalChange = std::function<void(Snowflake user, const std::optional<Presence>& p)>;
  // REQUIRES: called before any session starts.
  void set_on_local_change(LocalChange f) { on_local_change_ = std::move(f); }
  // This node's id in the cluster (ties between nodes' presences).
  // REQUIRES: called before any session starts.
  void set_node_id(int node) { node_id_ = node; }

  // A session of `user` started. Returns the presence others should now
  // see if it changed (first session, or a new status), else nullopt.
  std::optional<Presence> SessionStarted(Snowflake user, const std::optional<Presence>& p);
  // A session of `user` ended. Returns an offline presence when it was the
  // last one (and the user was visible).
  std::optional<Presence> SessionEnded(Snowflake user);
  // Op 3. Returns the presence others should now see if it changed.
  std::optional<Presence> Update(Snowflake user, const Presence& p);
  // The user's presence, or nullopt when offline or invisible.
  std::optional<Presence> Get(Snowflake user) const;

  // Cluster mode: what node `node` says of `user` (nullopt: no session
  // there). Returns the presence others should now see if it changed (an
  // offline one when the user went offline).
  std::optional<Presence> SetRemote(int node, Snowflake user, const std::optional<Presence>& p);
  // Cluster mode: node `node` is gone (or sent its whole state anew:
  // ReplaceRemote). Returns each user whose visible presence changed.
  std::vector<std::pair<Snowflake, Presence>> DropNode(int node);
  std::vector<std::pair<Snowflake, Presence>> ReplaceRemote(
      int node, const std::vector<std::pair<Snowflake, Presence>>& all);
  // This node's own presences (to tell a node that asks).
  std::vector<std::pair<Snowflake, Presence>> LocalSnapshot() const;

 private:
  struct Entry {
    Presence presence;
    int sessions = 0;
  };
  // The presence others see of `user` (offline: nullopt), from local_
  // and remote_. REQUIRES: mu_ held.
  std::optional<Presence> MergedLocked(Snowflake user) const REQUIRES(mu_);
  // The change in what others see, from `before` to now. REQUIRES: mu_.
  std::optional<Presence> ChangeLocked(Snowflake user, const std::optional<Presence>& before) const
      REQUIRES(mu_);
  void TellLocal(Snowflake user);

  LocalChange on_local_change_;
  int node_id_ = 0;
  // Held while a local change is read and told (on_local_change_), so that
  // changes are told in the order they were made. Taken before mu_.
  Mutex tell_mu_ ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  std::unordered_map<Snowflake, Entry> users_ GUARDED_BY(mu_);  // this node's sessions
  // Other nodes' presences: user -> node -> presence.
  std::unordered_map<Snowflake, std::map<int, Presence>> remote_ GUARDED_BY(mu_);
};

// The `d` of PRESENCE_UPDATE for one guild.
std::string PresenceUpdateJson(Snowflake user, Snowflake guild_id, const Presence& p);
// One presence object of guild `guild_id`: an entry of GUILD_CREATE's and
// GUILD_MEMBERS_CHUNK's `presences`, and PRESENCE_UPDATE's `d`. Carries
// guild_id everywhere, as Discord's do (discordeno 21 fails without it).
void AppendPresenceJson(std::string* out, Snowflake user, Snowflake guild_id, const Presence& p);

}  // namespace parley::events
