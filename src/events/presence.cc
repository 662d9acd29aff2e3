#include "events/presence.h"

#include "util/json_writer.h"

namespace parley::events {

std::optional<Presence> PresenceRegistry::SessionStarted(Snowflake user,
                                                         const std::optional<Presence>& p) {
  std::lock_guard lock(mu_);
  Entry& e = users_[user];
  bool first = e.sessions++ == 0;
  if (!p) {
    if (!first) return std::nullopt;
    e.presence = Presence{};
    return e.presence;
  }
  bool changed =
      first || e.presence.status != p->status || e.presence.activities_json != p->activities_json;
  e.presence = *p;
  if (!changed) return std::nullopt;
  return e.presence;
}

std::optional<Presence> PresenceRegistry::SessionEnded(Snowflake user) {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  if (--it->second.sessions > 0) return std::nullopt;
  bool was_visible = it->second.presence.status != "invisible";
  users_.erase(it);
  if (!was_visible) return std::nullopt;
  Presence off;
  off.status = "offline";
  return off;
}

std::optional<Presence> PresenceRegistry::Update(Snowflake user, const Presence& p) {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;  // no live session
  Presence& cur = it->second.presence;
  bool changed = cur.status != p.status || cur.activities_json != p.activities_json;
  cur = p;
  if (!changed) return std::nullopt;
  return cur;
}

std::optional<Presence> PresenceRegistry::Get(Snowflake user) const {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end() || it->second.presence.status == "invisible") return std::nullopt;
  return it->second.presence;
}

void AppendPresenceJson(std::string* out, Snowflake user, Snowflake guild_id, const Presence& p) {
  out->append("{\"user\":{\"id\":");
  AppendJsonId(out, user);
  out->append("},\"guild_id\":");
  AppendJsonId(out, guild_id);
  out->append(",\"status\":");
  AppendJsonString(out, p.visible_status());
  out->append(",\"activities\":");
  out->append(p.visible_status() == "offline" ? std::string_view("[]") : p.activities_json);
  out->append(",\"client_status\":{");
  if (p.visible_status() != "offline") {
    out->append("\"web\":");
    AppendJsonString(out, p.visible_status());
  }
  out->append("}}");
}

std::string PresenceUpdateJson(Snowflake user, Snowflake guild_id, const Presence& p) {
  std::string out;
  AppendPresenceJson(&out, user, guild_id, p);
  return out;
}

}  // namespace parley::events
