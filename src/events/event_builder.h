// Turns committed WriteBatches into gateway events. Runs on the writer
// thread, in commit order, so the events come out in commit order too:
//   plan = PlanEvents(state, batch);   // before State::Apply (what existed)
//   state.Apply(batch);
//   events = BuildEvents(state, batch, plan);  // after: the new shapes
#pragma once

#include <optional>
#include <vector>

#include "events/event.h"
#include "events/presence.h"
#include "state/state.h"

namespace parley::events {

struct CommitPlan {
  struct Item {
    bool existed = false;
    Snowflake guild_id = 0;
    Snowflake user_id = 0;           // DeleteSession: whose token it was
    std::optional<Channel> channel;  // DeleteChannel: the channel as it was
    std::optional<Invite> invite;    // DeleteInvite: the invite as it was
  };
  std::vector<Item> items;  // one per mutation
};

// REQUIRES: called before state.Apply(batch), on the writer thread.
CommitPlan PlanEvents(const State& state, const WriteBatch& batch);

// REQUIRES: called right after state.Apply(batch), on the writer thread.
EventBatch BuildEvents(const State& state, const WriteBatch& batch, const CommitPlan& plan);

// TYPING_START by `user_id` in a guild channel.
EventPtr BuildTypingEvent(const State& state, Snowflake guild_id, Snowflake channel_id,
                          Snowflake user_id, int64_t now_ms);

// PRESENCE_UPDATE of `user_id` in one guild.
EventPtr BuildPresenceEvent(Snowflake user_id, Snowflake guild_id, const Presence& p);

// PRESENCE_UPDATE of `user_id` to each of their guilds.
EventBatch BuildPresenceEvents(const State& state, Snowflake user_id, const Presence& p);

}  // namespace parley::events
