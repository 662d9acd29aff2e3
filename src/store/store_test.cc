// The store suite: every test here runs on every StoreBackend (SQLite, and
// PostgreSQL when a test server is configured), so that the backends keep
// exactly the same contract (store/store.h), as nats-server's store tests
// run on both of its stores. Tests of one engine's own mechanics live beside
// that engine (sqlite_store_test.cc, postgres_store_test.cc).
#include "store/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "store/commit_queue.h"
#include "store/open_store.h"
#include "store/test_support/postgres_test_db.h"

// Records are built with designated initializers naming only the fields a
// test cares about; the rest keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace parley {
namespace {

// Field-by-field renderings, so that records compare with readable diffs.
std::string Str(const User& u) {
  std::ostringstream o;
  o << "User{" << u.id << "," << u.username << "," << u.global_name << "," << u.bot << ","
    << u.password_hash << "," << u.owner_id << "}";
  return o.str();
}
std::string Str(const Application& a) {
  std::ostringstream o;
  o << "App{" << a.id << "," << a.name << "," << a.owner_id << "," << a.flags << "}";
  return o.str();
}
std::string Str(const Session& s) {
  std::ostringstream o;
  o << "Session{";
  for (uint8_t b : s.hash) o << int{b} << ".";
  o << "," << s.user_id << "," << s.created_ms << "}";
  return o.str();
}
std::string Str(const Guild& g) {
  std::ostringstream o;
  o << "Guild{" << g.id << "," << g.name << "," << g.owner_id << "," << g.description << ","
    << g.icon << "}";
  return o.str();
}
std::string Str(const Channel& c) {
  std::ostringstream o;
  o << "Channel{" << c.id << "," << c.guild_id << "," << c.type << "," << c.name << "," << c.topic
    << "," << c.position << "," << c.parent_id << "," << c.nsfw << "," << c.rate_limit_per_user
    << ",[";
  for (const Overwrite& w : c.overwrites) {
    o << w.id << ":" << w.type << ":" << w.allow << ":" << w.deny << ";";
  }
  o << "]}";
  return o.str();
}
std::string Str(const Role& r) {
  std::ostringstream o;
  o << "Role{" << r.id << "," << r.guild_id << "," << r.name << "," << r.permissions << ","
    << r.position << "," << r.color << "," << r.hoist << "," << r.mentionable << "}";
  return o.str();
}
std::string Str(const Member& m) {
  std::ostringstream o;
  o << "Member{" << m.guild_id << "," << m.user_id << "," << m.nick << ",[";
  for (Snowflake r : m.roles) o << r << ";";
  o << "]," << m.joined_at_ms << "}";
  return o.str();
}
std::string Str(const Invite& i) {
  std::ostringstream o;
  o << "Invite{" << i.code << "," << i.guild_id << "," << i.channel_id << "," << i.inviter_id << ","
    << i.created_ms << "," << i.max_age << "," << i.max_uses << "," << i.uses << "," << i.temporary
    << "}";
  return o.str();
}
std::string Str(const ApplicationCommand& c) {
  std::ostringstream o;
  o << "Command{" << c.id << "," << c.application_id << "," << c.guild_id << "," << c.type << ","
    << c.name << "," << c.version << "," << c.body << "}";
  return o.str();
}
std::string Str(const Message& m) {
  std::ostringstream o;
  o << "Message{" << m.id << "," << m.channel_id << "," << m.guild_id << "," << m.author_id << ","
    << m.content << "," << m.nonce << "," << m.edited_ms << "," << m.tts << "," << m.pinned << ","
    << m.type << "," << m.flags << "," << m.embeds << "," << m.ref_channel_id << ","
    << m.ref_message_id << "}";
  return o.str();
}
template <typename T>
std::vector<std::string> Strs(const std::vector<T>& v) {
  std::vector<std::string> out;
  for (const T& x : v) out.push_back(Str(x));
  return out;
}

// Ids in the range real snowflakes take (bit 62 set), to exercise the int64
// storage.
constexpr Snowflake kBase = Snowflake{1} << 62;
constexpr Snowflake Id(uint64_t k) {
  return kBase + k;
}

Message Msg(Snowflake channel, Snowflake id, Snowflake guild = Id(1)) {
  Message m;
  m.id = id;
  m.channel_id = channel;
  m.guild_id = guild;
  m.author_id = Id(2);
  m.content = "message " + std::to_string(id - kBase);
  return m;
}

// Where one test's store lives: a fresh, empty location per test, removed
// when the test ends. url() is what OpenStore takes.
class StoreLocation {
 public:
  virtual ~StoreLocation() = default;
  virtual std::string url() const = 0;
};

class SqliteLocation : public StoreLocation {
 public:
  SqliteLocation() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "parley_store_XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) root_ = tmpl;
  }
  ~SqliteLocation() override {
    std::error_code ec;
    if (!root_.empty()) std::filesystem::remove_all(root_, ec);
  }
  // A directory that does not exist yet: opening must create it.
  std::string url() const override { return "sqlite:" + root_ + "/data/db/parley.db"; }

 private:
  std::string root_;
};

class PostgresLocation : public StoreLocation {
 public:
  std::string url() const override { return db_.conninfo(); }

 private:
  PostgresTestDb db_;
};

struct Backend {
  const char* name;
  // "" when the backend can run here, else why not (the test is skipped).
  std::function<std::string()> unavailable;
  std::function<std::unique_ptr<StoreLocation>()> make;
};

const Backend kSqlite{"Sqlite", [] { return std::string(); },
                      [] { return std::make_unique<SqliteLocation>(); }};
const Backend kPostgres{"Postgres",
                        [] {
                          return PostgresTestServer().empty()
                                     ? std::string("PARLEY_TEST_PG is not set (no test server)")
                                     : std::string();
                        },
                        [] { return std::make_unique<PostgresLocation>(); }};

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (std::string why = GetParam().unavailable(); !why.empty()) {
      // In CI the PostgreSQL suite must run, never silently skip.
      if (const char* req = getenv("PARLEY_REQUIRE_PG"); req && std::string(req) == "1") {
        FAIL() << GetParam().name << " backend required but unavailable: " << why;
      }
      GTEST_SKIP() << why;
    }
    location_ = GetParam().make();
    Status s = OpenStore(location_->url(), {}, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void TearDown() override {
    store_.reset();
    location_.reset();
  }

  void Reopen() {
    store_.reset();
    Status s = OpenStore(location_->url(), {}, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Status Commit(const WriteBatch& b, CommitPosition* pos = nullptr) {
    const WriteBatch* p = &b;
    return store_->CommitBatches(std::span<const WriteBatch* const>(&p, 1), pos);
  }
  Status Commit(const WriteBatch& a, const WriteBatch& b, CommitPosition* pos = nullptr) {
    const WriteBatch* p[] = {&a, &b};
    return store_->CommitBatches(p, pos);
  }
  Snapshot Load() {
    Snapshot snap;
    Status s = store_->LoadAll(&snap);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return snap;
  }
  std::vector<Snowflake> MessageIds(Snowflake channel) {
    std::vector<Message> out;
    HistoryQuery q{.channel_id = channel, .mode = HistoryQuery::Mode::kLatest, .limit = 100};
    Status s = store_->ListMessages(q, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<Snowflake> ids;
    for (const Message& m : out) ids.push_back(m.id);
    return ids;
  }

  std::unique_ptr<StoreLocation> location_;
  std::unique_ptr<StoreBackend> store_;
};

TEST_P(StoreTest, EveryRecordTypeRoundTrips) {
  User alice{.id = Id(10),
             .username = "Alice",
             .global_name = "Alice \xF0\x9F\x8C\xB8 A.",
             .bot = false,
             .password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
             .owner_id = 0};
  User bot{.id = Id(11), .username = "helper_bot", .bot = true, .owner_id = Id(10)};
  Application app{
      .id = Id(11), .name = "Helper", .owner_id = Id(10), .flags = (uint64_t{1} << 63) | 5};
  Session sess{.user_id = Id(10), .created_ms = 1700000000123};
  for (size_t i = 0; i < sess.hash.size(); ++i) sess.hash[i] = static_cast<uint8_t>(255 - i * 7);
  Guild guild{.id = Id(20),
              .name = "Garden",
              .owner_id = Id(10),
              .description = "a 'quoted' one",
              .icon = "abc123"};
  Channel category{.id = Id(30), .guild_id = Id(20), .type = 4, .name = "Text", .position = 0};
  Channel general{
      .id = Id(31),
      .guild_id = Id(20),
      .type = 0,
      .name = "general",
      .topic = "talk; here: now",
      .position = 2,
      .parent_id = Id(30),
      .nsfw = true,
      .rate_limit_per_user = 5,
      .overwrites = {
          {.id = Id(20), .type = 0, .allow = 0, .deny = 1024},
          {.id = Id(10), .type = 1, .allow = ~uint64_t{0} >> 1, .deny = uint64_t{1} << 63}}};
  Role everyone{.id = Id(20), .guild_id = Id(20), .name = "@everyone", .permissions = 104324673};
  Role mod{.id = Id(40),
           .guild_id = Id(20),
           .name = "Mod",
           .permissions = uint64_t{1} << 50,
           .position = 3,
           .color = 0xFFFFFF,
           .hoist = true,
           .mentionable = true};
  Member m1{.guild_id = Id(20),
            .user_id = Id(10),
            .nick = "Ali",
            .roles = {Id(40), Id(41)},
            .joined_at_ms = 1700000000000};
  Member m2{.guild_id = Id(20), .user_id = Id(11), .joined_at_ms = 1700000000001};
  Invite inv{.code = "AbC123xy",
             .guild_id = Id(20),
             .channel_id = Id(31),
             .inviter_id = Id(10),
             .created_ms = 1700000000500,
             .max_age = 0,
             .max_uses = 10,
             .uses = 3,
             .temporary = true};
  ApplicationCommand global{.id = Id(60),
                            .application_id = Id(11),
                            .type = 1,
                            .name = "ping",
                            .version = Id(61),
                            .body = R"({"description":"Pong? \u00e9 Ã©","options":[]})"};
  ApplicationCommand in_guild{.id = Id(62),
                              .application_id = Id(11),
                              .guild_id = Id(20),
                              .type = 3,
                              .name = "Quote This",
                              .version = Id(62),
                              .body = "{}"};

  WriteBatch b1{mut::PutUser{alice},     mut::PutUser{bot},    mut::PutApplication{app},
                mut::PutSession{sess},   mut::PutGuild{guild}, mut::PutChannel{category},
                mut::PutChannel{general}};
  WriteBatch b2{mut::PutRole{everyone},
                mut::PutRole{mod},
                mut::PutMember{m1},
                mut::PutMember{m2},
                mut::PutInvite{inv},
                mut::InsertMessage{Msg(Id(31), Id(100))},
                mut::InsertMessage{Msg(Id(31), Id(101))},
                mut::InsertMessage{Msg(Id(30), Id(50))},
                mut::PutCommand{in_guild},
                mut::PutCommand{global}};
  ASSERT_TRUE(Commit(b1, b2).ok());

  // Upserts replace in place.
  alice.global_name = "Alice 2";
  inv.uses = 4;
  m1.roles = {Id(41)};
  global.version = Id(63);
  global.body = R"({"description":"v2"})";
  ASSERT_TRUE(Commit({mut::PutUser{alice}, mut::PutInvite{inv}, mut::PutMember{m1},
                      mut::PutCommand{global}})
                  .ok());

  Reopen();
  Snapshot snap = Load();
  EXPECT_EQ(Strs(snap.users), Strs(std::vector<User>{alice, bot}));
  EXPECT_EQ(Strs(snap.applications), Strs(std::vector<Application>{app}));
  EXPECT_EQ(Strs(snap.sessions), Strs(std::vector<Session>{sess}));
  EXPECT_EQ(Strs(snap.guilds), Strs(std::vector<Guild>{guild}));
  EXPECT_EQ(Strs(snap.channels), Strs(std::vector<Channel>{category, general}));
  EXPECT_EQ(Strs(snap.roles), Strs(std::vector<Role>{everyone, mod}));
  EXPECT_EQ(Strs(snap.members), Strs(std::vector<Member>{m1, m2}));
  EXPECT_EQ(Strs(snap.invites), Strs(std::vector<Invite>{inv}));
  EXPECT_EQ(Strs(snap.commands), Strs(std::vector<ApplicationCommand>{global, in_guild}));
  EXPECT_EQ(snap.last_message_ids,
            (std::vector<std::pair<Snowflake, Snowflake>>{{Id(30), Id(50)}, {Id(31), Id(101)}}));
}

TEST_P(StoreTest, MessageRoundTripAndUpdate) {
  Message m = Msg(Id(31), Id(100));
  m.content = "h\xC3\xA9llo\n\"world\" \xF0\x9F\x98\x80";
  m.nonce = "not stored";
  m.tts = true;
  m.type = 19;
  m.flags = 4;
  m.embeds = "[{\"type\":\"rich\",\"title\":\"h\xC3\xA9\"}]";
  m.ref_channel_id = Id(31);
  m.ref_message_id = Id(99);
  ASSERT_TRUE(Commit({mut::InsertMessage{m, {Msg(Id(31), Id(99))}}}).ok());
  Message got;
  ASSERT_TRUE(store_->GetMessage(Id(31), Id(100), &got).ok());
  Message want = m;
  want.nonce.clear();
  EXPECT_EQ(Str(got), Str(want));

  Message edit = m;
  edit.content = "edited";
  edit.edited_ms = 1700000009999;
  edit.pinned = true;
  edit.flags = 2;
  edit.tts = false;  // not updatable
  edit.type = 0;     // not updatable
  edit.embeds = "[]";
  edit.ref_message_id = 0;  // not updatable
  ASSERT_TRUE(Commit({mut::UpdateMessage{edit}}).ok());
  Reopen();
  ASSERT_TRUE(store_->GetMessage(Id(31), Id(100), &got).ok());
  want.content = "edited";
  want.edited_ms = 1700000009999;
  want.pinned = true;
  want.flags = 2;
  want.embeds = "[]";
  EXPECT_EQ(Str(got), Str(want));

  EXPECT_TRUE(store_->GetMessage(Id(31), Id(101), &got).IsNotFound());
  EXPECT_TRUE(store_->GetMessage(Id(32), Id(100), &got).IsNotFound());  // other channel
  // Updating a missing message is a no-op, not an error.
  EXPECT_TRUE(Commit({mut::UpdateMessage{Msg(Id(31), Id(555))}}).ok());
}

TEST_P(StoreTest, DuplicateMessageIdIsAConflictAndRollsBack) {
  ASSERT_TRUE(Commit({mut::InsertMessage{Msg(Id(31), Id(100))}}).ok());
  Status s =
      Commit({mut::InsertMessage{Msg(Id(31), Id(101))}, mut::InsertMessage{Msg(Id(31), Id(100))}});
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  EXPECT_EQ(MessageIds(Id(31)), std::vector<Snowflake>{Id(100)});
  // The same id in another channel is another message.
  EXPECT_TRUE(Commit({mut::InsertMessage{Msg(Id(32), Id(100))}}).ok());
}

TEST_P(StoreTest, UsernameIsUniqueCaseInsensitively) {
  ASSERT_TRUE(Commit({mut::PutUser{User{.id = Id(1), .username = "Alice"}}}).ok());
  // Another user may not take it, in any case; the whole transaction (both
  // batches) rolls back.
  WriteBatch ok_batch{mut::PutGuild{Guild{.id = Id(9), .name = "g"}}};
  WriteBatch bad_batch{mut::PutUser{User{.id = Id(2), .username = "aLICE"}}};
  Status s = Commit(ok_batch, bad_batch);
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  Snapshot snap = Load();
  EXPECT_TRUE(snap.guilds.empty());
  ASSERT_EQ(snap.users.size(), 1u);
  EXPECT_EQ(snap.users[0].id, Id(1));
  EXPECT_EQ(snap.users[0].username, "Alice");

  // The owner may change its case; once renamed the old name is free.
  EXPECT_TRUE(Commit({mut::PutUser{User{.id = Id(1), .username = "ALICE"}}}).ok());
  EXPECT_TRUE(Commit({mut::PutUser{User{.id = Id(1), .username = "bob"}}}).ok());
  EXPECT_TRUE(Commit({mut::PutUser{User{.id = Id(2), .username = "alice"}}}).ok());
  EXPECT_TRUE(Commit({mut::PutUser{User{.id = Id(3), .username = "Bob"}}}).IsConflict());
  EXPECT_EQ(Load().users.size(), 2u);
}

TEST_P(StoreTest, DeleteGuildCascades) {
  auto guild_rows = [](Snowflake g, Snowflake c) {
    return WriteBatch{
        mut::PutGuild{Guild{.id = g, .name = "g"}},
        mut::PutChannel{Channel{.id = c, .guild_id = g, .name = "a"}},
        mut::PutChannel{Channel{.id = c + 1, .guild_id = g, .name = "b"}},
        mut::PutRole{Role{.id = g, .guild_id = g, .name = "@everyone"}},
        mut::PutRole{Role{.id = g + 1, .guild_id = g, .name = "r"}},
        mut::PutMember{Member{.guild_id = g, .user_id = Id(1), .roles = {g + 1}}},
        mut::PutMember{Member{.guild_id = g, .user_id = Id(2)}},
        mut::PutInvite{Invite{.code = "inv" + std::to_string(c), .guild_id = g, .channel_id = c}},
        mut::InsertMessage{Msg(c, Id(1000), g)},
        mut::InsertMessage{Msg(c + 1, Id(1001), g)},
        mut::PutCommand{ApplicationCommand{.id = c + 5, .application_id = Id(3), .guild_id = g}},
    };
  };
  ASSERT_TRUE(Commit(guild_rows(Id(100), Id(110)), guild_rows(Id(200), Id(210))).ok());
  ASSERT_TRUE(Commit({mut::DeleteGuild{Id(100)}}).ok());

  Reopen();
  Snapshot snap = Load();
  ASSERT_EQ(snap.guilds.size(), 1u);
  EXPECT_EQ(snap.guilds[0].id, Id(200));
  for (const Channel& c : snap.channels) EXPECT_EQ(c.guild_id, Id(200));
  for (const Role& r : snap.roles) EXPECT_EQ(r.guild_id, Id(200));
  for (const Member& m : snap.members) EXPECT_EQ(m.guild_id, Id(200));
  for (const Invite& i : snap.invites) EXPECT_EQ(i.guild_id, Id(200));
  ASSERT_EQ(snap.commands.size(), 1u);
  EXPECT_EQ(snap.commands[0].guild_id, Id(200));
  EXPECT_EQ(snap.channels.size(), 2u);
  EXPECT_EQ(snap.roles.size(), 2u);
  EXPECT_EQ(snap.members.size(), 2u);
  EXPECT_EQ(snap.invites.size(), 1u);
  EXPECT_TRUE(MessageIds(Id(110)).empty());
  EXPECT_TRUE(MessageIds(Id(111)).empty());
  EXPECT_EQ(MessageIds(Id(210)), std::vector<Snowflake>{Id(1000)});
  EXPECT_EQ(MessageIds(Id(211)), std::vector<Snowflake>{Id(1001)});
  EXPECT_EQ(snap.last_message_ids, (std::vector<std::pair<Snowflake, Snowflake>>{
                                       {Id(210), Id(1000)}, {Id(211), Id(1001)}}));
}

TEST_P(StoreTest, DeleteChannelCascadesToItsInvitesAndMessages) {
  ASSERT_TRUE(
      Commit({
                 mut::PutChannel{Channel{.id = Id(10), .guild_id = Id(1)}},
                 mut::PutChannel{Channel{.id = Id(11), .guild_id = Id(1)}},
                 mut::PutInvite{Invite{.code = "a", .guild_id = Id(1), .channel_id = Id(10)}},
                 mut::PutInvite{Invite{.code = "b", .guild_id = Id(1), .channel_id = Id(11)}},
                 mut::InsertMessage{Msg(Id(10), Id(100))},
                 mut::InsertMessage{Msg(Id(10), Id(101))},
                 mut::InsertMessage{Msg(Id(11), Id(102))},
             })
          .ok());
  ASSERT_TRUE(Commit({mut::DeleteChannel{Id(10)}}).ok());
  Snapshot snap = Load();
  ASSERT_EQ(snap.channels.size(), 1u);
  EXPECT_EQ(snap.channels[0].id, Id(11));
  ASSERT_EQ(snap.invites.size(), 1u);
  EXPECT_EQ(snap.invites[0].code, "b");
  EXPECT_TRUE(MessageIds(Id(10)).empty());
  EXPECT_EQ(MessageIds(Id(11)), std::vector<Snowflake>{Id(102)});
}

TEST_P(StoreTest, DeleteRoleDropsItFromTheGuildsMembersOnly) {
  // Role 12 must not be confused with role 123 (same decimal prefix).
  const Snowflake g = 1, other = 2;
  ASSERT_TRUE(Commit({
                         mut::PutRole{Role{.id = 12, .guild_id = g}},
                         mut::PutRole{Role{.id = 123, .guild_id = g}},
                         mut::PutMember{Member{.guild_id = g, .user_id = 1, .roles = {12, 123}}},
                         mut::PutMember{Member{.guild_id = g, .user_id = 2, .roles = {123, 12}}},
                         mut::PutMember{Member{.guild_id = g, .user_id = 3, .roles = {12}}},
                         mut::PutMember{Member{.guild_id = g, .user_id = 4, .roles = {123}}},
                         mut::PutMember{Member{.guild_id = g, .user_id = 5}},
                         mut::PutMember{Member{.guild_id = other, .user_id = 1, .roles = {12}}},
                     })
                  .ok());
  ASSERT_TRUE(Commit({mut::DeleteRole{g, 12}}).ok());
  Reopen();
  Snapshot snap = Load();
  ASSERT_EQ(snap.roles.size(), 1u);
  EXPECT_EQ(snap.roles[0].id, 123u);
  std::vector<std::string> want = Strs(std::vector<Member>{
      {.guild_id = g, .user_id = 1, .roles = {123}},
      {.guild_id = g, .user_id = 2, .roles = {123}},
      {.guild_id = g, .user_id = 3, .roles = {}},
      {.guild_id = g, .user_id = 4, .roles = {123}},
      {.guild_id = g, .user_id = 5, .roles = {}},
      {.guild_id = other, .user_id = 1, .roles = {12}},
  });
  EXPECT_EQ(Strs(snap.members), want);
}

TEST_P(StoreTest, DeletesOfSessionsMembersInvitesMessages) {
  auto session = [](uint8_t tag, Snowflake user) {
    Session s{.user_id = user, .created_ms = tag};
    s.hash.fill(tag);
    return s;
  };
  ASSERT_TRUE(Commit({
                         mut::PutSession{session(1, Id(1))},
                         mut::PutSession{session(2, Id(1))},
                         mut::PutSession{session(3, Id(1))},
                         mut::PutSession{session(4, Id(2))},
                         mut::PutMember{Member{.guild_id = Id(5), .user_id = Id(1)}},
                         mut::PutMember{Member{.guild_id = Id(5), .user_id = Id(2)}},
                         mut::PutInvite{Invite{.code = "x"}},
                         mut::PutInvite{Invite{.code = "y"}},
                         mut::InsertMessage{Msg(Id(7), Id(1))},
                         mut::InsertMessage{Msg(Id(7), Id(2))},
                         mut::InsertMessage{Msg(Id(7), Id(3))},
                         mut::InsertMessage{Msg(Id(8), Id(2))},
                         mut::PutCommand{ApplicationCommand{.id = Id(20), .application_id = Id(3)}},
                         mut::PutCommand{ApplicationCommand{.id = Id(21), .application_id = Id(3)}},
                         mut::PutCommand{ApplicationCommand{
                             .id = Id(22), .application_id = Id(3), .guild_id = Id(5)}},
                     })
                  .ok());
  TokenHash h1;
  h1.fill(1);
  ASSERT_TRUE(Commit({
                         mut::DeleteSession{h1},
                         mut::DeleteUserSessions{Id(2)},
                         mut::DeleteMember{Id(5), Id(1)},
                         mut::DeleteInvite{"x"},
                         mut::DeleteMessages{Id(7), {Id(1), Id(3), Id(99)}},
                         mut::DeleteInvite{"no such invite"},
                         mut::DeleteCommand{Id(3), 0, Id(20)},
                         // Another application's, or another scope's: no-ops.
                         mut::DeleteCommand{Id(4), 0, Id(21)},
                         mut::DeleteCommand{Id(3), Id(6), Id(22)},
                         mut::DeleteCommand{Id(3), 0, Id(99)},
                     })
                  .ok());
  Snapshot snap = Load();
  EXPECT_EQ(Strs(snap.sessions), Strs(std::vector<Session>{session(2, Id(1)), session(3, Id(1))}));
  ASSERT_EQ(snap.members.size(), 1u);
  EXPECT_EQ(snap.members[0].user_id, Id(2));
  ASSERT_EQ(snap.invites.size(), 1u);
  EXPECT_EQ(snap.invites[0].code, "y");
  EXPECT_EQ(MessageIds(Id(7)), std::vector<Snowflake>{Id(2)});
  EXPECT_EQ(MessageIds(Id(8)), std::vector<Snowflake>{Id(2)});
  ASSERT_EQ(snap.commands.size(), 2u);
  EXPECT_EQ(snap.commands[0].id, Id(21));
  EXPECT_EQ(snap.commands[1].id, Id(22));

  ASSERT_TRUE(Commit({mut::DeleteUserSessions{Id(1)}}).ok());
  EXPECT_TRUE(Load().sessions.empty());
}

// History: channel Id(1) holds Id(10), Id(20), ..., Id(100); channel Id(2)
// holds interleaved ids that must never show up in channel 1's pages.
class StoreHistoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    WriteBatch b;
    for (uint64_t k = 10; k <= 100; k += 10) b.push_back(mut::InsertMessage{Msg(Id(1), Id(k))});
    for (uint64_t k : {5, 15, 55, 105}) b.push_back(mut::InsertMessage{Msg(Id(2), Id(k))});
    ASSERT_TRUE(Commit(b).ok());
  }
  // The page's ids minus kBase; {-1} on error.
  std::vector<int64_t> Page(HistoryQuery::Mode mode, int64_t anchor, int limit,
                            Snowflake channel = Id(1)) {
    HistoryQuery q{.channel_id = channel,
                   .mode = mode,
                   .anchor = anchor < 0 ? 0 : Id(static_cast<uint64_t>(anchor)),
                   .limit = limit};
    std::vector<Message> out;
    Status s = store_->ListMessages(q, &out);
    if (!s.ok()) return {-1};
    std::vector<int64_t> ids;
    for (const Message& m : out) {
      EXPECT_EQ(m.channel_id, channel);
      ids.push_back(static_cast<int64_t>(m.id - kBase));
    }
    return ids;
  }
  using V = std::vector<int64_t>;
  static constexpr auto kLatest = HistoryQuery::Mode::kLatest;
  static constexpr auto kBefore = HistoryQuery::Mode::kBefore;
  static constexpr auto kAfter = HistoryQuery::Mode::kAfter;
  static constexpr auto kAround = HistoryQuery::Mode::kAround;
};

TEST_P(StoreHistoryTest, Latest) {
  EXPECT_EQ(Page(kLatest, 0, 3), (V{100, 90, 80}));
  EXPECT_EQ(Page(kLatest, 0, 1), (V{100}));
  EXPECT_EQ(Page(kLatest, 0, 50), (V{100, 90, 80, 70, 60, 50, 40, 30, 20, 10}));
  EXPECT_EQ(Page(kLatest, 0, 5, Id(3)), (V{}));  // empty channel
  EXPECT_EQ(Page(kLatest, 0, 5, Id(2)), (V{105, 55, 15, 5}));
}

TEST_P(StoreHistoryTest, Before) {
  EXPECT_EQ(Page(kBefore, 50, 2), (V{40, 30}));
  EXPECT_EQ(Page(kBefore, 55, 3), (V{50, 40, 30}));  // anchor not a message
  EXPECT_EQ(Page(kBefore, 25, 5), (V{20, 10}));      // fewer than limit
  EXPECT_EQ(Page(kBefore, 10, 5), (V{}));            // nothing older
  EXPECT_EQ(Page(kBefore, 1000, 2), (V{100, 90}));
  EXPECT_EQ(Page(kBefore, 100, 1), (V{90}));
}

TEST_P(StoreHistoryTest, After) {
  EXPECT_EQ(Page(kAfter, 50, 2), (V{70, 60}));      // the oldest after, newest first
  EXPECT_EQ(Page(kAfter, 55, 2), (V{70, 60}));      // anchor not a message
  EXPECT_EQ(Page(kAfter, 85, 5), (V{100, 90}));     // fewer than limit
  EXPECT_EQ(Page(kAfter, 100, 5), (V{}));           // nothing newer
  EXPECT_EQ(Page(kAfter, -1, 3), (V{30, 20, 10}));  // after 0: from the start
  EXPECT_EQ(Page(kAfter, 10, 1), (V{20}));
}

TEST_P(StoreHistoryTest, Around) {
  // Even limit: limit/2 at or before the anchor, limit/2 after it.
  EXPECT_EQ(Page(kAround, 50, 4), (V{70, 60, 50, 40}));
  // Odd limit: the extra one goes to the older side (the anchor's).
  EXPECT_EQ(Page(kAround, 50, 5), (V{70, 60, 50, 40, 30}));
  EXPECT_EQ(Page(kAround, 55, 4), (V{70, 60, 50, 40}));  // anchor not a message
  EXPECT_EQ(Page(kAround, 55, 3), (V{60, 50, 40}));
  EXPECT_EQ(Page(kAround, 50, 1), (V{50}));
  EXPECT_EQ(Page(kAround, 55, 1), (V{50}));
  EXPECT_EQ(Page(kAround, 50, 2), (V{60, 50}));
  EXPECT_EQ(Page(kAround, 10, 4), (V{30, 20, 10}));    // at the oldest edge
  EXPECT_EQ(Page(kAround, 100, 5), (V{100, 90, 80}));  // at the newest edge
  EXPECT_EQ(Page(kAround, 5, 4), (V{20, 10}));         // before everything
  EXPECT_EQ(Page(kAround, 500, 4), (V{100, 90}));      // after everything
  EXPECT_EQ(Page(kAround, 50, 100), (V{100, 90, 80, 70, 60, 50, 40, 30, 20, 10}));
}

TEST_P(StoreHistoryTest, LimitOutOfRangeIsInvalid) {
  std::vector<Message> out{Message{}};
  HistoryQuery q{.channel_id = Id(1), .limit = 0};
  EXPECT_EQ(store_->ListMessages(q, &out).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(out.empty());
  q.limit = 101;
  EXPECT_EQ(store_->ListMessages(q, &out).code(), Status::Code::kInvalidArgument);
  q.limit = 100;
  EXPECT_TRUE(store_->ListMessages(q, &out).ok());
  EXPECT_EQ(out.size(), 10u);
}

TEST_P(StoreTest, ConcurrentReadersWhileTheWriterCommits) {
  constexpr uint64_t kMessages = 600;
  const Snowflake channel = Id(1);
  std::atomic<bool> writing{true};
  std::atomic<int> errors{0};
  std::atomic<uint64_t> reads{0};

  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      Snowflake newest_seen = 0;
      do {
        std::vector<Message> page;
        HistoryQuery q{.channel_id = channel, .mode = HistoryQuery::Mode::kLatest, .limit = 20};
        if (!store_->ListMessages(q, &page).ok()) {
          ++errors;
          continue;
        }
        // Messages commit in id order, so a page is consecutive ids, newest
        // first, and the newest never goes back in time.
        for (size_t i = 1; i < page.size(); ++i) {
          if (page[i].id + 1 != page[i - 1].id) ++errors;
        }
        if (!page.empty()) {
          if (page[0].id < newest_seen) ++errors;
          newest_seen = page[0].id;
          Message m;
          if (!store_->GetMessage(channel, page.back().id, &m).ok()) ++errors;
        }
        ++reads;
      } while (writing.load());
    });
  }

  {
    CommitQueue queue(store_.get(), {});
    std::atomic<uint64_t> acked{0};
    for (uint64_t k = 1; k <= kMessages; ++k) {
      queue.Submit({mut::InsertMessage{Msg(channel, Id(k))}}, [&, k](Status s, const WriteBatch&) {
        if (!s.ok()) ++errors;
        // Read-your-writes: once acknowledged, the message is visible.
        Message m;
        if (!store_->GetMessage(channel, Id(k), &m).ok()) ++errors;
        ++acked;
      });
      if (k % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    queue.Stop();
    EXPECT_EQ(acked.load(), kMessages);
    EXPECT_EQ(queue.stats().failed_batches, 0u);
  }
  writing = false;
  for (auto& th : readers) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(Load().last_message_ids,
            (std::vector<std::pair<Snowflake, Snowflake>>{{channel, Id(kMessages)}}));
}

// Positions: 1, 2, 3, ... one per successful transaction, however many
// batches it holds; a failed transaction uses none; a snapshot says up to
// which position it holds; positions go on across a reopen.
TEST_P(StoreTest, CommitsReportTheirPosition) {
  EXPECT_EQ(Load().position, 0u);
  CommitPosition pos = 99;
  ASSERT_TRUE(Commit({mut::PutGuild{Guild{.id = Id(1), .name = "a"}}}, &pos).ok());
  EXPECT_EQ(pos, 1u);
  ASSERT_TRUE(Commit({mut::PutGuild{Guild{.id = Id(2), .name = "b"}}},
                     {mut::PutGuild{Guild{.id = Id(3), .name = "c"}}}, &pos)
                  .ok());
  EXPECT_EQ(pos, 2u);
  ASSERT_TRUE(Commit({mut::InsertMessage{Msg(Id(5), Id(6))}}).ok());  // no position wanted
  // A failed transaction: nothing of it stays, no position is used up.
  pos = 77;
  Status s = Commit(
      {mut::PutGuild{Guild{.id = Id(4), .name = "d"}}, mut::InsertMessage{Msg(Id(5), Id(6))}},
      &pos);
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  EXPECT_EQ(pos, 77u);
  Snapshot snap = Load();
  EXPECT_EQ(snap.position, 3u);
  EXPECT_EQ(snap.guilds.size(), 3u);
  Reopen();
  EXPECT_EQ(Load().position, 3u);
  ASSERT_TRUE(Commit({mut::PutGuild{Guild{.id = Id(4), .name = "d"}}}, &pos).ok());
  EXPECT_EQ(pos, 4u);
  EXPECT_EQ(Load().position, 4u);
}

// CommitBuilt: the builder sees the head, its batch commits right after it;
// a rejected or empty build commits nothing and uses up no position.
TEST_P(StoreTest, CommitBuiltDecidesAtTheHeadAndCommitsAfterIt) {
  ASSERT_TRUE(Commit({mut::PutGuild{Guild{.id = Id(1), .name = "a"}}}).ok());
  ASSERT_TRUE(Commit({mut::PutGuild{Guild{.id = Id(2), .name = "b"}}}).ok());
  CommitPosition seen = 0, pos = 0;
  Status s = store_->CommitBuilt(
      [&](CommitPosition head, WriteBatch* b) {
        seen = head;
        b->push_back(mut::PutGuild{Guild{.id = Id(3), .name = "c"}});
        return Status::OK();
      },
      &pos);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seen, 2u);
  EXPECT_EQ(pos, 3u);

  pos = 77;
  s = store_->CommitBuilt(
      [&](CommitPosition head, WriteBatch* b) {
        seen = head;
        b->push_back(mut::PutGuild{Guild{.id = Id(4), .name = "d"}});
        return Status::InvalidArgument("refused");
      },
      &pos);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(pos, 77u);
  s = store_->CommitBuilt([](CommitPosition, WriteBatch*) { return Status::OK(); }, &pos);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(pos, 77u);
  // A statement that fails (a duplicate message) rolls the whole batch back.
  ASSERT_TRUE(Commit({mut::InsertMessage{Msg(Id(5), Id(6))}}).ok());
  s = store_->CommitBuilt(
      [&](CommitPosition, WriteBatch* b) {
        b->push_back(mut::PutGuild{Guild{.id = Id(7), .name = "e"}});
        b->push_back(mut::InsertMessage{Msg(Id(5), Id(6))});
        return Status::OK();
      },
      &pos);
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  EXPECT_EQ(pos, 77u);

  Snapshot snap = Load();
  EXPECT_EQ(snap.position, 4u);
  ASSERT_EQ(snap.guilds.size(), 3u);
  EXPECT_EQ(snap.guilds[2].name, "c");
  // The store is usable afterwards, positions go on.
  ASSERT_TRUE(Commit({mut::PutGuild{Guild{.id = Id(8), .name = "f"}}}, &pos).ok());
  EXPECT_EQ(pos, 5u);
}

// Ids at the top of the storable range and anchors past it.
TEST_P(StoreTest, ExtremeIdsAndAnchors) {
  const Snowflake top = (Snowflake{1} << 63) - 1;
  ASSERT_TRUE(Commit({mut::InsertMessage{Msg(top, top - 1)}, mut::InsertMessage{Msg(top, top)},
                      mut::PutUser{User{.id = top, .username = "top", .owner_id = top}}})
                  .ok());
  Message m;
  ASSERT_TRUE(store_->GetMessage(top, top, &m).ok());
  EXPECT_EQ(m.id, top);
  EXPECT_EQ(m.channel_id, top);
  std::vector<Message> out;
  HistoryQuery q{
      .channel_id = top, .mode = HistoryQuery::Mode::kBefore, .anchor = ~Snowflake{0}, .limit = 10};
  ASSERT_TRUE(store_->ListMessages(q, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, top);
  q.mode = HistoryQuery::Mode::kAfter;
  ASSERT_TRUE(store_->ListMessages(q, &out).ok());
  EXPECT_TRUE(out.empty());
  Snapshot snap = Load();
  ASSERT_EQ(snap.users.size(), 1u);
  EXPECT_EQ(snap.users[0].owner_id, top);
  EXPECT_EQ(snap.last_message_ids, (std::vector<std::pair<Snowflake, Snowflake>>{{top, top}}));
}

// ScanMessages walks every message of every channel in (channel_id, id)
// order, page by page; CountMessages counts them.
TEST_P(StoreTest, ScanWalksEveryMessageInKeyOrder) {
  uint64_t n = 99;
  ASSERT_TRUE(store_->CountMessages(&n).ok());
  EXPECT_EQ(n, 0u);
  std::vector<Message> page{Message{}};
  ASSERT_TRUE(store_->ScanMessages({}, 10, &page).ok());
  EXPECT_TRUE(page.empty());

  // Inserted out of order, in channels whose ids interleave with message ids.
  std::vector<std::pair<Snowflake, Snowflake>> keys = {
      {Id(7), Id(3)}, {Id(2), Id(9)}, {Id(7), Id(1)}, {Id(5), Id(5)}, {Id(2), Id(4)},
      {Id(9), Id(2)}, {Id(5), Id(6)}, {Id(7), Id(8)}, {Id(2), Id(1)}};
  WriteBatch b;
  for (auto [c, id] : keys) b.push_back(mut::InsertMessage{Msg(c, id)});
  ASSERT_TRUE(Commit(b).ok());
  std::sort(keys.begin(), keys.end());

  std::vector<std::pair<Snowflake, Snowflake>> walked;
  MessageKey after;
  for (int pages = 0; pages < 100; ++pages) {
    ASSERT_TRUE(store_->ScanMessages(after, 2, &page).ok());
    if (page.empty()) break;
    EXPECT_LE(page.size(), 2u);
    for (const Message& m : page) {
      walked.emplace_back(m.channel_id, m.id);
      EXPECT_EQ(m.content, Msg(m.channel_id, m.id).content);
    }
    after = {page.back().channel_id, page.back().id};
  }
  EXPECT_EQ(walked, keys);
  ASSERT_TRUE(store_->CountMessages(&n).ok());
  EXPECT_EQ(n, keys.size());
  // From the middle of a channel.
  ASSERT_TRUE(store_->ScanMessages({Id(5), Id(5)}, 3, &page).ok());
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].id, Id(6));
  EXPECT_EQ(page[1].channel_id, Id(7));
  EXPECT_EQ(page[1].id, Id(1));
  EXPECT_EQ(store_->ScanMessages({}, 0, &page).code(), Status::Code::kInvalidArgument);
}

TEST_P(StoreTest, AcknowledgedCommitSurvivesKill9) {
  const std::string url = location_->url();
  store_.reset();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: commit, then die without closing anything.
    std::unique_ptr<StoreBackend> s;
    if (!OpenStore(url, {}, &s).ok()) _exit(1);
    WriteBatch b{mut::PutUser{User{.id = Id(1), .username = "survivor"}},
                 mut::InsertMessage{Msg(Id(2), Id(3))}};
    const WriteBatch* p = &b;
    if (!s->CommitBatches(std::span<const WriteBatch* const>(&p, 1), nullptr).ok()) _exit(2);
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  Reopen();
  Snapshot snap = Load();
  ASSERT_EQ(snap.users.size(), 1u);
  EXPECT_EQ(snap.users[0].username, "survivor");
  EXPECT_EQ(snap.position, 1u);
  Message m;
  EXPECT_TRUE(store_->GetMessage(Id(2), Id(3), &m).ok());
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(AllBackends, StoreTest, ::testing::Values(kSqlite, kPostgres),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(AllBackends, StoreHistoryTest, ::testing::Values(kSqlite, kPostgres),
                         BackendName);

}  // namespace
}  // namespace parley
