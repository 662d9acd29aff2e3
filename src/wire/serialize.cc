#include "wire/serialize.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <string_view>

#include "util/json_writer.h"
#include "util/time_format.h"

namespace parley::json {

namespace bj = boost::json;

bj::value Id(Snowflake id) {
  return bj::value(std::to_string(id));
}
bj::value IdOrNull(Snowflake id) {
  return id ? Id(id) : bj::value(nullptr);
}
bj::value StrOrNull(const std::string& s) {
  return s.empty() ? bj::value(nullptr) : bj::value(s);
}

void AppendUserJson(std::string* out, const User& u) {
  out->append("{\"id\":");
  AppendJsonId(out, u.id);
  out->append(",\"username\":");
  AppendJsonString(out, u.username);
  out->append(",\"discriminator\":\"0\",\"global_name\":");
  if (u.global_name.empty())
    out->append("null");
  else
    AppendJsonString(out, u.global_name);
  out->append(",\"avatar\":null");
  if (u.bot) out->append(",\"bot\":true");
  out->append(
      ",\"public_flags\":0,\"flags\":0,\"banner\":null,\"accent_color\":null,"
      "\"avatar_decoration_data\":null}");
}

bj::object UserObject(const User& u) {
  std::string s;
  AppendUserJson(&s, u);
  return bj::parse(s).as_object();
}

bj::object CurrentUserObject(const User& u) {
  bj::object o = UserObject(u);
  o["mfa_enabled"] = false;
  o["locale"] = "en-US";
  o["verified"] = true;
  o["email"] = nullptr;
  o["premium_type"] = 0;
  return o;
}

bj::object RoleObject(const Role& r) {
  return bj::object{{"id", Id(r.id)},
                    {"name", r.name},
                    {"color", r.color},
                    // Discord's newer field (required by oceanic.js 1.15);
                    // one colour, no gradient.
                    {"colors", bj::object{{"primary_color", r.color},
                                          {"secondary_color", nullptr},
                                          {"tertiary_color", nullptr}}},
                    {"hoist", r.hoist},
                    {"icon", nullptr},
                    {"unicode_emoji", nullptr},
                    {"position", r.position},
                    {"permissions", std::to_string(r.permissions)},
                    {"managed", false},
                    {"mentionable", r.mentionable},
                    {"flags", 0}};
}

bj::object OverwriteObject(const Overwrite& o) {
  return bj::object{{"id", Id(o.id)},
                    {"type", o.type},
                    {"allow", std::to_string(o.allow)},
                    {"deny", std::to_string(o.deny)}};
}

bj::object ChannelObject(const Channel& c, Snowflake last_message_id) {
  bj::array ows;
  for (const auto& ow : c.overwrites) ows.push_back(OverwriteObject(ow));
  bj::object o;
  o["id"] = Id(c.id);
  o["type"] = c.type;
  o["guild_id"] = Id(c.guild_id);
  o["name"] = c.name;
  o["position"] = c.position;
  o["permission_overwrites"] = std::move(ows);
  o["topic"] = StrOrNull(c.topic);
  o["nsfw"] = c.nsfw;
  o["last_message_id"] = IdOrNull(last_message_id);
  o["rate_limit_per_user"] = c.rate_limit_per_user;
  o["parent_id"] = IdOrNull(c.parent_id);
  o["flags"] = 0;
  return o;
}

bj::object MemberObject(const Member& m, const State& state) {
  bj::object o;
  if (auto u = state.GetUser(m.user_id)) o["user"] = UserObject(*u);
  bj::array roles;
  for (Snowflake r : m.roles) roles.push_back(Id(r));
  o["nick"] = StrOrNull(m.nick);
  o["avatar"] = nullptr;
  o["banner"] = nullptr;
  o["roles"] = std::move(roles);
  o["joined_at"] = FormatIso8601(m.joined_at_ms);
  o["premium_since"] = nullptr;
  o["deaf"] = false;
  o["mute"] = false;
  o["flags"] = 0;
  o["pending"] = false;
  o["communication_disabled_until"] = nullptr;
  return o;
}

bj::object GuildObject(const GuildState& g) {
  bj::array roles;
  for (const auto& [_, r] : g.roles) roles.push_back(RoleObject(r));
  Snowflake system_channel = 0;
  for (const auto& [id, c] : g.channels)
    if (c.type == 0) {
      system_channel = id;
      break;
    }
  bj::object o;
  o["id"] = Id(g.id);
  o["name"] = g.guild.name;
  o["icon"] = StrOrNull(g.guild.icon);
  o["description"] = StrOrNull(g.guild.description);
  o["splash"] = nullptr;
  o["discovery_splash"] = nullptr;
  o["banner"] = nullptr;
  o["features"] = bj::array();
  o["owner_id"] = Id(g.guild.owner_id);
  o["application_id"] = nullptr;
  o["region"] = "deprecated";
  o["afk_channel_id"] = nullptr;
  o["afk_timeout"] = 300;
  o["system_channel_id"] = IdOrNull(system_channel);
  o["system_channel_flags"] = 0;
  o["widget_enabled"] = false;
  o["widget_channel_id"] = nullptr;
  o["verification_level"] = 0;
  o["default_message_notifications"] = 0;
  o["explicit_content_filter"] = 0;
  o["mfa_level"] = 0;
  o["roles"] = std::move(roles);
  o["emojis"] = bj::array();
  o["stickers"] = bj::array();
  o["max_presences"] = nullptr;
  o["max_members"] = 500000;
  o["vanity_url_code"] = nullptr;
  o["premium_tier"] = 0;
  o["premium_subscription_count"] = 0;
  o["preferred_locale"] = "en-US";
  o["rules_channel_id"] = nullptr;
  o["public_updates_channel_id"] = nullptr;
  o["safety_alerts_channel_id"] = nullptr;
  o["nsfw_level"] = 0;
  o["premium_progress_bar_enabled"] = false;
  o["incidents_data"] = nullptr;
  return o;
}

bj::object PartialGuildObject(const GuildState& g, Snowflake user_id) {
  return bj::object{{"id", Id(g.id)},
                    {"name", g.guild.name},
                    {"icon", StrOrNull(g.guild.icon)},
                    {"banner", nullptr},
                    {"owner", g.guild.owner_id == user_id},
                    {"permissions", std::to_string(g.GuildPermissions(user_id))},
                    {"features", bj::array()},
                    {"approximate_member_count", g.members.size()}};
}

bj::object InviteObject(const Invite& inv, const GuildState& g, const State& state,
                        bool with_metadata) {
  bj::object o;
  o["type"] = 0;
  o["code"] = inv.code;
  o["guild"] = bj::object{{"id", Id(g.id)},
                          {"name", g.guild.name},
                          {"icon", StrOrNull(g.guild.icon)},
                          {"splash", nullptr},
                          {"banner", nullptr},
                          {"description", StrOrNull(g.guild.description)},
                          {"features", bj::array()},
                          {"verification_level", 0},
                          {"vanity_url_code", nullptr},
                          {"nsfw_level", 0},
                          {"premium_subscription_count", 0}};
  o["guild_id"] = Id(g.id);
  auto cit = g.channels.find(inv.channel_id);
  o["channel"] = cit == g.channels.end() ? bj::value(nullptr)
                                         : bj::value(bj::object{{"id", Id(cit->second.id)},
                                                                {"type", cit->second.type},
                                                                {"name", cit->second.name}});
  if (auto u = state.GetUser(inv.inviter_id)) o["inviter"] = UserObject(*u);
  o["expires_at"] = inv.max_age > 0
                        ? bj::value(FormatIso8601(inv.created_ms + int64_t(inv.max_age) * 1000))
                        : bj::value(nullptr);
  o["approximate_member_count"] = g.members.size();
  if (with_metadata) {
    o["uses"] = inv.uses;
    o["max_uses"] = inv.max_uses;
    o["max_age"] = inv.max_age;
    o["temporary"] = inv.temporary;
    o["created_at"] = FormatIso8601(inv.created_ms);
  }
  return o;
}

void ScanMentions(std::string_view s, std::vector<Snowflake>* users,
                  std::vector<Snowflake>* roles) {
  size_t pos = 0;
  while ((pos = s.find("<@", pos)) != std::string_view::npos) {
    size_t p = pos + 2;
    bool role = false;
    if (p < s.size() && (s[p] == '!' || s[p] == '&')) {
      role = s[p] == '&';
      ++p;
    }
    size_t end = s.find('>', p);
    if (end == std::string_view::npos) break;
    if (auto id = ParseSnowflake(s.substr(p, end - p))) {
      auto& v = role ? *roles : *users;
      if (std::find(v.begin(), v.end(), *id) == v.end()) v.push_back(*id);
    }
    pos = end + 1;
  }
}

namespace {

// `blank`: the message as a bot without MESSAGE_CONTENT sees it (content,
// embeds and mentions empty), written without copying the message.
void AppendMessageImpl(std::string* out, const Message& m, const State& state, bool nested,
                       bool blank, const Message* referenced, ContentSpan* span);

// content, attachments, embeds and, for a reply, message_reference and
// (unless nested) referenced_message: one contiguous run, so that the
// MESSAGE_CONTENT rule can swap it whole. Starts at the content's value.
void AppendUserContent(std::string* out, const Message& m, const State& state, bool nested,
                       bool blank, const Message* referenced) {
  if (blank)
    out->append("\"\"");
  else
    AppendJsonString(out, m.content);
  out->append(",\"attachments\":[],\"embeds\":");
  out->append(blank || m.embeds.empty() ? std::string_view("[]") : std::string_view(m.embeds));
  if (m.ref_message_id == 0) return;
  out->append(",\"message_reference\":{\"type\":0,\"message_id\":");
  AppendJsonId(out, m.ref_message_id);
  out->append(",\"channel_id\":");
  AppendJsonId(out, m.ref_channel_id);
  if (m.guild_id) {
    out->append(",\"guild_id\":");
    AppendJsonId(out, m.guild_id);
  }
  out->push_back('}');
  if (nested) return;  // Discord nests one level only
  out->append(",\"referenced_message\":");
  if (referenced)
    AppendMessageImpl(out, *referenced, state, true, blank, nullptr, nullptr);
  else
    out->append("null");
}

void AppendMessageImpl(std::string* out, const Message& m, const State& state, bool nested,
                       bool blank, const Message* referenced, ContentSpan* span) {
  const size_t base = out->size();
  std::vector<Snowflake> user_ids, role_ids;
  if (!blank) ScanMentions(m.content, &user_ids, &role_ids);
  out->append("{\"type\":");
  AppendJsonInt(out, m.type);
  out->append(",\"channel_id\":");
  AppendJsonId(out, m.channel_id);
  out->append(",\"content\":");
  if (span) span->begin = out->size() - base;
  AppendUserContent(out, m, state, nested, blank, referenced);
  if (span) {
    span->end = out->size() - base;
    span->stripped.clear();
    AppendUserContent(&span->stripped, m, state, nested, true, referenced);
  }
  out->append(",\"timestamp\":\"");
  AppendIso8601(out, SnowflakeTimeMs(m.id));
  out->append("\",\"edited_timestamp\":");
  if (m.edited_ms) {
    out->push_back('"');
    AppendIso8601(out, m.edited_ms);
    out->push_back('"');
  } else {
    out->append("null");
  }
  out->append(",\"flags\":");
  AppendJsonInt(out, m.flags);
  out->append(",\"components\":[],\"id\":");
  AppendJsonId(out, m.id);
  out->append(",\"author\":");
  if (auto u = state.GetUser(m.author_id)) {
    AppendUserJson(out, *u);
  } else {
    AppendUserJson(out, User{.id = m.author_id, .username = "Deleted User"});
  }
  out->append(",\"mentions\":[");
  bool first = true;
  for (Snowflake id : user_ids) {
    if (auto u = state.GetUser(id)) {
      if (!first) out->push_back(',');
      first = false;
      AppendUserJson(out, *u);
    }
  }
  out->append("],\"mention_roles\":[");
  for (size_t i = 0; i < role_ids.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonId(out, role_ids[i]);
  }
  out->append("],\"mention_everyone\":false,\"pinned\":");
  out->append(m.pinned ? "true" : "false");
  out->append(",\"tts\":");
  out->append(m.tts ? "true" : "false");
  if (!m.nonce.empty()) {
    out->append(",\"nonce\":");
    out->append(m.nonce);  // already JSON text
  }
  out->push_back('}');
}

}  // namespace

void AppendMessageJson(std::string* out, const Message& m, const State& state,
                       const Message* referenced, ContentSpan* span) {
  AppendMessageImpl(out, m, state, false, false, referenced, span);
}

}  // namespace parley::json
