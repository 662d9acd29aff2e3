// Gateway intents: the bits of Identify's `intents` (Discord Gateway v10).
// Shared by the gateway (which sessions get what) and the events layer
// (which intent each event needs).
#pragma once

#include <cstdint>

namespace parley::intent {

inline constexpr uint64_t kGuilds = 1ull << 0;
inline constexpr uint64_t kGuildMembers = 1ull << 1;  // privileged
inline constexpr uint64_t kGuildModeration = 1ull << 2;
inline constexpr uint64_t kGuildInvites = 1ull << 6;
inline constexpr uint64_t kGuildPresences = 1ull << 8;  // privileged
inline constexpr uint64_t kGuildMessages = 1ull << 9;
inline constexpr uint64_t kGuildMessageTyping = 1ull << 11;
inline constexpr uint64_t kDirectMessages = 1ull << 12;
inline constexpr uint64_t kMessageContent = 1ull << 15;  // privileged
// Every bit Discord defines: 0..16, 20, 21, 24, 25.
inline constexpr uint64_t kAllDefined =
    ((1ull << 17) - 1) | (1ull << 20) | (1ull << 21) | (1ull << 24) | (1ull << 25);
inline constexpr uint64_t kPrivileged = kGuildMembers | kGuildPresences | kMessageContent;

}  // namespace parley::intent
