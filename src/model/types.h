// The records Parley keeps: plain structs shared by the store, the in-memory
// state and the API. Times are Unix milliseconds; 0 means "not set".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "util/snowflake.h"

namespace parley {

// SHA-256 of a token: the only form in which tokens are stored.
using TokenHash = std::array<uint8_t, 32>;

struct User {
  Snowflake id = 0;
  std::string username;     // as registered (2..32 chars); unique case-insensitively
  std::string global_name;  // display name; empty = none
  bool bot = false;
  std::string password_hash;  // argon2id string (libsodium); empty for bots
  Snowflake owner_id = 0;     // bots: the user who owns the application
};

struct Application {
  Snowflake id = 0;  // equals the bot user's id, as on Discord
  std::string name;
  Snowflake owner_id = 0;
  uint64_t flags = 0;  // gateway intent flags granted (privileged intents)
};

struct Session {  // an auth token
  TokenHash hash{};
  Snowflake user_id = 0;
  int64_t created_ms = 0;
};

struct Guild {
  Snowflake id = 0;
  std::string name;
  Snowflake owner_id = 0;
  std::string description;
  std::string icon;
};

struct Role {
  Snowflake id = 0;  // @everyone: id == guild_id
  Snowflake guild_id = 0;
  std::string name;
  uint64_t permissions = 0;
  int position = 0;
  uint32_t color = 0;
  bool hoist = false;
  bool mentionable = false;
};

struct Overwrite {
  Snowflake id = 0;  // role or user id
  int type = 0;      // 0 role, 1 member
  uint64_t allow = 0;
  uint64_t deny = 0;
};

struct Channel {
  Snowflake id = 0;
  Snowflake guild_id = 0;
  int type = 0;  // 0 GUILD_TEXT
  std::string name;
  std::string topic;
  int position = 0;
  Snowflake parent_id = 0;
  bool nsfw = false;
  int rate_limit_per_user = 0;
  std::vector<Overwrite> overwrites;
};

struct Member {
  Snowflake guild_id = 0;
  Snowflake user_id = 0;
  std::string nick;
  std::vector<Snowflake> roles;  // never contains the @everyone role
  int64_t joined_at_ms = 0;
};

struct Invite {
  std::string code;
  Snowflake guild_id = 0;
  Snowflake channel_id = 0;
  Snowflake inviter_id = 0;
  int64_t created_ms = 0;
  int max_age = 86400;  // seconds; 0 = never expires
  int max_uses = 0;     // 0 = unlimited
  int uses = 0;
  bool temporary = false;
};

struct Message {
  Snowflake id = 0;  // its time is the message's timestamp
  Snowflake channel_id = 0;
  Snowflake guild_id = 0;
  Snowflake author_id = 0;
  std::string content;
  std::string nonce;  // its JSON text ("\"abc\"" or "123"); echoed once, not stored
  int64_t edited_ms = 0;
  bool tts = false;
  bool pinned = false;
  int type = 0;
  int flags = 0;
};

// One change to durable state. A request's changes travel together as one
// WriteBatch and commit atomically.
namespace mut {
struct PutUser {
  User user;
};
struct PutApplication {
  Application app;
};
struct PutSession {
  Session session;
};
struct DeleteSession {
  TokenHash hash;
};
struct DeleteUserSessions {
  Snowflake user_id;
};  // every token of a user
struct PutGuild {
  Guild guild;
};
struct DeleteGuild {
  Snowflake guild_id;
};  // and its channels, roles, members, invites, messages
struct PutChannel {
  Channel channel;
};
struct DeleteChannel {
  Snowflake channel_id;
};  // and its invites and messages
struct PutRole {
  Role role;
};
struct DeleteRole {
  Snowflake guild_id;
  Snowflake role_id;
};  // and drop it from members
struct PutMember {
  Member member;
};
struct DeleteMember {
  Snowflake guild_id;
  Snowflake user_id;
};
struct PutInvite {
  Invite invite;
};
struct DeleteInvite {
  std::string code;
};
struct InsertMessage {
  Message message;
};
struct UpdateMessage {
  Message message;
};  // content, edited_ms, pinned, flags
struct DeleteMessages {
  Snowflake channel_id;
  std::vector<Snowflake> ids;
};
}  // namespace mut

using Mutation =
    std::variant<mut::PutUser, mut::PutApplication, mut::PutSession, mut::DeleteSession,
                 mut::DeleteUserSessions, mut::PutGuild, mut::DeleteGuild, mut::PutChannel,
                 mut::DeleteChannel, mut::PutRole, mut::DeleteRole, mut::PutMember,
                 mut::DeleteMember, mut::PutInvite, mut::DeleteInvite, mut::InsertMessage,
                 mut::UpdateMessage, mut::DeleteMessages>;

using WriteBatch = std::vector<Mutation>;

}  // namespace parley
