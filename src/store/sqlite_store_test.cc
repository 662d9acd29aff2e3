// SQLite's own mechanics (WAL, schema version). Everything the contract on
// StoreBackend promises is tested on every backend in store_test.cc.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace parley {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "parley_sqlite_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    path_ = root_ + "/data/parley.db";  // the directory is missing: Open must create it
    Status s = SqliteStore::Open(path_, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(root_);
  }
  void Reopen() {
    store_.reset();
    Status s = SqliteStore::Open(path_, &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::string root_;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, OpenCreatesAWalDatabaseAtTheCurrentVersion) {
  ASSERT_TRUE(std::filesystem::exists(path_));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((path_).c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    std::string v;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA user_version"), std::to_string(SqliteStore::SchemaVersion()));
  sqlite3_close(db);

  Reopen();  // migrating an up-to-date database is a no-op
  Snapshot snap;
  ASSERT_TRUE(store_->LoadAll(&snap).ok());
  EXPECT_TRUE(snap.users.empty());
  EXPECT_EQ(store_->Describe(), "sqlite:" + path_);
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((path_).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Status s = SqliteStore::Open(path_, &store_);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_EQ(store_, nullptr);
}

// A store written by a binary from before schema step 3 (embeds, replies)
// keeps its messages and reads them with neither.
TEST_F(SqliteStoreTest, MigratesMessagesFromBeforeEmbedsAndReplies) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((path_).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "ALTER TABLE messages DROP COLUMN embeds;"
                   "ALTER TABLE messages DROP COLUMN ref_channel_id;"
                   "ALTER TABLE messages DROP COLUMN ref_message_id;"
                   "DROP TABLE application_commands;"
                   "INSERT INTO messages(channel_id, id, guild_id, author_id, content, "
                   "edited_ms, tts, pinned, type, flags) VALUES(5, 6, 7, 8, 'old', 0, 0, 0, 0, 0);"
                   "PRAGMA user_version = 2;",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  ASSERT_TRUE(SqliteStore::Open(path_, &store_).ok());
  Message m;
  ASSERT_TRUE(store_->GetMessage(5, 6, &m).ok());
  EXPECT_EQ(m.content, "old");
  EXPECT_EQ(m.embeds, "");
  EXPECT_EQ(m.ref_message_id, 0u);
}

TEST_F(SqliteStoreTest, AnEmptyFileIsCorruptionNotANewStore) {
  store_.reset();
  const std::string empty = root_ + "/data/empty.db";
  { std::ofstream(empty, std::ios::trunc); }
  ASSERT_EQ(std::filesystem::file_size(empty), 0u);
  Status s = SqliteStore::Open(empty, &store_);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.ToString().find("is empty"), std::string::npos) << s.ToString();
  EXPECT_EQ(store_, nullptr);
  EXPECT_EQ(std::filesystem::file_size(empty), 0u) << "the file must be left as it was";
  // A missing file is a new store.
  std::filesystem::remove(empty);
  ASSERT_TRUE(SqliteStore::Open(empty, &store_).ok());
}

}  // namespace
}  // namespace parley
