#include "store/batch_codec.h"

#include <lz4.h>

#include <variant>

#include "util/field_codec.h"

namespace parley {
namespace {

// Version 1: the first layout. Version 3: messages carry embeds and
// message_reference, InsertMessage / UpdateMessage the referenced message.
// Versions 2 and 4: byte 2 (4), a varint of the version-1 (3) encoding's
// size, then that encoding compressed as one LZ4 block (bench/RESULTS.md,
// "LZ4 on the log": half the bytes of a group commit's entry for ~0.15 µs
// per message). Entries are written as 3 or 4; all four are read, so a log
// written before version 3 is still followed.
constexpr uint8_t kVersion1 = 1;
constexpr uint8_t kVersion1Lz4 = 2;
constexpr uint8_t kVersion = 3;
constexpr uint8_t kVersionLz4 = 4;
constexpr size_t kCompressFrom = 256;      // smaller entries stay version 1
constexpr size_t kMaxDecoded = 64u << 20;  // an entry never decodes to more

// The fields of each record, in declaration order, for both directions:
// Fields(a, x) hands every field of x to the archive a. Writer and Reader
// share these lists, so the two can never disagree on the order.
template <class A>
void Fields(A& a, User& x) {
  a(x.id, x.username, x.global_name, x.bot, x.password_hash, x.owner_id);
}
template <class A>
void Fields(A& a, Application& x) {
  a(x.id, x.name, x.owner_id, x.flags);
}
template <class A>
void Fields(A& a, Session& x) {
  a(x.hash, x.user_id, x.created_ms);
}
template <class A>
void Fields(A& a, Guild& x) {
  a(x.id, x.name, x.owner_id, x.description, x.icon);
}
template <class A>
void Fields(A& a, Role& x) {
  a(x.id, x.guild_id, x.name, x.permissions, x.position, x.color, x.hoist, x.mentionable);
}
template <class A>
void Fields(A& a, Overwrite& x) {
  a(x.id, x.type, x.allow, x.deny);
}
template <class A>
void Fields(A& a, Channel& x) {
  a(x.id, x.guild_id, x.type, x.name, x.topic, x.position, x.parent_id, x.nsfw,
    x.rate_limit_per_user, x.overwrites);
}
template <class A>
void Fields(A& a, Member& x) {
  a(x.guild_id, x.user_id, x.nick, x.roles, x.joined_at_ms);
}
template <class A>
void Fields(A& a, Invite& x) {
  a(x.code, x.guild_id, x.channel_id, x.inviter_id, x.created_ms, x.max_age, x.max_uses, x.uses,
    x.temporary);
}
template <class A>
void Fields(A& a, ApplicationCommand& x) {
  a(x.id, x.application_id, x.guild_id, x.type, x.name, x.version, x.body);
}
template <class A>
void Fields(A& a, Message& x) {
  a(x.id, x.channel_id, x.guild_id, x.author_id, x.content, x.nonce, x.edited_ms, x.tts, x.pinned,
    x.type, x.flags);
  if constexpr (A::schema::kLayout >= 3) a(x.embeds, x.ref_channel_id, x.ref_message_id);
}
template <class A>
void Fields(A& a, mut::PutUser& x) {
  a(x.user);
}
template <class A>
void Fields(A& a, mut::PutApplication& x) {
  a(x.app);
}
template <class A>
void Fields(A& a, mut::PutSession& x) {
  a(x.session);
}
template <class A>
void Fields(A& a, mut::DeleteSession& x) {
  a(x.hash);
}
template <class A>
void Fields(A& a, mut::DeleteUserSessions& x) {
  a(x.user_id);
}
template <class A>
void Fields(A& a, mut::PutGuild& x) {
  a(x.guild);
}
template <class A>
void Fields(A& a, mut::DeleteGuild& x) {
  a(x.guild_id);
}
template <class A>
void Fields(A& a, mut::PutChannel& x) {
  a(x.channel);
}
template <class A>
void Fields(A& a, mut::DeleteChannel& x) {
  a(x.channel_id);
}
template <class A>
void Fields(A& a, mut::PutRole& x) {
  a(x.role);
}
template <class A>
void Fields(A& a, mut::DeleteRole& x) {
  a(x.guild_id, x.role_id);
}
template <class A>
void Fields(A& a, mut::PutMember& x) {
  a(x.member);
}
template <class A>
void Fields(A& a, mut::DeleteMember& x) {
  a(x.guild_id, x.user_id);
}
template <class A>
void Fields(A& a, mut::PutInvite& x) {
  a(x.invite);
}
template <class A>
void Fields(A& a, mut::DeleteInvite& x) {
  a(x.code);
}
// A referenced message is read only with its own referenced list empty
// (Message has none): one level, never recursion.
template <class A>
void Fields(A& a, mut::InsertMessage& x) {
  a(x.message);
  if constexpr (A::schema::kLayout >= 3) a(x.referenced);
}
template <class A>
void Fields(A& a, mut::UpdateMessage& x) {
  a(x.message);
  if constexpr (A::schema::kLayout >= 3) a(x.referenced);
}
template <class A>
void Fields(A& a, mut::DeleteMessages& x) {
  a(x.channel_id, x.ids);
}
// Commands are new mutation tags (18, 19) of the same layout: a reader
// built before them refuses such an entry as an unknown tag.
template <class A>
void Fields(A& a, mut::PutCommand& x) {
  a(x.command);
}
template <class A>
void Fields(A& a, mut::DeleteCommand& x) {
  a(x.application_id, x.guild_id, x.id);
}

// Every record type of a mutation, for FieldWriter / FieldReader.
// kLayout: the entry version whose fields Fields() lists.
template <int Layout>
struct Schema {
  static constexpr int kLayout = Layout;
  template <class A, class T>
  static void Visit(A& a, T& x) {
    Fields(a, x);
  }
};
using Writer = FieldWriter<Schema<kVersion>>;
template <int Layout>
using Reader = FieldReader<Schema<Layout>>;

// Default-constructs alternative `tag` of Mutation in *m; false if there is
// none.
template <size_t I = 0>
bool Emplace(size_t tag, Mutation* m) {
  if constexpr (I == std::variant_size_v<Mutation>) {
    return false;
  } else {
    if (tag == I) {
      m->emplace<I>();
      return true;
    }
    return Emplace<I + 1>(tag, m);
  }
}

}  // namespace

namespace {
void EncodeV1(std::span<const WriteBatch* const> batches, std::string* out) {
  Writer w(out);
  out->push_back(static_cast<char>(kVersion));
  w.Varint(batches.size());
  for (const WriteBatch* b : batches) {
    w.Varint(b->size());
    for (const Mutation& m : *b) {
      w.Varint(m.index());
      std::visit([&w](const auto& x) { w(x); }, m);
    }
  }
}

}  // namespace

void EncodeBatches(std::span<const WriteBatch* const> batches, std::string* out) {
  std::string v1;
  EncodeV1(batches, &v1);
  if (v1.size() >= kCompressFrom && v1.size() <= kMaxDecoded) {
    std::string packed(static_cast<size_t>(LZ4_compressBound(static_cast<int>(v1.size()))), '\0');
    const int n = LZ4_compress_default(v1.data(), packed.data(), static_cast<int>(v1.size()),
                                       static_cast<int>(packed.size()));
    if (n > 0 && static_cast<size_t>(n) + 11 < v1.size()) {
      out->push_back(static_cast<char>(kVersionLz4));
      Writer w(out);
      w.Varint(v1.size());
      out->append(packed.data(), static_cast<size_t>(n));
      return;
    }
  }
  out->append(v1);
}

namespace {
template <int Layout>
Status DecodeUncompressed(std::string_view in, std::vector<WriteBatch>* out) {
  Reader<Layout> r(in.substr(1));
  const size_t n = r.Count();
  out->reserve(n);
  for (size_t i = 0; i < n && r.ok(); ++i) {
    WriteBatch& b = out->emplace_back();
    const size_t k = r.Count();
    b.reserve(k);
    for (size_t j = 0; j < k && r.ok(); ++j) {
      const uint64_t tag = r.Varint();
      Mutation& m = b.emplace_back();
      if (!r.ok() || !Emplace(static_cast<size_t>(tag), &m)) {
        r.Fail();
        break;
      }
      std::visit([&r](auto& x) { r(x); }, m);
    }
  }
  if (!r.ok()) {
    out->clear();
    return Status::Corruption("commit log entry: truncated or malformed");
  }
  if (!r.at_end()) {
    out->clear();
    return Status::Corruption("commit log entry: bytes after the last batch");
  }
  return Status::OK();
}
}  // namespace

Status DecodeBatches(std::string_view in, std::vector<WriteBatch>* out) {
  out->clear();
  const uint8_t version = in.empty() ? 0 : static_cast<uint8_t>(in[0]);
  if (version == kVersionLz4 || version == kVersion1Lz4) {
    const uint8_t inner = version == kVersionLz4 ? kVersion : kVersion1;
    Reader<kVersion> r(in.substr(1));
    const uint64_t size = r.Varint();
    const std::string_view packed = in.substr(in.size() - r.remaining());
    // LZ4 expands at most ~255 times: a larger claim is malformed, and no
    // buffer is ever larger than that (or than kMaxDecoded).
    if (!r.ok() || size == 0 || size > kMaxDecoded || size > 255 * packed.size() + 16)
      return Status::Corruption("commit log entry: bad compressed size");
    std::string v1(static_cast<size_t>(size), '\0');
    const int n = LZ4_decompress_safe(packed.data(), v1.data(), static_cast<int>(packed.size()),
                                      static_cast<int>(v1.size()));
    if (n < 0 || static_cast<uint64_t>(n) != size)
      return Status::Corruption("commit log entry: bad compressed block");
    if (static_cast<uint8_t>(v1[0]) != inner)
      return Status::Corruption("commit log entry: unknown version inside the compressed block");
    return DecodeBatches(v1, out);
  }
  if (version == kVersion) return DecodeUncompressed<kVersion>(in, out);
  if (version == kVersion1) return DecodeUncompressed<kVersion1>(in, out);
  return Status::Corruption("commit log entry: unknown version");
}

}  // namespace parley
