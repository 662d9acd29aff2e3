// BuildEvents' channel visibility events: a member who gains VIEW_CHANNEL on
// a channel (an overwrite, a role's permissions, a role deleted, the
// member's roles, the owner) gets CHANNEL_CREATE; one who loses it,
// CHANNEL_DELETE; nobody else anything new, and the batch's CHANNEL_UPDATE
// leaves out those whose view changed.
#include "events/event_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "model/permissions.h"
#include "wire/intents.h"

namespace parley::events {
namespace {

// Guild 1000 owned by user 1, members 2 (B), 3 (C) and 4 (D, ADMINISTRATOR
// by role 5000), channels 100 (general) and 101 (secret), @everyone with
// the default permissions.
constexpr Snowflake kGuild = 1000, kOwner = 1, kB = 2, kC = 3, kD = 4;
constexpr Snowflake kGeneral = 100, kSecret = 101, kAdminRole = 5000, kViewRole = 5001;

class ViewEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.Load(Snapshot{});
    WriteBatch b;
    b.push_back(mut::PutGuild{Guild{kGuild, "g", kOwner, "", ""}});
    b.push_back(mut::PutRole{Role{kGuild, kGuild, "@everyone", perm::kEveryoneDefault, 0}});
    b.push_back(mut::PutRole{Role{kAdminRole, kGuild, "admin", perm::kAdministrator, 2}});
    b.push_back(mut::PutRole{Role{kViewRole, kGuild, "viewers", 0, 1}});
    b.push_back(mut::PutChannel{Chan(kGeneral, "general")});
    b.push_back(mut::PutChannel{Chan(kSecret, "secret")});
    for (Snowflake u : {kOwner, kB, kC, kD})
      b.push_back(mut::PutMember{Member{kGuild, u, "", {}, 1}});
    b.push_back(mut::PutMember{Member{kGuild, kD, "", {kAdminRole}, 1}});
    state_.Apply(b);
  }

  static Channel Chan(Snowflake id, std::string name, std::vector<Overwrite> ows = {}) {
    Channel c;
    c.id = id;
    c.guild_id = kGuild;
    c.name = std::move(name);
    c.overwrites = std::move(ows);
    return c;
  }
  Channel Current(Snowflake id) {
    auto g = state_.GetGuild(kGuild);
    ReaderLock lock(&g->mu);
    return g->channels.at(id);
  }
  Member CurrentMember(Snowflake uid) {
    auto g = state_.GetGuild(kGuild);
    ReaderLock lock(&g->mu);
    return g->members.at(uid);
  }
  Role CurrentRole(Snowflake rid) {
    auto g = state_.GetGuild(kGuild);
    ReaderLock lock(&g->mu);
    return g->roles.at(rid);
  }
  Guild CurrentGuild() {
    auto g = state_.GetGuild(kGuild);
    ReaderLock lock(&g->mu);
    return g->guild;
  }

  EventBatch Commit(WriteBatch b) {
    CommitPlan plan = PlanEvents(state_, b);
    state_.Apply(b);
    return BuildEvents(state_, b, plan);
  }

  State state_;
};

std::string Type(const Event& e) {
  const std::string& h = e.frame->head;  // {"t":"TYPE","s":
  return h.substr(6, h.find('"', 6) - 6);
}

// The kUser CHANNEL_CREATE / CHANNEL_DELETE events, as "TYPE user channel".
std::vector<std::string> ViewEvents(const EventBatch& events) {
  std::vector<std::string> out;
  for (const EventPtr& e : events) {
    if (e->target != Event::Target::kUser || !e->frame) continue;
    std::string t = Type(*e);
    if (t != "CHANNEL_CREATE" && t != "CHANNEL_DELETE") continue;
    EXPECT_EQ(e->action, Event::Action::kNone);
    EXPECT_EQ(e->guild_id, kGuild);
    EXPECT_EQ(e->intent, intent::kGuilds);
    out.push_back(t + " " + std::to_string(e->user_id) + " " + std::to_string(e->channel_id));
  }
  std::sort(out.begin(), out.end());
  return out;
}

const Event* Find(const EventBatch& events, const std::string& type) {
  for (const EventPtr& e : events)
    if (e->frame && e->target == Event::Target::kGuild && Type(*e) == type) return e.get();
  return nullptr;
}

std::string D(const Event& e) {
  return e.frame->tail;
}

using V = std::vector<std::string>;
using U = std::vector<Snowflake>;

TEST_F(ViewEventsTest, EveryoneOverwriteHidesAndShows) {
  Channel hidden = Current(kSecret);
  hidden.overwrites = {Overwrite{kGuild, 0, 0, perm::kViewChannel}};
  EventBatch ev = Commit({mut::PutChannel{hidden}});
  // The owner and the administrator still see it: nothing for them.
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_DELETE 2 101", "CHANNEL_DELETE 3 101"}));
  const Event* upd = Find(ev, "CHANNEL_UPDATE");
  ASSERT_NE(upd, nullptr);
  EXPECT_EQ(upd->except_users, (U{kB, kC})) << "those who lost it get no CHANNEL_UPDATE";
  // The CHANNEL_DELETE shows the channel as they knew it (no overwrite).
  for (const EventPtr& e : ev)
    if (e->target == Event::Target::kUser) {
      EXPECT_NE(D(*e).find("\"name\":\"secret\""), std::string::npos) << D(*e);
      EXPECT_NE(D(*e).find("\"permission_overwrites\":[]"), std::string::npos) << D(*e);
    }

  // Allowed back for B alone by a member overwrite.
  Channel for_b = Current(kSecret);
  for_b.overwrites.push_back(Overwrite{kB, 1, perm::kViewChannel, 0});
  ev = Commit({mut::PutChannel{for_b}});
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_CREATE 2 101"}));
  upd = Find(ev, "CHANNEL_UPDATE");
  ASSERT_NE(upd, nullptr);
  EXPECT_EQ(upd->except_users, (U{kB})) << "the one who gained it gets CHANNEL_CREATE alone";
  for (const EventPtr& e : ev)
    if (e->target == Event::Target::kUser) {
      EXPECT_NE(D(*e).find("\"id\":\"101\""), std::string::npos) << D(*e);
      EXPECT_NE(D(*e).find("\"guild_id\":\"1000\""), std::string::npos) << D(*e);
      EXPECT_NE(D(*e).find("\"permission_overwrites\":[{"), std::string::npos) << D(*e);
    }

  // The @everyone overwrite removed: C gains it, B keeps it.
  Channel open = Current(kSecret);
  open.overwrites = {Overwrite{kB, 1, perm::kViewChannel, 0}};
  ev = Commit({mut::PutChannel{open}});
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_CREATE 3 101"}));
  EXPECT_EQ(Find(ev, "CHANNEL_UPDATE")->except_users, (U{kC}));
}

TEST_F(ViewEventsTest, ChangesThatDoNotTouchViewChannelCostNothing) {
  Channel renamed = Current(kSecret);
  renamed.name = "renamed";
  renamed.overwrites = {Overwrite{kGuild, 0, 0, perm::kSendMessages}};
  CommitPlan plan = PlanEvents(state_, {mut::PutChannel{renamed}});
  EXPECT_TRUE(plan.views.empty()) << "an overwrite without VIEW_CHANNEL changes no one's view";
  EventBatch ev = Commit({mut::PutChannel{renamed}});
  EXPECT_EQ(ViewEvents(ev), V{});
  EXPECT_TRUE(Find(ev, "CHANNEL_UPDATE")->except_users.empty());

  Role everyone = CurrentRole(kGuild);
  everyone.permissions |= perm::kManageMessages;
  everyone.name = "everyone!";
  EXPECT_TRUE(PlanEvents(state_, {mut::PutRole{everyone}}).views.empty());
  Member nick = CurrentMember(kB);
  nick.nick = "bee";
  EXPECT_TRUE(PlanEvents(state_, {mut::PutMember{nick}}).views.empty());
}

TEST_F(ViewEventsTest, EveryoneRolePermissionsAndARoleThatGrantsView) {
  // B holds the viewers role (no permissions yet).
  Member b = CurrentMember(kB);
  b.roles.push_back(kViewRole);
  EXPECT_EQ(ViewEvents(Commit({mut::PutMember{b}})), V{}) << "a role without VIEW_CHANNEL";

  // @everyone loses VIEW_CHANNEL: B and C lose both channels; the owner
  // and the administrator keep them.
  Role everyone = CurrentRole(kGuild);
  everyone.permissions &= ~perm::kViewChannel;
  CommitPlan plan = PlanEvents(state_, {mut::PutRole{everyone}});
  ASSERT_EQ(plan.views.size(), 1u);
  EXPECT_EQ(plan.views[0].users, (U{kOwner, kB, kC, kD})) << "@everyone: every member";
  EXPECT_EQ(plan.views[0].channels.size(), 2u);
  EventBatch ev = Commit({mut::PutRole{everyone}});
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_DELETE 2 100", "CHANNEL_DELETE 2 101",
                               "CHANNEL_DELETE 3 100", "CHANNEL_DELETE 3 101"}));

  // The viewers role gets VIEW_CHANNEL: B, its only member, gains both.
  Role viewers = CurrentRole(kViewRole);
  viewers.permissions = perm::kViewChannel;
  plan = PlanEvents(state_, {mut::PutRole{viewers}});
  ASSERT_EQ(plan.views.size(), 1u);
  EXPECT_EQ(plan.views[0].users, (U{kB})) << "a role: its members";
  ev = Commit({mut::PutRole{viewers}});
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_CREATE 2 100", "CHANNEL_CREATE 2 101"}));

  // C is given the role: C gains both.
  Member c = CurrentMember(kC);
  c.roles.push_back(kViewRole);
  plan = PlanEvents(state_, {mut::PutMember{c}});
  ASSERT_EQ(plan.views.size(), 1u);
  EXPECT_EQ(plan.views[0].users, (U{kC})) << "a member's roles: that member";
  EXPECT_EQ(ViewEvents(Commit({mut::PutMember{c}})),
            (V{"CHANNEL_CREATE 3 100", "CHANNEL_CREATE 3 101"}));

  // The role deleted: both lose both.
  EXPECT_EQ(ViewEvents(Commit({mut::DeleteRole{kGuild, kViewRole}})),
            (V{"CHANNEL_DELETE 2 100", "CHANNEL_DELETE 2 101", "CHANNEL_DELETE 3 100",
               "CHANNEL_DELETE 3 101"}));
}

TEST_F(ViewEventsTest, RoleOverwriteAndRoleDeletion) {
  // secret: @everyone denied, the viewers role allowed; C holds the role.
  Member c = CurrentMember(kC);
  c.roles.push_back(kViewRole);
  Commit({mut::PutMember{c}});
  Channel s = Current(kSecret);
  s.overwrites = {Overwrite{kGuild, 0, 0, perm::kViewChannel},
                  Overwrite{kViewRole, 0, perm::kViewChannel, 0}};
  EXPECT_EQ(ViewEvents(Commit({mut::PutChannel{s}})), (V{"CHANNEL_DELETE 2 101"}));

  // Deleting the role drops its overwrite: C loses secret, keeps general.
  Channel without = Current(kSecret);
  without.overwrites.pop_back();
  EventBatch ev = Commit({mut::PutChannel{without}, mut::DeleteRole{kGuild, kViewRole}});
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_DELETE 3 101"}));
  EXPECT_EQ(Find(ev, "CHANNEL_UPDATE")->except_users, (U{kC}));
}

TEST_F(ViewEventsTest, OwnershipTransfer) {
  Channel s = Current(kSecret);
  s.overwrites = {Overwrite{kGuild, 0, 0, perm::kViewChannel}};
  Commit({mut::PutChannel{s}});
  Guild g = CurrentGuild();
  g.owner_id = kB;
  EXPECT_EQ(ViewEvents(Commit({mut::PutGuild{g}})),
            (V{"CHANNEL_CREATE 2 101", "CHANNEL_DELETE 1 101"}));
}

TEST_F(ViewEventsTest, JoinsLeavesAndNewOrDeletedChannelsHaveTheirOwnEvents) {
  // A new channel hidden from @everyone and a new member: their own events.
  Channel fresh = Chan(102, "fresh", {Overwrite{kGuild, 0, 0, perm::kViewChannel}});
  EventBatch ev = Commit({mut::PutChannel{fresh}, mut::PutMember{Member{kGuild, 9, "", {}, 2}}});
  EXPECT_EQ(ViewEvents(ev), V{});
  // A member whose roles change and who leaves in the same batch; a channel
  // whose overwrites change and that is deleted in the same batch.
  Role everyone = CurrentRole(kGuild);
  everyone.permissions &= ~perm::kViewChannel;
  ev = Commit({mut::PutRole{everyone}, mut::DeleteMember{kGuild, kC}, mut::DeleteChannel{kSecret}});
  EXPECT_EQ(ViewEvents(ev), (V{"CHANNEL_DELETE 2 100", "CHANNEL_DELETE 9 100"}));
}

}  // namespace
}  // namespace parley::events
