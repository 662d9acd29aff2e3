#include "store/record_digest.h"

namespace parley {

RecordDigest::RecordDigest() {
  crypto_hash_sha256_init(&state_);
}

void RecordDigest::Num(uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  crypto_hash_sha256_update(&state_, b, sizeof b);
}

void RecordDigest::Str(std::string_view s) {
  Num(s.size());
  crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

void RecordDigest::Add(const User& u) {
  ++count_;
  Num(u.id);
  Str(u.username);
  Str(u.global_name);
  Num(u.bot);
  Str(u.password_hash);
  Num(u.owner_id);
}

void RecordDigest::Add(const Application& a) {
  ++count_;
  Num(a.id);
  Str(a.name);
  Num(a.owner_id);
  Num(a.flags);
}

void RecordDigest::Add(const Session& s) {
  ++count_;
  Str(std::string_view(reinterpret_cast<const char*>(s.hash.data()), s.hash.size()));
  Num(s.user_id);
  Num(static_cast<uint64_t>(s.created_ms));
}

void RecordDigest::Add(const Guild& g) {
  ++count_;
  Num(g.id);
  Str(g.name);
  Num(g.owner_id);
  Str(g.description);
  Str(g.icon);
}

void RecordDigest::Add(const Channel& c) {
  ++count_;
  Num(c.id);
  Num(c.guild_id);
  Num(static_cast<uint64_t>(c.type));
  Str(c.name);
  Str(c.topic);
  Num(static_cast<uint64_t>(c.position));
  Num(c.parent_id);
  Num(c.nsfw);
  Num(static_cast<uint64_t>(c.rate_limit_per_user));
  Num(c.overwrites.size());
  for (const Overwrite& o : c.overwrites) {
    Num(o.id);
    Num(static_cast<uint64_t>(o.type));
    Num(o.allow);
    Num(o.deny);
  }
}

void RecordDigest::Add(const Role& r) {
  ++count_;
  Num(r.id);
  Num(r.guild_id);
  Str(r.name);
  Num(r.permissions);
  Num(static_cast<uint64_t>(r.position));
  Num(r.color);
  Num(r.hoist);
  Num(r.mentionable);
}

void RecordDigest::Add(const Member& m) {
  ++count_;
  Num(m.guild_id);
  Num(m.user_id);
  Str(m.nick);
  Num(m.roles.size());
  for (Snowflake r : m.roles) Num(r);
  Num(static_cast<uint64_t>(m.joined_at_ms));
}

void RecordDigest::Add(const Invite& i) {
  ++count_;
  Str(i.code);
  Num(i.guild_id);
  Num(i.channel_id);
  Num(i.inviter_id);
  Num(static_cast<uint64_t>(i.created_ms));
  Num(static_cast<uint64_t>(i.max_age));
  Num(static_cast<uint64_t>(i.max_uses));
  Num(static_cast<uint64_t>(i.uses));
  Num(i.temporary);
}

void RecordDigest::Add(const ApplicationCommand& c) {
  ++count_;
  Num(c.id);
  Num(c.application_id);
  Num(c.guild_id);
  Num(static_cast<uint64_t>(c.type));
  Str(c.name);
  Num(c.version);
  Str(c.body);
}

void RecordDigest::Add(const Message& m) {
  ++count_;
  Num(m.channel_id);
  Num(m.id);
  Num(m.guild_id);
  Num(m.author_id);
  Str(m.content);
  Num(static_cast<uint64_t>(m.edited_ms));
  Num(m.tts);
  Num(m.pinned);
  Num(static_cast<uint64_t>(m.type));
  Num(static_cast<uint64_t>(m.flags));
  Str(m.embeds);
  Num(m.ref_channel_id);
  Num(m.ref_message_id);
}

std::string RecordDigest::Hex() const {
  crypto_hash_sha256_state copy = state_;
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&copy, out);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : out) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

}  // namespace parley
