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
  friend bool operator==(const User&, const User&) = default;
};

struct Application {
  Snowflake id = 0;  // equals the bot user's id, as on Discord
  std::string name;
  Snowflake owner_id = 0;
  uint64_t flags = 0;  // gateway intent flags granted (privileged intents)
  friend bool operator==(const Application&, const Application&) = default;
};

struct Session {
  TokenHash hash{};
  Snowflake user_id = 0;
  int64_t created_ms = 0;
  friend bool operator==(const Session&, const Session&) = default;
};

struct Guild {
  Snowflake id = 0;
  std::string name;
  Snowflake owner_id = 0;
  std::string description;
  std::string icon;
  friend bool operator==(const Guild&, const Guild&) = default;
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
  friend bool operator==(const Role&, const Role&) = default;
};

struct Overwrite {
  Snowflake id = 0;  // role or user id
  int type = 0;      // 0 role, 1 member
  uint64_t allow = 0;
  uint64_t deny = 0;
  friend bool operator==(const Overwrite&, const Overwrite&) = default;
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
  friend bool operator==(const Channel&, const Channel&) = default;
};

struct Member {
  Snowflake guild_id = 0;
  Snowflake user_id = 0;
  std::string nick;
  std::vector<Snowflake> roles;  // never contains the @everyone role
  int64_t joined_at_ms = 0;
  friend bool operator==(const Member&, const Member&) = default;
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
  friend bool operator==(const Invite&, const Invite&) = default;
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
  int type = 0;  // 0 default, 19 reply
  int flags = 0;
  // The embeds array as JSON text, validated and normalized by the API
  // (api/embeds.h); empty = no embeds.
  std::string embeds;
  // message_reference of a reply: the message it answers (0 = none).
  Snowflake ref_channel_id = 0;
  Snowflake ref_message_id = 0;
  friend bool operator==(const Message&, const Message&) = default;
};

// An application command (Discord's slash, user and message commands) of
// one application, global or in one guild. The keys are columns; the rest
// of Discord's object (description, options, localizations, permissions,
// contexts, ...) is `body`, a JSON object validated and normalized by the
// API (api/command_shape.h).
struct ApplicationCommand {
  Snowflake id = 0;
  Snowflake application_id = 0;
  Snowflake guild_id = 0;  // 0: a global command
  int type = 1;            // 1 CHAT_INPUT, 2 USER, 3 MESSAGE, 4 PRIMARY_ENTRY_POINT
  std::string name;        // unique per (application, guild, type)
  Snowflake version = 0;   // a new snowflake at every change
  std::string body;
  friend bool operator==(const ApplicationCommand&, const ApplicationCommand&) = default;
};

// One change to durable state. A request's changes travel together as one
// WriteBatch and commit atomically.
namespace mut {
struct PutUser {
  User user;
  friend bool operator==(const PutUser&, const PutUser&) = default;
};
struct PutApplication {
  Application app;
  friend bool operator==(const PutApplication&, const PutApplication&) = default;
};
struct PutSession {
  Session session;
  friend bool operator==(const PutSession&, const PutSession&) = default;
};
struct DeleteSession {
  TokenHash hash;
  friend bool operator==(const DeleteSession&, const DeleteSession&) = default;
};
struct DeleteUserSessions {
  Snowflake user_id;
  friend bool operator==(const DeleteUserSessions&, const DeleteUserSessions&) = default;
};  // every token of a user
struct PutGuild {
  Guild guild;
  friend bool operator==(const PutGuild&, const PutGuild&) = default;
};
struct DeleteGuild {
  Snowflake guild_id;
  friend bool operator==(const DeleteGuild&, const DeleteGuild&) = default;
};  // and its channels, roles, members, invites, messages, commands
struct PutChannel {
  Channel channel;
  friend bool operator==(const PutChannel&, const PutChannel&) = default;
};
struct DeleteChannel {
  Snowflake channel_id;
  friend bool operator==(const DeleteChannel&, const DeleteChannel&) = default;
};  // and its invites and messages
struct PutRole {
  Role role;
  friend bool operator==(const PutRole&, const PutRole&) = default;
};
struct DeleteRole {
  Snowflake guild_id;
  Snowflake role_id;
  friend bool operator==(const DeleteRole&, const DeleteRole&) = default;
};  // and drop it from members
struct PutMember {
  Member member;
  friend bool operator==(const PutMember&, const PutMember&) = default;
};
struct DeleteMember {
  Snowflake guild_id;
  Snowflake user_id;
  friend bool operator==(const DeleteMember&, const DeleteMember&) = default;
};
struct PutInvite {
  Invite invite;
  friend bool operator==(const PutInvite&, const PutInvite&) = default;
};
struct DeleteInvite {
  std::string code;
  friend bool operator==(const DeleteInvite&, const DeleteInvite&) = default;
};
// `referenced` (not stored; 0 or 1 items): the message a reply answers, as
// it was when the reply was written or edited, for the event's
// referenced_message.
struct InsertMessage {
  Message message;
  std::vector<Message> referenced;
  friend bool operator==(const InsertMessage&, const InsertMessage&) = default;
};
struct UpdateMessage {
  Message message;
  std::vector<Message> referenced;
  friend bool operator==(const UpdateMessage&, const UpdateMessage&) = default;
};  // content, embeds, edited_ms, pinned, flags
struct DeleteMessages {
  Snowflake channel_id;
  std::vector<Snowflake> ids;
  friend bool operator==(const DeleteMessages&, const DeleteMessages&) = default;
};
struct PutCommand {
  ApplicationCommand command;
  friend bool operator==(const PutCommand&, const PutCommand&) = default;
};
struct DeleteCommand {
  Snowflake application_id;
  Snowflake guild_id;
  Snowflake id;
  friend bool operator==(const DeleteCommand&, const DeleteCommand&) = default;
};
}  // namespace mut

using Mutation =
    std::variant<mut::PutUser, mut::PutApplication, mut::PutSession, mut::DeleteSession,
                 mut::DeleteUserSessions, mut::PutGuild, mut::DeleteGuild, mut::PutChannel,
                 mut::DeleteChannel, mut::PutRole, mut::DeleteRole, mut::PutMember,
                 mut::DeleteMember, mut::PutInvite, mut::DeleteInvite, mut::InsertMessage,
                 mut::UpdateMessage, mut::DeleteMessages, mut::PutCommand, mut::DeleteCommand>;

using WriteBatch = std::vector<Mutation>;

}  // namespace parley
