#include "store/batch_codec.h"

#include <gtest/gtest.h>

#include <limits>
#include <variant>

namespace parley {
namespace {

// One batch holding every kind of Mutation, each field set to a value
// other than its default (so that a field the codec forgot shows up).
WriteBatch EveryMutation() {
  User u{.id = 1,
         .username = "Ünïcode_name",
         .global_name = "G",
         .bot = true,
         .password_hash = "$argon2id$v=19$x",
         .owner_id = std::numeric_limits<uint64_t>::max()};
  Application app{.id = 2, .name = "app", .owner_id = 3, .flags = 1ull << 63};
  TokenHash h{};
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(255 - i);
  Session sess{.hash = h, .user_id = 4, .created_ms = -5};
  Guild g{.id = 6, .name = "g", .owner_id = 7, .description = "d", .icon = "i"};
  Role r{.id = 8,
         .guild_id = 6,
         .name = "r",
         .permissions = 0xfffffffffffull,
         .position = -3,
         .color = 0xffffff,
         .hoist = true,
         .mentionable = true};
  Channel c{.id = 9,
            .guild_id = 6,
            .type = 5,
            .name = "c",
            .topic = std::string(300, 't'),
            .position = 2,
            .parent_id = 10,
            .nsfw = true,
            .rate_limit_per_user = 21600,
            .overwrites = {{.id = 8, .type = 0, .allow = 1, .deny = 2},
                           {.id = 1, .type = 1, .allow = 4, .deny = 8}}};
  Member m{.guild_id = 6, .user_id = 1, .nick = "n", .roles = {8, 11}, .joined_at_ms = 12};
  Invite inv{.code = "abc",
             .guild_id = 6,
             .channel_id = 9,
             .inviter_id = 1,
             .created_ms = 13,
             .max_age = 0,
             .max_uses = 7,
             .uses = 3,
             .temporary = true};
  Message msg{.id = 14,
              .channel_id = 9,
              .guild_id = 6,
              .author_id = 1,
              .content = std::string("with\0nul", 8),
              .nonce = "\"n1\"",
              .edited_ms = 15,
              .tts = true,
              .pinned = true,
              .type = 19,
              .flags = 4,
              .embeds = "[{\"type\":\"rich\",\"title\":\"t\"}]",
              .ref_channel_id = 9,
              .ref_message_id = 13};
  Message replied{.id = 13, .channel_id = 9, .guild_id = 6, .author_id = 2, .content = "q"};
  WriteBatch b = {mut::PutUser{u},
                  mut::PutApplication{app},
                  mut::PutSession{sess},
                  mut::DeleteSession{h},
                  mut::DeleteUserSessions{1},
                  mut::PutGuild{g},
                  mut::DeleteGuild{16},
                  mut::PutChannel{c},
                  mut::DeleteChannel{17},
                  mut::PutRole{r},
                  mut::DeleteRole{6, 8},
                  mut::PutMember{m},
                  mut::DeleteMember{6, 1},
                  mut::PutInvite{inv},
                  mut::DeleteInvite{"abc"},
                  mut::InsertMessage{msg, {replied}},
                  mut::UpdateMessage{msg, {replied}},
                  mut::DeleteMessages{9, {14, 18, 19}},
                  mut::PutCommand{ApplicationCommand{.id = 20,
                                                     .application_id = 2,
                                                     .guild_id = 6,
                                                     .type = 3,
                                                     .name = "Quote",
                                                     .version = 21,
                                                     .body = "{\"nsfw\":true}"}},
                  mut::DeleteCommand{2, 6, 20}};
  return b;
}

// An entry written before version 3 (no embeds, no references) is still
// read: a follower may start from a log older than its binary.
TEST(BatchCodec, ReadsVersionOneEntries) {
  // Version 1, one batch of one InsertMessage: id 14, channel 9, guild 6,
  // author 1, content "hi", nonce "", edited_ms 0, tts 0, pinned 1, type 0,
  // flags 2 (zigzag 4).
  const auto tag = static_cast<char>(Mutation(mut::InsertMessage{}).index());
  const std::string v1 = {1, 1, 1, tag, 14, 9, 6, 1, 2, 'h', 'i', 0, 0, 0, 1, 0, 4};
  std::vector<WriteBatch> back;
  ASSERT_TRUE(DecodeBatches(v1, &back).ok());
  ASSERT_EQ(back.size(), 1u);
  ASSERT_EQ(back[0].size(), 1u);
  const auto& m = std::get<mut::InsertMessage>(back[0][0]);
  EXPECT_EQ(m.message.id, 14u);
  EXPECT_EQ(m.message.content, "hi");
  EXPECT_TRUE(m.message.pinned);
  EXPECT_EQ(m.message.flags, 2);
  EXPECT_EQ(m.message.embeds, "");
  EXPECT_EQ(m.message.ref_message_id, 0u);
  EXPECT_TRUE(m.referenced.empty());
  // The same bytes labelled version 3 lack the new fields: malformed.
  std::string v3 = v1;
  v3[0] = 3;
  EXPECT_TRUE(DecodeBatches(v3, &back).IsCorruption());
}

TEST(BatchCodec, EveryMutationRoundTrips) {
  const WriteBatch every = EveryMutation();
  ASSERT_EQ(every.size(), std::variant_size_v<Mutation>) << "a Mutation kind is not covered";
  for (size_t i = 0; i < every.size(); ++i) ASSERT_EQ(every[i].index(), i);
  const WriteBatch empty;
  const WriteBatch one = {mut::DeleteGuild{42}};
  const WriteBatch* batches[] = {&every, &empty, &one};
  std::string bytes;
  EncodeBatches(batches, &bytes);

  std::vector<WriteBatch> back;
  ASSERT_TRUE(DecodeBatches(bytes, &back).ok());
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], every);
  EXPECT_EQ(back[1], empty);
  EXPECT_EQ(back[2], one);
}

TEST(BatchCodec, NoBatchesIsValid) {
  std::string bytes;
  EncodeBatches({}, &bytes);
  std::vector<WriteBatch> back = {WriteBatch{mut::DeleteGuild{1}}};
  ASSERT_TRUE(DecodeBatches(bytes, &back).ok());
  EXPECT_TRUE(back.empty());
}

TEST(BatchCodec, EveryTruncationIsCorruption) {
  const WriteBatch every = EveryMutation();
  const WriteBatch* batches[] = {&every};
  std::string bytes;
  EncodeBatches(batches, &bytes);
  std::vector<WriteBatch> back;
  for (size_t n = 0; n < bytes.size(); ++n) {
    Status s = DecodeBatches(std::string_view(bytes).substr(0, n), &back);
    EXPECT_TRUE(s.IsCorruption()) << "prefix of " << n << " bytes: " << s.ToString();
    EXPECT_TRUE(back.empty());
  }
}

TEST(BatchCodec, MalformedInputIsCorruption) {
  std::vector<WriteBatch> back;
  // Another version.
  EXPECT_TRUE(DecodeBatches(std::string("\x02\x00", 2), &back).IsCorruption());
  // An unknown mutation tag (one batch, one mutation, tag 200).
  EXPECT_TRUE(DecodeBatches(std::string("\x01\x01\x01\xc8\x01", 5), &back).IsCorruption());
  // A count far larger than the input (no huge allocation, no crash).
  EXPECT_TRUE(DecodeBatches(std::string("\x01\xff\xff\xff\xff\x0f", 6), &back).IsCorruption());
  // A bool that is neither 0 nor 1: PutUser{id 1, "", "", bot = 7}.
  EXPECT_TRUE(
      DecodeBatches(std::string("\x01\x01\x01\x00\x01\x00\x00\x07", 8), &back).IsCorruption());
  // A varint longer than 64 bits.
  EXPECT_TRUE(
      DecodeBatches(std::string("\x01\x01\x01\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 14),
                    &back)
          .IsCorruption());
  // Trailing bytes after a whole entry.
  std::string bytes;
  const WriteBatch one = {mut::DeleteGuild{42}};
  const WriteBatch* batches[] = {&one};
  EncodeBatches(batches, &bytes);
  EXPECT_TRUE(DecodeBatches(bytes + "x", &back).IsCorruption());
  EXPECT_TRUE(back.empty());
}

TEST(BatchCodec, LargeEntriesAreCompressedAndStillDecodeExactly) {
  // A group commit's entry: 40 messages of chat-like text.
  std::vector<WriteBatch> in;
  for (int i = 0; i < 40; ++i) {
    Message m;
    m.id = 1000 + i;
    m.channel_id = 7;
    m.author_id = 100 + i % 5;
    m.content = "anyone know why the build fails " + std::to_string(i);
    in.push_back({mut::InsertMessage{m}});
  }
  std::vector<const WriteBatch*> ptrs;
  for (const WriteBatch& b : in) ptrs.push_back(&b);
  std::string bytes;
  EncodeBatches(ptrs, &bytes);
  ASSERT_EQ(static_cast<uint8_t>(bytes[0]), 4) << "version 4: LZ4 of version 3";
  std::vector<WriteBatch> back;
  ASSERT_TRUE(DecodeBatches(bytes, &back).ok());
  EXPECT_EQ(back, in);
  // Every truncation, a flipped byte in the block, a size claim that is
  // too large or too small: Corruption, never a crash or a huge buffer.
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(DecodeBatches(bytes.substr(0, n), &back).ok()) << "truncated at " << n;
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x5a;
  EXPECT_FALSE(DecodeBatches(flipped, &back).ok() && back == in);
  EXPECT_TRUE(DecodeBatches(std::string("\x02\xff\xff\xff\xff\x0f\x00", 7), &back).IsCorruption());
  EXPECT_TRUE(DecodeBatches(std::string("\x04\xff\xff\xff\xff\x0f\x00", 7), &back).IsCorruption());
  std::string small = bytes;
  small[1] = 0x10;  // claims 16 bytes: the block decodes to more
  EXPECT_TRUE(DecodeBatches(small, &back).IsCorruption());
  // Small entries stay uncompressed (version 3).
  const WriteBatch one = {mut::DeleteGuild{42}};
  const WriteBatch* single[] = {&one};
  std::string tiny;
  EncodeBatches(single, &tiny);
  EXPECT_EQ(static_cast<uint8_t>(tiny[0]), 3);
}

}  // namespace
}  // namespace parley
