// Presence: which users are online and with what status, across every
// session of every event loop. Changes are rare next to messages, so one
// mutex guards it (see docs/LOCKS.md); nothing else is locked while it is
// held.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "util/snowflake.h"

namespace parley::events {

struct Presence {
  std::string status = "online";  // online | idle | dnd | invisible
  std::string activities_json = "[]";
  int64_t since = 0;
  bool afk = false;
  // What other users see: invisible shows as offline.
  std::string_view visible_status() const {
    return status == "invisible" ? std::string_view("offline") : std::string_view(status);
  }
};

class PresenceRegistry {
 public:
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

 private:
  struct Entry {
    Presence presence;
    int sessions = 0;
  };
  mutable std::mutex mu_;
  std::unordered_map<Snowflake, Entry> users_;
};

// The `d` of PRESENCE_UPDATE for one guild.
std::string PresenceUpdateJson(Snowflake user, Snowflake guild_id, const Presence& p);
// One presence object of guild `guild_id`: an entry of GUILD_CREATE's and
// GUILD_MEMBERS_CHUNK's `presences`, and PRESENCE_UPDATE's `d`. Carries
// guild_id everywhere, as Discord's do (discordeno 21 fails without it).
void AppendPresenceJson(std::string* out, Snowflake user, Snowflake guild_id, const Presence& p);

}  // namespace parley::events
