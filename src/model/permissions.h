// Discord's permission bits and the computation of a member's permissions in
// a guild and in a channel (roles, then channel overwrites).
#pragma once

#include <cstdint>
#include <span>

#include "model/types.h"

namespace parley {

namespace perm {
inline constexpr uint64_t kCreateInstantInvite = 1ull << 0;
inline constexpr uint64_t kKickMembers = 1ull << 1;
inline constexpr uint64_t kBanMembers = 1ull << 2;
inline constexpr uint64_t kAdministrator = 1ull << 3;
inline constexpr uint64_t kManageChannels = 1ull << 4;
inline constexpr uint64_t kManageGuild = 1ull << 5;
inline constexpr uint64_t kAddReactions = 1ull << 6;
inline constexpr uint64_t kViewChannel = 1ull << 10;
inline constexpr uint64_t kSendMessages = 1ull << 11;
inline constexpr uint64_t kSendTtsMessages = 1ull << 12;
inline constexpr uint64_t kManageMessages = 1ull << 13;
inline constexpr uint64_t kEmbedLinks = 1ull << 14;
inline constexpr uint64_t kAttachFiles = 1ull << 15;
inline constexpr uint64_t kReadMessageHistory = 1ull << 16;
inline constexpr uint64_t kMentionEveryone = 1ull << 17;
inline constexpr uint64_t kViewAuditLog = 1ull << 7;
inline constexpr uint64_t kChangeNickname = 1ull << 26;
inline constexpr uint64_t kManageNicknames = 1ull << 27;
inline constexpr uint64_t kManageRoles = 1ull << 28;
inline constexpr uint64_t kManageWebhooks = 1ull << 29;
inline constexpr uint64_t kManageThreads = 1ull << 34;
inline constexpr uint64_t kAll = (1ull << 51) - 1;

// What @everyone gets in a new guild (Discord's default set, trimmed to what
// Parley implements plus harmless extras clients expect to see).
inline constexpr uint64_t kEveryoneDefault =
    kCreateInstantInvite | kAddReactions | kViewChannel | kSendMessages | kEmbedLinks |
    kAttachFiles | kReadMessageHistory | kChangeNickname | (1ull << 18) /*external emojis*/ |
    (1ull << 20) /*connect*/ | (1ull << 21) /*speak*/ | (1ull << 25) /*use vad*/;
}  // namespace perm

// A member's guild-level permissions: the owner and ADMINISTRATOR get all;
// otherwise @everyone's bits OR the member's roles' bits.
// `everyone` is the guild's @everyone role; `roles` the member's other roles.
uint64_t ComputeBasePermissions(const Guild& guild, Snowflake user_id, const Role& everyone,
                                std::span<const Role* const> roles);

// Applies a channel's overwrites to base permissions, in Discord's order:
// @everyone overwrite, then role overwrites (all denies, then all allows),
// then the member overwrite. ADMINISTRATOR in `base` short-circuits to all.
uint64_t ApplyOverwrites(uint64_t base, Snowflake guild_id, Snowflake user_id,
                         std::span<const Snowflake> member_role_ids,
                         std::span<const Overwrite> overwrites);

}  // namespace parley
