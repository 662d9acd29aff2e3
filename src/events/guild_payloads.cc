#include "events/guild_payloads.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "model/permissions.h"
#include "util/json_writer.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::events {

namespace bj = boost::json;

std::string GuildCreateJson(const GuildState& g, const State& state, Snowflake user_id,
                            int large_threshold, const PresenceRegistry& presences,
                            bool with_presences) {
  bj::object o = json::GuildObject(g);
  const size_t member_count = g.members.size();
  const bool large = member_count > static_cast<size_t>(large_threshold);
  auto self = g.members.find(user_id);
  o["joined_at"] = self == g.members.end() ? bj::value(nullptr)
                                           : bj::value(FormatIso8601(self->second.joined_at_ms));
  o["large"] = large;
  o["unavailable"] = false;
  o["member_count"] = member_count;
  bj::array channels;
  for (const auto& [id, c] : g.channels) {
    // Only the channels this member may view: a hidden channel's name,
    // topic, overwrites and last message id are not theirs to see.
    if (!(g.ChannelPermissions(c, user_id) & perm::kViewChannel)) continue;
    auto last = g.last_message_ids.find(id);
    bj::object ch = json::ChannelObject(c, last == g.last_message_ids.end() ? 0 : last->second);
    ch.erase("guild_id");  // Discord leaves it out inside GUILD_CREATE
    channels.push_back(std::move(ch));
  }
  o["channels"] = std::move(channels);
  bj::array members, pres;
  auto add = [&](const Member& m) {
    members.push_back(json::MemberObject(m, state));
    if (with_presences) {
      if (auto p = presences.Get(m.user_id)) {
        std::string s;
        AppendPresenceJson(&s, m.user_id, g.id, *p);
        pres.push_back(bj::parse(s));
      }
    }
  };
  if (!large) {
    for (const auto& [_, m] : g.members) add(m);
  } else if (self != g.members.end()) {
    add(self->second);
  }
  o["members"] = std::move(members);
  o["presences"] = std::move(pres);
  o["threads"] = bj::array();
  o["voice_states"] = bj::array();
  o["stage_instances"] = bj::array();
  o["guild_scheduled_events"] = bj::array();
  o["soundboard_sounds"] = bj::array();
  return bj::serialize(o);
}

std::string MemberEventJson(const Member& m, const State& state, Snowflake guild_id) {
  bj::object o = json::MemberObject(m, state);
  if (guild_id) o["guild_id"] = json::Id(guild_id);
  return bj::serialize(o);
}

void AppendPartialMemberJson(std::string* out, const Member& m) {
  out->append("{\"roles\":[");
  for (size_t i = 0; i < m.roles.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonId(out, m.roles[i]);
  }
  out->append("],\"nick\":");
  if (m.nick.empty())
    out->append("null");
  else
    AppendJsonString(out, m.nick);
  out->append(",\"avatar\":null,\"joined_at\":\"");
  AppendIso8601(out, m.joined_at_ms);
  out->append(
      "\",\"premium_since\":null,\"deaf\":false,\"mute\":false,\"flags\":0,\"pending\":false,"
      "\"communication_disabled_until\":null}");
}

}  // namespace parley::events
