#include "model/permissions.h"

#include <gtest/gtest.h>

namespace parley {
namespace {

struct Fixture {
  Guild guild{.id = 100, .name = "g", .owner_id = 1};
  Role everyone{.id = 100,
                .guild_id = 100,
                .name = "@everyone",
                .permissions = perm::kViewChannel | perm::kSendMessages};
  Role mod{.id = 200, .guild_id = 100, .name = "mod", .permissions = perm::kManageMessages};
  Role admin{.id = 300, .guild_id = 100, .name = "admin", .permissions = perm::kAdministrator};
};

TEST(Permissions, OwnerHasAll) {
  Fixture f;
  EXPECT_EQ(ComputeBasePermissions(f.guild, 1, f.everyone, {}), perm::kAll);
}

TEST(Permissions, EveryoneAndRolesCombine) {
  Fixture f;
  const Role* roles[] = {&f.mod};
  uint64_t p = ComputeBasePermissions(f.guild, 2, f.everyone, roles);
  EXPECT_EQ(p, perm::kViewChannel | perm::kSendMessages | perm::kManageMessages);
  EXPECT_EQ(ComputeBasePermissions(f.guild, 2, f.everyone, {}),
            perm::kViewChannel | perm::kSendMessages);
}

TEST(Permissions, AdministratorGetsAllAndIgnoresOverwrites) {
  Fixture f;
  const Role* roles[] = {&f.admin};
  uint64_t base = ComputeBasePermissions(f.guild, 2, f.everyone, roles);
  EXPECT_EQ(base, perm::kAll);
  Overwrite deny_all{.id = 100, .type = 0, .allow = 0, .deny = perm::kAll};
  EXPECT_EQ(ApplyOverwrites(base, 100, 2, {}, std::span(&deny_all, 1)), perm::kAll);
}

TEST(Permissions, OverwriteOrder) {
  Fixture f;
  uint64_t base = perm::kViewChannel | perm::kSendMessages;
  Snowflake member_roles[] = {200};
  std::vector<Overwrite> ows = {
      {.id = 100, .type = 0, .allow = 0, .deny = perm::kSendMessages | perm::kViewChannel},
      {.id = 200, .type = 0, .allow = perm::kViewChannel, .deny = 0},
  };
  // @everyone denies view+send; the member's role allows view back.
  EXPECT_EQ(ApplyOverwrites(base, 100, 2, member_roles, ows), perm::kViewChannel);
  // Without that role, nothing.
  EXPECT_EQ(ApplyOverwrites(base, 100, 2, {}, ows), 0u);
  // A member overwrite comes last and wins.
  ows.push_back({.id = 2, .type = 1, .allow = perm::kSendMessages, .deny = perm::kViewChannel});
  EXPECT_EQ(ApplyOverwrites(base, 100, 2, member_roles, ows), perm::kSendMessages);
}

TEST(Permissions, RoleAllowBeatsRoleDeny) {
  uint64_t base = perm::kViewChannel;
  Snowflake member_roles[] = {200, 201};
  std::vector<Overwrite> ows = {
      {.id = 200, .type = 0, .allow = 0, .deny = perm::kViewChannel},
      {.id = 201, .type = 0, .allow = perm::kViewChannel, .deny = 0},
  };
  EXPECT_EQ(ApplyOverwrites(base, 100, 2, member_roles, ows), perm::kViewChannel);
}

}  // namespace
}  // namespace parley
