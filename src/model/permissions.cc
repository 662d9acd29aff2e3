#include "model/permissions.h"

#include <algorithm>

namespace parley {

uint64_t ComputeBasePermissions(const Guild& guild, Snowflake user_id, const Role& everyone,
                                std::span<const Role* const> roles) {
  if (guild.owner_id == user_id) return perm::kAll;
  uint64_t p = everyone.permissions;
  for (const Role* r : roles) p |= r->permissions;
  if (p & perm::kAdministrator) return perm::kAll;
  return p;
}

uint64_t ApplyOverwrites(uint64_t base, Snowflake guild_id, Snowflake user_id,
                         std::span<const Snowflake> member_role_ids,
                         std::span<const Overwrite> overwrites) {
  if (base & perm::kAdministrator) return perm::kAll;
  uint64_t p = base;
  const Overwrite* member_ow = nullptr;
  uint64_t role_allow = 0, role_deny = 0;
  for (const Overwrite& ow : overwrites) {
    if (ow.type == 0 && ow.id == guild_id) {
      p = (p & ~ow.deny) | ow.allow;  // @everyone first
    } else if (ow.type == 0) {
      if (std::find(member_role_ids.begin(), member_role_ids.end(), ow.id) !=
          member_role_ids.end()) {
        role_allow |= ow.allow;
        role_deny |= ow.deny;
      }
    } else if (ow.type == 1 && ow.id == user_id) {
      member_ow = &ow;
    }
  }
  p = (p & ~role_deny) | role_allow;
  if (member_ow) p = (p & ~member_ow->deny) | member_ow->allow;
  return p;
}

}  // namespace parley
