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

  // Channel visibility (VIEW_CHANNEL after overwrites) that the batch may
  // change, as it was before the batch: BuildEvents compares it with after
  // and sends CHANNEL_CREATE to each member who gained a channel, and
  // CHANNEL_DELETE to each who lost one (their sessions only).
  //
  // Only what a mutation can change is computed (twice: here and after),
  // on the writer thread:
  //   - a member's roles changed (PutMember):       that member x channels;
  //   - a channel's overwrites changed (PutChannel): the members the changed
  //     overwrites name (a member overwrite: 1; a role's: its members;
  //     @everyone's: all members) x 1;
  //   - a role's permissions changed (PutRole) or the role deleted
  //     (DeleteRole): its members (all members for @everyone) x channels;
  //   - the owner changed (PutGuild): the old and the new owner x channels.
  // A member who joins or leaves in the batch gets GUILD_CREATE or
  // GUILD_DELETE instead; a channel created or deleted in it, its own
  // CHANNEL_CREATE or CHANNEL_DELETE.
  struct ViewCheck {
    Snowflake guild_id = 0;
    std::vector<Snowflake> users;   // members before the batch, ascending
    std::vector<Channel> channels;  // as they were (a CHANNEL_DELETE shows this)
    // VIEW_CHANNEL before: users.size() rows of channels.size().
    std::vector<bool> before;
  };
  std::vector<ViewCheck> views;
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
