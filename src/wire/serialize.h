// JSON shapes of Discord API v10 objects. Optional keys are left out, never
// null; nullable keys (Discord marks them "?type") are sent as null.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "model/types.h"
#include "state/state.h"

namespace parley::json {

boost::json::value Id(Snowflake id);        // "123" (snowflakes are strings)
boost::json::value IdOrNull(Snowflake id);  // null for 0
boost::json::value StrOrNull(const std::string& s);

boost::json::object UserObject(const User& u);
// /users/@me: the user plus account fields.
boost::json::object CurrentUserObject(const User& u);
boost::json::object RoleObject(const Role& r);
boost::json::object OverwriteObject(const Overwrite& o);
boost::json::object ChannelObject(const Channel& c, Snowflake last_message_id);
// REQUIRES: the guild's lock is held by the caller.
boost::json::object MemberObject(const Member& m, const State& state);
// The full guild (with roles). REQUIRES: g.mu held.
boost::json::object GuildObject(const GuildState& g) REQUIRES_SHARED(g.mu);
// The partial guild of /users/@me/guilds. REQUIRES: g.mu held.
boost::json::object PartialGuildObject(const GuildState& g, Snowflake user_id)
    REQUIRES_SHARED(g.mu);
// REQUIRES: g.mu held.
boost::json::object InviteObject(const Invite& inv, const GuildState& g, const State& state,
                                 bool with_metadata) REQUIRES_SHARED(g.mu);
// The user object, appended as JSON text (the one definition of its shape;
// UserObject parses it).
void AppendUserJson(std::string* out, const User& u);
// Parses "<@id>", "<@!id>" (users) and "<@&id>" (roles) out of content,
// each id once, in order of appearance.
void ScanMentions(std::string_view s, std::vector<Snowflake>* users, std::vector<Snowflake>* roles);
// The part of a message's JSON that a bot without MESSAGE_CONTENT must not
// see (content, embeds, and a reply's referenced message), as offsets into
// the text AppendMessageJson appended, and what replaces it for such a bot.
struct ContentSpan {
  size_t begin = 0, end = 0;
  std::string stripped;
};

// A message as REST returns it, appended as JSON text (hot path: history
// pages and posts). Author and mentions are resolved through State. A reply
// (ref_message_id set) carries message_reference and referenced_message:
// `referenced`, or null when it is gone. When `span` is given it is filled
// (offsets relative to out->size() on entry).
// REQUIRES: no guild lock held.
void AppendMessageJson(std::string* out, const Message& m, const State& state,
                       const Message* referenced = nullptr, ContentSpan* span = nullptr);

}  // namespace parley::json
