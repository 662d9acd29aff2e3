// Tests of PostgresStore's own mechanics: partitioning and plans, schema
// migration, connections and their faults, pipelines. The contract every
// backend keeps is tested in store_test.cc.
//
// They need a test server (PARLEY_TEST_PG, see store/test_support/
// postgres_test_db.h); without one they skip, or fail when
// PARLEY_REQUIRE_PG=1. Each test works in a database of its own.
#include "store/postgres_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/test_support/postgres_test_db.h"
#include "util/test_support/status_assertions.h"

namespace parley {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Ids in the range real snowflakes take (bit 62 set).
constexpr Snowflake kBase = Snowflake{1} << 62;
constexpr Snowflake Id(uint64_t k) {
  return kBase + k;
}

Message Msg(Snowflake channel, Snowflake id) {
  Message m;
  m.id = id;
  m.channel_id = channel;
  m.guild_id = Id(1);
  m.author_id = Id(2);
  m.content = "message " + std::to_string(id - kBase);
  return m;
}

bool RequirePg() {
  const char* v = std::getenv("PARLEY_REQUIRE_PG");
  return v != nullptr && std::string(v) == "1";
}

// A plain libpq connection for looking at (and meddling with) the server
// behind the store's back.
class Admin {
 public:
  explicit Admin(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) ADD_FAILURE() << "admin connection: " << PQerrorMessage(c_);
    // Quiet: e.g. pg_terminate_backend warns about a backend already gone.
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }
  ~Admin() { PQfinish(c_); }
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // The rows of `sql`, as text; a failure is a test failure.
  std::vector<std::vector<std::string>> Rows(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    PGresult* r = PQexec(c_, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    } else {
      for (int i = 0; i < PQntuples(r); ++i) {
        auto& row = rows.emplace_back();
        for (int j = 0; j < PQnfields(r); ++j) row.push_back(PQgetvalue(r, i, j));
      }
    }
    PQclear(r);
    return rows;
  }
  // The first column of the first row of `sql` ("" if none).
  std::string Value(const std::string& sql) {
    auto rows = Rows(sql);
    return rows.empty() || rows[0].empty() ? std::string() : rows[0][0];
  }

 private:
  PGconn* c_;
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (PostgresTestServer().empty()) {
      if (RequirePg()) FAIL() << "PARLEY_REQUIRE_PG=1 but PARLEY_TEST_PG is not set";
      GTEST_SKIP() << "PARLEY_TEST_PG is not set (scripts/pg-cluster.sh start DIR sets it)";
    }
    db_ = std::make_unique<PostgresTestDb>();
  }

  Status Open(std::unique_ptr<PostgresStore>* out, PostgresStore::Options o = {}) {
    return PostgresStore::Open(db_->conninfo(), o, out);
  }
  static Status Commit(PostgresStore& s, const WriteBatch& b, CommitPosition* pos = nullptr) {
    const WriteBatch* p = &b;
    return s.CommitBatches(std::span<const WriteBatch* const>(&p, 1), pos);
  }
  // Ends every connection of the store(s) on this test's database; returns
  // how many there were.
  int TerminateStoreBackends(bool wait) {
    Admin admin(PostgresTestServer());
    return std::atoi(admin
                         .Value("SELECT count(pg_terminate_backend(pid, " +
                                std::string(wait ? "5000" : "0") +
                                ")) FROM pg_stat_activity WHERE datname = '" + db_->name() +
                                "' AND application_name = 'parley'")
                         .c_str());
  }

  std::unique_ptr<PostgresTestDb> db_;
};

// The partitions named in `plan` ("messages_p7", without index suffixes).
std::set<std::string> PartitionsIn(const std::string& plan) {
  std::set<std::string> out;
  const std::string prefix = "messages_p";
  for (size_t at = plan.find(prefix); at != std::string::npos; at = plan.find(prefix, at + 1)) {
    size_t end = at + prefix.size();
    while (end < plan.size() && plan[end] >= '0' && plan[end] <= '9') ++end;
    if (end > at + prefix.size()) out.insert(plan.substr(at, end - at));
  }
  return out;
}

TEST_F(PostgresStoreTest, HistoryPageIsOneIndexScanOfOnePartition) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  // 8 channels of 4,000 messages of 200 bytes, analyzed: the plan is made
  // for a table with realistic statistics (on a tiny table a sort of every
  // row of the channel is cheaper, and the planner rightly picks it).
  constexpr uint64_t kChannels = 8, kPerChannel = 4000;
  for (uint64_t c = 1; c <= kChannels; ++c) {
    WriteBatch b;
    for (uint64_t k = 1; k <= kPerChannel; ++k) {
      Message m = Msg(Id(c), Id(c * 10000 + k));
      m.content.assign(200, 'x');
      b.push_back(mut::InsertMessage{m});
    }
    ASSERT_OK(Commit(*store, b));
  }
  Admin admin(db_->conninfo());
  admin.Rows("ANALYZE messages");
  ASSERT_EQ(admin.Value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass"),
            "16");

  for (uint64_t c : {3, 7}) {
    const Snowflake channel = Id(c);
    const std::string part = admin.Value(
        "SELECT tableoid::regclass FROM messages WHERE channel_id = " + std::to_string(channel) +
        " LIMIT 1");
    ASSERT_TRUE(part.starts_with("messages_p")) << part;
    HistoryQuery q{.channel_id = channel,
                   .mode = HistoryQuery::Mode::kBefore,
                   .anchor = Id(c * 10000 + 3000),
                   .limit = 50};
    std::string plan;
    ASSERT_OK(store->ExplainListMessages(q, &plan));
    EXPECT_EQ(PartitionsIn(plan), std::set<std::string>{part}) << plan;
    EXPECT_NE(plan.find("Index Scan Backward using " + part + "_pkey on " + part),
              std::string::npos)
        << plan;
    EXPECT_EQ(plan.find("Sort"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("Append"), std::string::npos) << plan;

    // The other modes read the same partition, forward or backward.
    q.mode = HistoryQuery::Mode::kAfter;
    ASSERT_OK(store->ExplainListMessages(q, &plan));
    EXPECT_EQ(PartitionsIn(plan), std::set<std::string>{part}) << plan;
    EXPECT_NE(plan.find("Index Scan using " + part + "_pkey"), std::string::npos) << plan;
    q.mode = HistoryQuery::Mode::kAround;
    ASSERT_OK(store->ExplainListMessages(q, &plan));
    EXPECT_EQ(PartitionsIn(plan), std::set<std::string>{part}) << plan;
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;

    // And the page itself is what the plan promises.
    q.mode = HistoryQuery::Mode::kBefore;
    std::vector<Message> page;
    ASSERT_OK(store->ListMessages(q, &page));
    ASSERT_EQ(page.size(), 50u);
    EXPECT_EQ(page.front().id, Id(c * 10000 + 2999));
    EXPECT_EQ(page.back().id, Id(c * 10000 + 2950));
  }
}

TEST_F(PostgresStoreTest, ConcurrentOpensOfAFreshDatabaseMigrateOnce) {
  std::unique_ptr<PostgresStore> a, b;
  Status sa, sb;
  std::latch start(2);
  std::thread ta([&] {
    start.arrive_and_wait();
    sa = Open(&a, {.message_partitions = 3});
  });
  std::thread tb([&] {
    start.arrive_and_wait();
    sb = Open(&b, {.message_partitions = 5});
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.ToString();
  ASSERT_TRUE(sb.ok()) << sb.ToString();

  // Exactly one of them created the schema: one partition count, recorded
  // and real; a second migration would have failed or doubled the tables.
  Admin admin(db_->conninfo());
  auto rows = admin.Rows("SELECT version, message_partitions FROM parley_schema");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], std::to_string(PostgresStore::SchemaVersion()));
  const std::string parts = rows[0][1];
  EXPECT_TRUE(parts == "3" || parts == "5") << parts;
  EXPECT_EQ(admin.Value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass"),
            parts);

  // Both work on the one schema, in one order of positions.
  CommitPosition pa = 0, pb = 0;
  ASSERT_OK(Commit(*a, {mut::InsertMessage{Msg(Id(1), Id(1))}}, &pa));
  ASSERT_OK(Commit(*b, {mut::InsertMessage{Msg(Id(1), Id(2))}}, &pb));
  EXPECT_EQ(pa, 1u);
  EXPECT_EQ(pb, 2u);
  Message m;
  EXPECT_OK(a->GetMessage(Id(1), Id(2), &m));
}

TEST_F(PostgresStoreTest, CommitHeadOrdersWritersOfSeveralProcesses) {
  // Two stores (as two processes would) committing at once: positions are
  // 1..N without gaps or repeats, and each store sees its own increase.
  std::unique_ptr<PostgresStore> a, b;
  ASSERT_OK(Open(&a));
  ASSERT_OK(Open(&b));
  constexpr int kEach = 100;
  std::vector<CommitPosition> pos_a, pos_b;
  auto run = [&](PostgresStore* s, uint64_t base, std::vector<CommitPosition>* out) {
    for (int i = 0; i < kEach; ++i) {
      CommitPosition p = 0;
      Status st = Commit(*s, {mut::InsertMessage{Msg(Id(base), Id(base + i))}}, &p);
      if (!st.ok()) ADD_FAILURE() << st.ToString();
      out->push_back(p);
    }
  };
  std::thread ta(run, a.get(), 10000, &pos_a);
  std::thread tb(run, b.get(), 20000, &pos_b);
  ta.join();
  tb.join();
  std::set<CommitPosition> all(pos_a.begin(), pos_a.end());
  all.insert(pos_b.begin(), pos_b.end());
  ASSERT_EQ(all.size(), 2u * kEach);
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), 2u * kEach);
  EXPECT_TRUE(std::is_sorted(pos_a.begin(), pos_a.end()));
  EXPECT_TRUE(std::is_sorted(pos_b.begin(), pos_b.end()));
  Snapshot snap;
  ASSERT_OK(a->LoadAll(&snap));
  EXPECT_EQ(snap.position, 2u * kEach);
}

TEST_F(PostgresStoreTest, AClusterStoreStartsMaxIdAtTheGreatestMessageIdThere) {
  // Messages written without the commit log (`parley migrate`, a plain
  // node): the head's max_id stays 0 until a cluster store opens.
  {
    std::unique_ptr<PostgresStore> plain;
    ASSERT_OK(Open(&plain));
    ASSERT_OK(Commit(*plain, {mut::InsertMessage{Msg(Id(7), Id(900))},
                              mut::InsertMessage{Msg(Id(8), Id(950))}}));
  }
  Admin admin(db_->conninfo());
  EXPECT_EQ(admin.Value("SELECT max_id FROM parley_commit_head"), "0");
  PostgresStore::Options o;
  o.commit_log = true;
  o.node_id = 1;
  std::unique_ptr<PostgresStore> node;
  ASSERT_OK(Open(&node, o));
  EXPECT_EQ(admin.Value("SELECT max_id FROM parley_commit_head"), std::to_string(Id(950)));
  // Only the first time: a head that holds a max_id keeps it.
  admin.Rows("UPDATE parley_commit_head SET max_id = 5");
  std::unique_ptr<PostgresStore> again;
  ASSERT_OK(Open(&again, o));
  EXPECT_EQ(admin.Value("SELECT max_id FROM parley_commit_head"), "5");
}

TEST_F(PostgresStoreTest, CommitLogHoldsEveryCommitOfEveryNodeInPositionOrder) {
  // Two nodes (stores with commit_log) committing at once, while a third
  // follows the log as a node would: every entry appears at its position,
  // with the batches its writer committed, and nothing is seen out of order
  // or twice. A store without commit_log adds nothing to the log.
  PostgresStore::Options oa, ob;
  oa.commit_log = ob.commit_log = true;
  oa.node_id = 1;
  ob.node_id = 2;
  std::unique_ptr<PostgresStore> a, b, follower, plain;
  ASSERT_OK(Open(&a, oa));
  ASSERT_OK(Open(&b, ob));
  ASSERT_OK(Open(&follower));
  constexpr int kEach = 60;
  std::mutex mu;
  std::map<CommitPosition, WriteBatch> committed;  // guarded by mu
  auto run = [&](PostgresStore* s, uint64_t base) {
    for (int i = 0; i < kEach; ++i) {
      WriteBatch batch = {mut::InsertMessage{Msg(Id(base), Id(base + i))}};
      if (i % 10 == 0) {
        Member m{.guild_id = Id(1), .user_id = Id(base + i), .nick = "n", .roles = {Id(5)}};
        batch.push_back(mut::PutMember{m});
      }
      CommitPosition p = 0;
      Status st = Commit(*s, batch, &p);
      if (!st.ok()) ADD_FAILURE() << st.ToString();
      std::lock_guard lock(mu);
      committed[p] = std::move(batch);
    }
  };
  std::vector<PostgresStore::LogEntry> followed;
  std::thread reader([&] {
    CommitPosition at = 0;
    while (at < 2u * kEach) {
      std::vector<PostgresStore::LogEntry> page;
      Status st = follower->ReadLog(at, 7, &page);
      if (!st.ok()) {
        ADD_FAILURE() << st.ToString();
        return;
      }
      for (auto& e : page) {
        if (e.position != at + 1) {
          ADD_FAILURE() << "after " << at << " the log gave " << e.position;
          return;
        }
        at = e.position;
        followed.push_back(std::move(e));
      }
      if (page.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::thread ta(run, a.get(), 10000);
  std::thread tb(run, b.get(), 20000);
  ta.join();
  tb.join();
  reader.join();
  ASSERT_EQ(followed.size(), 2u * kEach);
  ASSERT_EQ(committed.size(), 2u * kEach);
  for (const auto& e : followed) {
    ASSERT_EQ(e.batches.size(), 1u) << "position " << e.position;
    EXPECT_EQ(e.batches[0], committed[e.position]) << "position " << e.position;
    const auto* ins = std::get_if<mut::InsertMessage>(&e.batches[0][0]);
    ASSERT_NE(ins, nullptr);
    EXPECT_EQ(e.node, ins->message.channel_id == Id(10000) ? 1 : 2);
    EXPECT_GT(e.committed_ms, 0);
  }

  // A group commit is one entry with all its batches, in order.
  const WriteBatch g1 = {mut::DeleteGuild{Id(7)}};
  const WriteBatch g2 = {mut::InsertMessage{Msg(Id(3), Id(3))}};
  const WriteBatch* group[] = {&g1, &g2};
  CommitPosition gp = 0;
  ASSERT_OK(a->CommitBatches(group, &gp));
  std::vector<PostgresStore::LogEntry> last;
  ASSERT_OK(follower->ReadLog(gp - 1, 10, &last));
  ASSERT_EQ(last.size(), 1u);
  ASSERT_EQ(last[0].batches.size(), 2u);
  EXPECT_EQ(last[0].batches[0], g1);
  EXPECT_EQ(last[0].batches[1], g2);

  // Without commit_log: the position is used, the log has no entry for it.
  ASSERT_OK(Open(&plain));
  CommitPosition pp = 0;
  ASSERT_OK(Commit(*plain, {mut::DeleteGuild{Id(8)}}, &pp));
  EXPECT_EQ(pp, gp + 1);
  ASSERT_OK(follower->ReadLog(gp, 10, &last));
  EXPECT_TRUE(last.empty());

  // Bad arguments; a malformed entry is Corruption, not a crash.
  EXPECT_FALSE(follower->ReadLog(0, 0, &last).ok());
  EXPECT_FALSE(follower->ReadLog(0, 10001, &last).ok());
  Admin admin(db_->conninfo());
  admin.Rows("UPDATE parley_log SET batches = '\\x01ff'::bytea WHERE position = 1");
  Status bad = follower->ReadLog(0, 1, &last);
  EXPECT_TRUE(bad.IsCorruption()) << bad.ToString();
  EXPECT_TRUE(last.empty());
}

TEST_F(PostgresStoreTest, SchemaNewerThanTheBinaryIsCorruption) {
  {
    std::unique_ptr<PostgresStore> store;
    ASSERT_OK(Open(&store));
  }
  Admin admin(db_->conninfo());
  admin.Rows("UPDATE parley_schema SET version = version + 1");
  std::unique_ptr<PostgresStore> store;
  Status s = Open(&store);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("newer than this binary"), std::string::npos) << s.ToString();
  EXPECT_EQ(store, nullptr);
}

// A store made before schema step 4 (embeds, replies) keeps its messages
// and reads them with neither, and gains step 5 (application commands).
TEST_F(PostgresStoreTest, MigratesMessagesFromBeforeEmbedsAndReplies) {
  {
    std::unique_ptr<PostgresStore> store;
    ASSERT_OK(Open(&store));
  }
  Admin admin(db_->conninfo());
  admin.Rows(
      "ALTER TABLE messages DROP COLUMN embeds, DROP COLUMN ref_channel_id, "
      "DROP COLUMN ref_message_id");
  admin.Rows("DROP TABLE application_commands");
  admin.Rows(
      "INSERT INTO messages(channel_id, id, guild_id, author_id, content, edited_ms, tts, pinned, "
      "type, flags) VALUES(5, 6, 7, 8, 'old', 0, false, false, 0, 0)");
  admin.Rows("UPDATE parley_schema SET version = 3");
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  Message m;
  ASSERT_OK(store->GetMessage(5, 6, &m));
  EXPECT_EQ(m.content, "old");
  EXPECT_EQ(m.embeds, "");
  EXPECT_EQ(m.ref_message_id, 0u);
  EXPECT_EQ(admin.Value("SELECT version FROM parley_schema"), "5");
  EXPECT_EQ(admin.Value("SELECT count(*) FROM application_commands"), "0");
}

TEST_F(PostgresStoreTest, ReopenKeepsDataPositionAndPartitionCount) {
  {
    std::unique_ptr<PostgresStore> store;
    ASSERT_OK(Open(&store, {.message_partitions = 4}));
    for (uint64_t k = 1; k <= 3; ++k) {
      ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(7), Id(k))}}));
    }
  }
  std::unique_ptr<PostgresStore> store;
  // The count is chosen when the schema is created; a later open's option
  // does not change it.
  ASSERT_OK(Open(&store, {.message_partitions = 9}));
  Admin admin(db_->conninfo());
  EXPECT_EQ(admin.Value("SELECT message_partitions FROM parley_schema"), "4");
  EXPECT_EQ(admin.Value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass"),
            "4");
  Snapshot snap;
  ASSERT_OK(store->LoadAll(&snap));
  EXPECT_EQ(snap.position, 3u);
  EXPECT_EQ(snap.last_message_ids, (std::vector<std::pair<Snowflake, Snowflake>>{{Id(7), Id(3)}}));
  CommitPosition pos = 0;
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(7), Id(4))}}, &pos));
  EXPECT_EQ(pos, 4u);
}

TEST(PostgresStoreOpenTest, UnreachableServerIsUnavailableQuickly) {
  // A port nothing listens on: bound (so no other test can take it) but not
  // listening, so connections to it are refused; closed at the end.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  const std::string url =
      "postgres://postgres@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/parley";

  auto t0 = Clock::now();
  std::unique_ptr<PostgresStore> store;
  Status s = PostgresStore::Open(url, {}, &store);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos) << s.ToString();  // libpq's words
  EXPECT_LT(SecondsSince(t0), 5.0);  // well inside connect_timeout
  EXPECT_EQ(store, nullptr);
}

TEST(PostgresStoreOpenTest, BadConninfoAndOptionsAreInvalidArguments) {
  std::unique_ptr<PostgresStore> store;
  EXPECT_EQ(PostgresStore::Open("host=localhost port", {}, &store).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(PostgresStore::Open("postgres://[::1/x", {}, &store).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(PostgresStore::Open("postgres://u@127.0.0.1:1/db?nosuchoption=1", {}, &store).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(
      PostgresStore::Open("postgres://u@127.0.0.1:1/db", {.message_partitions = 0}, &store).code(),
      Status::Code::kInvalidArgument);
  EXPECT_EQ(PostgresStore::Open("postgres://u@127.0.0.1:1/db", {.message_partitions = 1025}, &store)
                .code(),
            Status::Code::kInvalidArgument);
}

TEST_F(PostgresStoreTest, DescribeNamesTheServerButNotThePassword) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(PostgresStore::Open(db_->conninfo() + " password=s3cret-pw", {}, &store));
  const std::string d = store->Describe();
  EXPECT_TRUE(d.starts_with("postgres host=")) << d;
  EXPECT_NE(d.find("dbname=" + db_->name()), std::string::npos) << d;
  EXPECT_EQ(d.find("s3cret"), std::string::npos) << d;
}

TEST_F(PostgresStoreTest, AFailedStatementInALongPipelineRollsBackAndKeepsTheConnection) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  CommitPosition pos = 0;
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(150))}}, &pos));
  ASSERT_EQ(pos, 1u);
  Admin admin(db_->conninfo());
  const std::string pid_sql =
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'parley' AND datname = '" +
      db_->name() + "' ORDER BY backend_start LIMIT 1";
  const std::string writer_pid = admin.Value(pid_sql);

  // 300 inserts; the 150th is a duplicate: nothing of the batch stays.
  WriteBatch b;
  for (uint64_t k = 1; k <= 300; ++k) b.push_back(mut::InsertMessage{Msg(Id(1), Id(k))});
  b.push_back(mut::PutGuild{Guild{.id = Id(9), .name = "g"}});
  pos = 77;
  Status s = Commit(*store, b, &pos);
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  EXPECT_EQ(s.message(), "duplicate message id " + std::to_string(Id(150)));
  EXPECT_EQ(pos, 77u);

  // A rejected value (text cannot hold a NUL byte) is an IOError, and also
  // leaves nothing behind.
  Message nul = Msg(Id(1), Id(400));
  nul.content = std::string("a\0b", 3);
  s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(399))}, mut::InsertMessage{nul}});
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();

  uint64_t n = 0;
  ASSERT_OK(store->CountMessages(&n));
  EXPECT_EQ(n, 1u);
  Snapshot snap;
  ASSERT_OK(store->LoadAll(&snap));
  EXPECT_TRUE(snap.guilds.empty());
  EXPECT_EQ(snap.position, 1u);
  // The same connection goes on, with the next position.
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(151))}}, &pos));
  EXPECT_EQ(pos, 2u);
  EXPECT_EQ(admin.Value(pid_sql), writer_pid);
}

TEST_F(PostgresStoreTest, TerminatedConnectionsAreReplaced) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  CommitPosition pos = 0;
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(1))}}, &pos));
  Message m;
  ASSERT_OK(store->GetMessage(Id(1), Id(1), &m));       // opens this thread's reader
  ASSERT_EQ(TerminateStoreBackends(/*wait=*/true), 2);  // the writer and the reader

  uint64_t acked = 1;
  for (int i = 2; i <= 4; ++i) {
    Status s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(i))}}, &pos);
    // The dead connection is noticed before anything is sent on it.
    EXPECT_TRUE(s.ok() ||
                (s.IsUnavailable() && s.message().find("outcome unknown") == std::string::npos))
        << s.ToString();
    if (s.ok()) {
      EXPECT_EQ(pos, ++acked);
    }
    s = store->GetMessage(Id(1), Id(1), &m);
    EXPECT_TRUE(s.ok() || s.IsUnavailable()) << s.ToString();
  }
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(5))}}, &pos));
  EXPECT_EQ(pos, acked + 1);
  Snapshot snap;
  ASSERT_OK(store->LoadAll(&snap));
  EXPECT_EQ(snap.position, acked + 1);
  EXPECT_OK(store->GetMessage(Id(1), Id(5), &m));
}

// Commits while another thread keeps ending the store's connections: every
// acknowledged commit stays, a commit reported as "nothing was committed"
// left nothing, every commit is all or nothing, and positions have no gaps.
TEST_F(PostgresStoreTest, ConnectionsKilledDuringCommitsLoseNothingAcknowledged) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  std::atomic<bool> done{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 rng(42);
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2 + rng() % 15));
      kills += TerminateStoreBackends(/*wait=*/false);
    }
  });
  constexpr int kCommits = 300;
  constexpr uint64_t kPerCommit = 20;
  enum Outcome { kAcked, kNothing, kUnknown };
  std::vector<Outcome> outcome(kCommits);
  std::vector<CommitPosition> positions;
  for (int i = 0; i < kCommits; ++i) {
    WriteBatch b;
    for (uint64_t j = 0; j < kPerCommit; ++j) {
      b.push_back(mut::InsertMessage{Msg(Id(1), Id(i * kPerCommit + j + 1))});
    }
    CommitPosition pos = 0;
    Status s = Commit(*store, b, &pos);
    if (s.ok()) {
      outcome[i] = kAcked;
      positions.push_back(pos);
    } else {
      // (Not ASSERT: the killer thread must be joined.)
      EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
      outcome[i] = s.IsUnavailable() && s.message().find("outcome unknown") == std::string::npos
                       ? kNothing
                       : kUnknown;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  done = true;
  killer.join();

  // Once left alone, the store works again.
  Status s;
  for (auto t0 = Clock::now(); SecondsSince(t0) < 10;) {
    Snapshot snap;
    s = store->LoadAll(&snap);
    if (s.ok()) break;
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::set<Snowflake> stored;
  MessageKey after;
  for (;;) {
    std::vector<Message> page;
    ASSERT_OK(store->ScanMessages(after, 1000, &page));
    if (page.empty()) break;
    for (const Message& m : page) stored.insert(m.id);
    after = {page.back().channel_id, page.back().id};
  }
  int committed = 0, acked = 0, nothing = 0, unknown = 0;
  for (int i = 0; i < kCommits; ++i) {
    uint64_t present = 0;
    for (uint64_t j = 0; j < kPerCommit; ++j) present += stored.count(Id(i * kPerCommit + j + 1));
    EXPECT_TRUE(present == 0 || present == kPerCommit) << "commit " << i << ": " << present;
    if (present == kPerCommit) ++committed;
    switch (outcome[i]) {
      case kAcked:
        ++acked;
        EXPECT_EQ(present, kPerCommit) << "acknowledged commit " << i << " lost";
        break;
      case kNothing:
        ++nothing;
        EXPECT_EQ(present, 0u) << "commit " << i << " said nothing was committed";
        break;
      case kUnknown:
        ++unknown;
        break;
    }
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
  EXPECT_EQ(std::set<CommitPosition>(positions.begin(), positions.end()).size(), positions.size());
  Snapshot snap;
  ASSERT_OK(store->LoadAll(&snap));
  EXPECT_EQ(snap.position, static_cast<CommitPosition>(committed));
  if (!positions.empty()) {
    EXPECT_LE(positions.back(), snap.position);
  }
  std::printf(
      "[          ] %d commits: %d acknowledged, %d failed (nothing committed), %d unknown; "
      "%d connections killed\n",
      kCommits, acked, nothing, unknown, kills.load());
  EXPECT_GT(acked, 0);
}

TEST_F(PostgresStoreTest, CallsFailFastWhileReconnectingBacksOff) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  CommitPosition pos = 0;
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(1))}}, &pos));
  Message m;
  ASSERT_OK(store->GetMessage(Id(1), Id(1), &m));

  // The database refuses every new connection (superusers too) and the
  // store's connections are ended.
  Admin admin(PostgresTestServer());
  admin.Rows("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS false");
  TerminateStoreBackends(/*wait=*/true);

  auto t0 = Clock::now();
  Status s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(2))}});
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("not currently accepting connections"), std::string::npos)
      << s.ToString();
  // Within the backoff: no connection attempt, an answer at once.
  auto t1 = Clock::now();
  s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(2))}});
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("backing off"), std::string::npos) << s.ToString();
  EXPECT_LT(SecondsSince(t1), 0.04);
  s = store->GetMessage(Id(1), Id(1), &m);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_LT(SecondsSince(t0), 2.0);  // nothing waited for a timeout

  // Still refused after a few attempts: the backoff grows but stays short.
  for (auto t2 = Clock::now(); SecondsSince(t2) < 1.0;) {
    s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(2))}});
    EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  admin.Rows("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS true");
  auto t3 = Clock::now();
  do {
    s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(2))}}, &pos);
    if (!s.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (!s.ok() && SecondsSince(t3) < 5.0);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(SecondsSince(t3), 2.5);  // at most one full backoff (2 s) late
  EXPECT_EQ(pos, 2u);                // the failed attempts used no position
  for (auto t4 = Clock::now(); SecondsSince(t4) < 3.0;) {
    s = store->GetMessage(Id(1), Id(2), &m);
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// A TCP proxy in front of the test server that can lose an answer: after
// CutNextRequest, the next bytes a client sends are passed on, then the
// server's answer is thrown away and the connection closed (after a pause
// long enough for the server to act on them), as a network failure right
// after COMMIT was sent would.
class CuttingProxy {
 public:
  // `conninfo`: the server to forward to (TCP host or unix socket dir).
  explicit CuttingProxy(const std::string& conninfo) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
    PQfreemem(err);
    for (PQconninfoOption* o = opts; o != nullptr && o->keyword != nullptr; ++o) {
      std::string k = o->keyword, v = o->val != nullptr ? o->val : "";
      if (k == "host") host_ = v;
      if (k == "port") port_ = v;
    }
    PQconninfoFree(opts);
    if (host_.empty()) host_ = "/var/run/postgresql";
    if (port_.empty()) port_ = "5432";
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "proxy: cannot listen";
    }
    listen_port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    acceptor_.join();
    close(listen_fd_);
    std::lock_guard<std::mutex> l(mu_);
    for (std::thread& t : pairs_) t.join();
  }
  int port() const { return listen_port_; }
  void CutNextRequest() { cut_armed_ = true; }
  int cuts() const { return cuts_.load(); }

 private:
  int ConnectUpstream() {
    if (host_.starts_with("/")) {
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un u{};
      u.sun_family = AF_UNIX;
      std::string path = host_ + "/.s.PGSQL." + port_;
      std::snprintf(u.sun_path, sizeof(u.sun_path), "%s", path.c_str());
      if (connect(fd, reinterpret_cast<sockaddr*>(&u), sizeof(u)) == 0) return fd;
      close(fd);
      return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(port_.c_str())));
    inet_pton(AF_INET, host_ == "localhost" ? "127.0.0.1" : host_.c_str(), &a.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
    close(fd);
    return -1;
  }
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      int server = ConnectUpstream();
      if (server < 0) {
        close(client);
        continue;
      }
      std::lock_guard<std::mutex> l(mu_);
      pairs_.emplace_back([this, client, server] { Forward(client, server); });
    }
  }
  void Forward(int client, int server) {
    char buf[65536];
    bool cut = false;
    while (!stop_ && !cut) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents != 0) {
        ssize_t n = read(client, buf, sizeof(buf));
        if (n <= 0 || write(server, buf, static_cast<size_t>(n)) != n) break;
        cut = cut_armed_.exchange(false);
      }
      if (!cut && p[1].revents != 0) {
        ssize_t n = read(server, buf, sizeof(buf));
        if (n <= 0 || write(client, buf, static_cast<size_t>(n)) != n) break;
      }
    }
    if (cut) {
      ++cuts_;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server acts
    }
    close(client);
    close(server);
  }

  std::string host_, port_;
  int listen_fd_ = -1;
  int listen_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_armed_{false};
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pairs_;  // guarded by mu_
};

TEST_F(PostgresStoreTest, LostAnswerToCommitIsAnUnknownOutcome) {
  CuttingProxy proxy(db_->conninfo());
  // The test database, through the proxy.
  std::string conninfo = PostgresConninfoWithDb(db_->conninfo(), db_->name());
  conninfo += " host=127.0.0.1 hostaddr=127.0.0.1 port=" + std::to_string(proxy.port());
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(PostgresStore::Open(conninfo, {}, &store));
  CommitPosition pos = 0;
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(1))}}, &pos));
  ASSERT_EQ(pos, 1u);

  proxy.CutNextRequest();
  pos = 0;
  Status s = Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(2))}}, &pos);
  EXPECT_EQ(proxy.cuts(), 1);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("outcome unknown"), std::string::npos) << s.ToString();
  EXPECT_EQ(pos, 0u);

  // It did commit (the server got everything), with position 2; the store
  // goes on with 3 on a new connection.
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(3))}}, &pos));
  EXPECT_EQ(pos, 3u);
  Message m;
  EXPECT_OK(store->GetMessage(Id(1), Id(2), &m));
}

// Group commit at scale: 20,000 message inserts in commits of 500 (one
// pipeline each), then 20,000 in one commit (a pipeline far larger than the
// socket buffers, which must not deadlock).
TEST_F(PostgresStoreTest, LargePipelines) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store));
  constexpr int kTotal = 20000, kPerCommit = 500;
  std::vector<WriteBatch> batches(kTotal);
  for (int i = 0; i < kTotal; ++i) {
    Message m = Msg(Id(1 + i % 50), Id(i + 1));
    m.content.assign(200, 'x');
    batches[i].push_back(mut::InsertMessage{m});
  }
  auto t0 = Clock::now();
  CommitPosition pos = 0;
  for (int i = 0; i < kTotal; i += kPerCommit) {
    // As the CommitQueue hands them over: one batch per request.
    std::vector<const WriteBatch*> group;
    for (int j = i; j < i + kPerCommit; ++j) group.push_back(&batches[j]);
    ASSERT_OK(store->CommitBatches(group, &pos));
  }
  const double secs = SecondsSince(t0);
  EXPECT_EQ(pos, static_cast<CommitPosition>(kTotal / kPerCommit));
  std::printf("[          ] %d inserts in commits of %d: %.3f s, %.0f commits/s, %.0f inserts/s\n",
              kTotal, kPerCommit, secs, (kTotal / kPerCommit) / secs, kTotal / secs);

  WriteBatch big;
  for (int i = 0; i < kTotal; ++i) {
    Message m = Msg(Id(100), Id(kTotal + i + 1));
    m.content.assign(200, 'y');
    big.push_back(mut::InsertMessage{m});
  }
  t0 = Clock::now();
  ASSERT_OK(Commit(*store, big, &pos));
  std::printf("[          ] %d inserts in one commit: %.3f s\n", kTotal, SecondsSince(t0));
  EXPECT_EQ(pos, static_cast<CommitPosition>(kTotal / kPerCommit + 1));
  uint64_t n = 0;
  ASSERT_OK(store->CountMessages(&n));
  EXPECT_EQ(n, 2u * kTotal);
}

TEST_F(PostgresStoreTest, RelaxedDurabilityStillCommits) {
  std::unique_ptr<PostgresStore> store;
  ASSERT_OK(Open(&store, {.sync_every_commit = false}));
  CommitPosition pos = 0;
  ASSERT_OK(Commit(*store, {mut::InsertMessage{Msg(Id(1), Id(1))}}, &pos));
  EXPECT_EQ(pos, 1u);
  Message m;
  EXPECT_OK(store->GetMessage(Id(1), Id(1), &m));
}

}  // namespace
}  // namespace parley

namespace parley {
namespace {

// Read replicas: a history read that needs only the reader's own writes
// goes to a replica once the replica has them (read-your-writes: never a
// page older than the reader's write), else to the primary; a read that
// needs every commit always goes to the primary; a replica that is down
// costs no failed read.
class PostgresReplicaTest : public PostgresStoreTest {
 protected:
  void SetUp() override {
    PostgresStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const char* replica = std::getenv("PARLEY_TEST_PG_REPLICA");
    if (replica == nullptr || *replica == '\0') {
      if (RequirePg()) FAIL() << "PARLEY_REQUIRE_PG=1 but PARLEY_TEST_PG_REPLICA is not set";
      GTEST_SKIP() << "PARLEY_TEST_PG_REPLICA is not set (scripts/pg-cluster.sh start DIR sets it)";
    }
    replica_ = PostgresConninfoWithDb(replica, db_->name());
  }
  // The new database and its schema reach the replica through replication:
  // wait for them, so that a read there is not counted as "replica down".
  void WaitForSchemaOnReplica() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      PGconn* c = PQconnectdb(replica_.c_str());
      bool ok = false;
      if (PQstatus(c) == CONNECTION_OK) {
        PGresult* r = PQexec(c, "SELECT to_regclass('messages') IS NOT NULL");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
      }
      PQfinish(c);
      if (ok) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the schema never reached the replica";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::string replica_;
};

TEST_F(PostgresReplicaTest, ReadsGoToTheReplicaOnlyWhenItHasTheReadersWrite) {
  std::unique_ptr<PostgresStore> store;
  PostgresStore::Options o;
  o.replicas = {replica_};
  ASSERT_TRUE(Open(&store, o).ok());
  WaitForSchemaOnReplica();
  const Snowflake channel = 77;
  int replica_hits = 0, checked = 0;
  for (Snowflake id = 1; id <= 200; ++id) {
    CommitPosition pos = 0;
    Message m;
    m.id = id;
    m.channel_id = channel;
    m.guild_id = 1;
    m.author_id = 2;
    m.content = "m" + std::to_string(id);
    ASSERT_TRUE(Commit(*store, {mut::InsertMessage{m}}, &pos).ok());
    if (id % 20 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    StoreStats before = store->stats();
    std::vector<Message> page;
    HistoryQuery q{.channel_id = channel, .limit = 5, .min_position = pos};
    ASSERT_TRUE(store->ListMessages(q, &page).ok());
    // Whoever answered, the reader's own write is there.
    ASSERT_FALSE(page.empty());
    EXPECT_EQ(page[0].id, id);
    StoreStats after = store->stats();
    replica_hits += static_cast<int>(after.replica_reads - before.replica_reads);
    EXPECT_EQ(
        after.replica_reads + after.replica_fallbacks_lag + after.replica_fallbacks_down,
        before.replica_reads + before.replica_fallbacks_lag + before.replica_fallbacks_down + 1);
    ++checked;
  }
  EXPECT_EQ(store->stats().replica_fallbacks_down, 0u);
  // After a pause the replica has caught up at least sometimes.
  EXPECT_GT(replica_hits, 0) << "of " << checked;

  // A read that needs every commit never asks a replica.
  StoreStats before = store->stats();
  std::vector<Message> page;
  ASSERT_TRUE(store->ListMessages({.channel_id = channel, .limit = 5}, &page).ok());
  EXPECT_EQ(page[0].id, 200u);
  StoreStats after = store->stats();
  EXPECT_EQ(after.replica_reads + after.replica_fallbacks_lag + after.replica_fallbacks_down,
            before.replica_reads + before.replica_fallbacks_lag + before.replica_fallbacks_down);

  // A reader who never wrote (min_position 0) is served by the replica.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  before = store->stats();
  ASSERT_TRUE(
      store->ListMessages({.channel_id = channel, .limit = 5, .min_position = 0}, &page).ok());
  EXPECT_EQ(store->stats().replica_reads, before.replica_reads + 1);
}

TEST_F(PostgresReplicaTest, AReplicaThatIsDownFallsBackToThePrimary) {
  // Nothing listens on port 1.
  PostgresStore::Options o;
  o.replicas = {"host=127.0.0.1 port=1 dbname=x connect_timeout=2"};
  std::unique_ptr<PostgresStore> store;
  ASSERT_TRUE(Open(&store, o).ok());
  CommitPosition pos = 0;
  Message m;
  m.id = 5;
  m.channel_id = 9;
  m.content = "x";
  ASSERT_TRUE(Commit(*store, {mut::InsertMessage{m}}, &pos).ok());
  for (int i = 0; i < 3; ++i) {
    std::vector<Message> page;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(
        store->ListMessages({.channel_id = 9, .limit = 5, .min_position = pos}, &page).ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    ASSERT_EQ(page.size(), 1u);
  }
  EXPECT_EQ(store->stats().replica_fallbacks_down, 3u);
  EXPECT_EQ(store->stats().replica_reads, 0u);
}

}  // namespace
}  // namespace parley
