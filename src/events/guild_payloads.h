// The `d` of the gateway dispatches that describe whole guilds and members
// (GUILD_CREATE, GUILD_MEMBER_*), shared by identify and the commit path.
#pragma once

#include <string>

#include "events/presence.h"
#include "state/state.h"

namespace parley::events {

// GUILD_CREATE for `user_id`: the guild with roles, channels, `joined_at`,
// `member_count`, `large`, `members` (all when member_count <=
// large_threshold, else only the user's own member), `presences` (online
// members among those, when with_presences) and the empty arrays clients
// expect. REQUIRES: g.mu held (shared or exclusive).
std::string GuildCreateJson(const GuildState& g, const State& state, Snowflake user_id,
                            int large_threshold, const PresenceRegistry& presences,
                            bool with_presences) REQUIRES_SHARED(g.mu);

// A guild member object with `user`, plus `guild_id` when nonzero (the
// GUILD_MEMBER_ADD/UPDATE shape). REQUIRES: no lock that State::GetUser takes.
std::string MemberEventJson(const Member& m, const State& state, Snowflake guild_id);

// The `member` of MESSAGE_CREATE / TYPING_START (no `user`), appended.
void AppendPartialMemberJson(std::string* out, const Member& m);

}  // namespace parley::events
