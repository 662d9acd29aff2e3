#include "events/presence.h"

#include <algorithm>

#include "util/json_writer.h"
#include "util/time_format.h"

namespace parley::events {

std::optional<Presence> PresenceRegistry::MergedLocked(Snowflake user) const {
  const Presence* best = nullptr;
  int best_node = 0;
  if (auto it = users_.find(user); it != users_.end()) {
    best = &it->second.presence;
    best_node = node_id_;
  }
  if (auto it = remote_.find(user); it != remote_.end()) {
    for (const auto& [node, p] : it->second) {
      if (best == nullptr || p.updated_ms > best->updated_ms ||
          (p.updated_ms == best->updated_ms && node < best_node)) {
        best = &p;
        best_node = node;
      }
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

std::optional<Presence> PresenceRegistry::ChangeLocked(
    Snowflake user, const std::optional<Presence>& before) const {
  std::optional<Presence> after = MergedLocked(user);
  if (!after) {
    if (!before || before->visible_status() == "offline") return std::nullopt;
    Presence off;
    off.status = "offline";
    return off;
  }
  if (before && before->status == after->status &&
      before->activities_json == after->activities_json) {
    return std::nullopt;
  }
  return after;
}

void PresenceRegistry::TellLocal(Snowflake user) {
  if (!on_local_change_) return;
  MutexLock told(&tell_mu_);
  std::optional<Presence> now;
  {
    MutexLock lock(&mu_);
    if (auto it = users_.find(user); it != users_.end()) now = it->second.presence;
  }
  on_local_change_(user, now);
}

std::optional<Presence> PresenceRegistry::SessionStarted(Snowflake user,
                                                         const std::optional<Presence>& p) {
  std::optional<Presence> change;
  bool local_changed = false;
  {
    MutexLock lock(&mu_);
    const std::optional<Presence> before = MergedLocked(user);
    Entry& e = users_[user];
    const bool first = e.sessions++ == 0;
    if (p) {
      local_changed = first || e.presence.status != p->status ||
                      e.presence.activities_json != p->activities_json;
      e.presence = *p;
    } else if (first) {
      e.presence = Presence{};
      local_changed = true;
    }
    if (local_changed) e.presence.updated_ms = NowMs();
    change = ChangeLocked(user, before);
  }
  if (local_changed) TellLocal(user);
  return change;
}

std::optional<Presence> PresenceRegistry::SessionEnded(Snowflake user) {
  std::optional<Presence> change;
  {
    MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it == users_.end()) return std::nullopt;
    if (--it->second.sessions > 0) return std::nullopt;
    const std::optional<Presence> before = MergedLocked(user);
    users_.erase(it);
    change = ChangeLocked(user, before);
  }
  TellLocal(user);
  return change;
}

std::optional<Presence> PresenceRegistry::Update(Snowflake user, const Presence& p) {
  std::optional<Presence> change;
  {
    MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it == users_.end()) return std::nullopt;  // no live session
    const std::optional<Presence> before = MergedLocked(user);
    Presence& cur = it->second.presence;
    cur = p;
    cur.updated_ms = NowMs();
    change = ChangeLocked(user, before);
  }
  TellLocal(user);
  return change;
}

std::optional<Presence> PresenceRegistry::Get(Snowflake user) const {
  MutexLock lock(&mu_);
  std::optional<Presence> p = MergedLocked(user);
  if (!p || p->status == "invisible") return std::nullopt;
  return p;
}

std::optional<Presence> PresenceRegistry::SetRemote(int node, Snowflake user,
                                                    const std::optional<Presence>& p) {
  MutexLock lock(&mu_);
  const std::optional<Presence> before = MergedLocked(user);
  if (p) {
    remote_[user][node] = *p;
  } else if (auto it = remote_.find(user); it != remote_.end()) {
    it->second.erase(node);
    if (it->second.empty()) remote_.erase(it);
  }
  return ChangeLocked(user, before);
}

std::vector<std::pair<Snowflake, Presence>> PresenceRegistry::DropNode(int node) {
  return ReplaceRemote(node, {});
}

std::vector<std::pair<Snowflake, Presence>> PresenceRegistry::ReplaceRemote(
    int node, const std::vector<std::pair<Snowflake, Presence>>& all) {
  std::vector<std::pair<Snowflake, Presence>> changes;
  MutexLock lock(&mu_);
  // Users the node had, and users it has now.
  std::vector<Snowflake> touched;
  for (const auto& [user, nodes] : remote_)
    if (nodes.count(node)) touched.push_back(user);
  for (const auto& [user, p] : all) touched.push_back(user);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::vector<std::optional<Presence>> before;
  before.reserve(touched.size());
  for (Snowflake u : touched) before.push_back(MergedLocked(u));
  for (Snowflake u : touched) {
    if (auto it = remote_.find(u); it != remote_.end()) {
      it->second.erase(node);
      if (it->second.empty()) remote_.erase(it);
    }
  }
  for (const auto& [user, p] : all) remote_[user][node] = p;
  for (size_t i = 0; i < touched.size(); ++i) {
    if (auto c = ChangeLocked(touched[i], before[i])) changes.emplace_back(touched[i], *c);
  }
  return changes;
}

std::vector<std::pair<Snowflake, Presence>> PresenceRegistry::LocalSnapshot() const {
  MutexLock lock(&mu_);
  std::vector<std::pair<Snowflake, Presence>> out;
  out.reserve(users_.size());
  for (const auto& [user, e] : users_) out.emplace_back(user, e.presence);
  return out;
}

namespace {
// `activities` (gateway::DecodeActivities' compact text: every object
// starts with {"name":, which cannot occur inside one of its strings) with
// Discord's required `created_at` first in each: when the session set its
// presence (Presence::updated_ms).
void AppendActivities(std::string* out, std::string_view activities, int64_t created_ms) {
  constexpr std::string_view kStart = "{\"name\":";
  size_t pos = 0;
  for (size_t at; (at = activities.find(kStart, pos)) != std::string_view::npos;
       pos = at + kStart.size()) {
    out->append(activities.substr(pos, at - pos));
    out->append("{\"created_at\":");
    AppendJsonInt(out, created_ms);
    out->append(",\"name\":");
  }
  out->append(activities.substr(pos));
}
}  // namespace

void AppendPresenceJson(std::string* out, Snowflake user, Snowflake guild_id, const Presence& p) {
  out->append("{\"user\":{\"id\":");
  AppendJsonId(out, user);
  out->append("},\"guild_id\":");
  AppendJsonId(out, guild_id);
  out->append(",\"status\":");
  AppendJsonString(out, p.visible_status());
  out->append(",\"activities\":");
  if (p.visible_status() == "offline") {
    out->append("[]");
  } else {
    AppendActivities(out, p.activities_json, p.updated_ms);
  }
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
