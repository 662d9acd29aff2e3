// Gateway events: what the commit path and the presence/typing code hand to
// the gateway. An event is serialized ONCE, whatever the number of sessions
// that receive it; each session's sequence number is spliced in at write
// time (Frame), so the bytes are shared, never re-serialized per session.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "encoding/encoding.h"
#include "model/types.h"

namespace parley::events {

using encoding::Encoding;

// One dispatch payload without its sequence number:
//   head + <s> + tail == {"t":"TYPE","s":<s>,"op":0,"d":{...}}
// in JSON, as every frame is built; the same payload in ETF or MessagePack
// (In) is a map whose last entry is "s", so that there head + <s> is the
// whole payload and tail is empty.
struct Frame {
  std::string head;
  std::string tail;
  int64_t created_ns = 0;  // steady clock; for the delivery-latency metric
  uint8_t type = 0;        // metrics::EventTypeIndex of the event type
  Encoding encoding = Encoding::kJson;
  size_t size_with_seq(uint64_t seq) const;

  // This JSON frame in encoding `e`: *this for JSON, else built from head
  // and tail on the first call for `e` (by whichever thread asks first;
  // the others wait), so that an event is re-encoded once per encoding
  // whatever the number of sessions that use it. REQUIRES: a JSON frame
  // (head and tail as above).
  const Frame& In(Encoding e) const;

 private:
  mutable std::once_flag once_[2];                 // ETF, MessagePack
  mutable std::unique_ptr<const Frame> other_[2];  // set once, under once_
};
using FramePtr = std::shared_ptr<const Frame>;

// The first 8 bytes of a token's hash: what a session keeps of the token it
// identified with, to be ended when that token is revoked. Never 0.
uint64_t TokenTag(const TokenHash& hash);

// Builds a dispatch frame from its type and its serialized `d`.
FramePtr MakeDispatch(std::string_view type, std::string_view d_json);

// Appends the payload (head, seq in f's encoding, tail) to *out.
void AppendPayload(std::string* out, const Frame& f, uint64_t seq);

struct Event {
  enum class Target : uint8_t {
    kGuild,  // every session subscribed to guild_id (and allowed to see it)
    // every session of user_id; with kNone and a guild_id, only those
    // subscribed to it (CHANNEL_CREATE / CHANNEL_DELETE of a channel the
    // user gained or lost VIEW_CHANNEL on)
    kUser,
  };
  enum class Action : uint8_t {
    kNone,
    kJoinGuild,     // kUser: subscribe the user's sessions to guild_id, send them GUILD_CREATE
    kLeaveGuild,    // kUser: unsubscribe them, send `frame` (GUILD_DELETE)
    kGuildDeleted,  // kGuild: after sending `frame`, unsubscribe every session
    // kUser: close the user's sessions identified with the token whose tag
    // is token_tag (0: every session of the user) with 4004; they cannot
    // resume (the token is gone). A logout, a password change.
    kEndSessions,
  };
  Target target = Target::kGuild;
  Action action = Action::kNone;
  Snowflake guild_id = 0;
  Snowflake channel_id = 0;  // 0: guild-wide (no channel permission needed)
  Snowflake user_id = 0;     // kUser: the recipient user
  uint64_t intent = 0;       // the session needs this intent bit (0: none)
  uint64_t permission = 0;   // needed in channel_id (VIEW_CHANNEL, MANAGE_CHANNELS...)
  // CHANNEL_DELETE: the channel as it was (gone from State), whose
  // permissions decide who is told. Any other event whose channel State
  // no longer has reaches nobody (fail closed).
  std::shared_ptr<const Channel> deleted_channel;
  // kGuild: sessions of these users (ascending) are left out. A CHANNEL_UPDATE
  // that changed whether they may view channel_id lists them: they get a
  // CHANNEL_CREATE or CHANNEL_DELETE of their own (kUser) instead.
  std::vector<Snowflake> except_users;
  // Whether the sessions of `user_id` are left out (except_users).
  bool Excepts(Snowflake user_id) const;
  uint64_t token_tag = 0;  // kEndSessions: TokenTag of the revoked token (0: all)
  FramePtr frame;          // may be null for kJoinGuild (built per session)

  // MESSAGE_CONTENT rule (message events only): bots without the intent get
  // the stripped frame unless they wrote or are mentioned in the message.
  bool has_content = false;
  Snowflake author_id = 0;
  std::vector<Snowflake> mentions;
  // Where the message's user-written part (content, embeds, a reply's
  // referenced message: json::ContentSpan) lies in frame->tail, and the
  // text that replaces it for a bot without the intent.
  size_t content_begin = 0, content_end = 0;
  std::string content_stripped;
  // `frame` with that part replaced; built on first use by whichever loop
  // needs it (most guilds never do). REQUIRES: has_content.
  FramePtr StrippedFrame() const;

 private:
  mutable std::once_flag stripped_once_;
  mutable FramePtr stripped_;
};
using EventPtr = std::shared_ptr<const Event>;
using EventBatch = std::vector<EventPtr>;

}  // namespace parley::events
