#include "web/static_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace parley::web {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // mkdtemp: a fresh directory no other test process can be given (ctest
    // runs tests as separate processes in parallel, with the same seed).
    std::string tmpl = (fs::temp_directory_path() / "parley-web-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << "mkdtemp " << tmpl;
    root_ = tmpl;
    fs::create_directories(root_ / "js");
    Write("index.html", "<!doctype html><title>Parley</title>");
    Write("js/app.js", "export const x = 1;\n");
    Write(".secret", "no");
    ASSERT_TRUE(files_.Load(root_.string()).ok());
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  void Write(const std::string& rel, const std::string& body) {
    std::ofstream(root_ / rel, std::ios::binary) << body;
  }
  net::Response Get(const std::string& target, const std::string& etag = "") {
    net::Request req(http::verb::get, target, 11);
    if (!etag.empty()) req.set(http::field::if_none_match, etag);
    return files_.Serve(req);
  }

  fs::path root_;
  StaticFiles files_;
};

TEST_F(StaticFilesTest, ServesFilesWithTypeAndCaching) {
  auto res = Get("/js/app.js");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(res.body(), "export const x = 1;\n");
  EXPECT_EQ(res[http::field::cache_control], "no-cache");
  EXPECT_FALSE(res[http::field::etag].empty());
}

TEST_F(StaticFilesTest, EtagGives304) {
  auto first = Get("/js/app.js");
  auto again = Get("/js/app.js", std::string(first[http::field::etag]));
  EXPECT_EQ(again.result_int(), 304);
  EXPECT_TRUE(again.body().empty());
  EXPECT_EQ(Get("/js/app.js", "\"other\"").result_int(), 200);
}

TEST_F(StaticFilesTest, ClientRoutesGetTheAppWithCsp) {
  for (const char* route : {"/", "/channels/1/2", "/invite/abc", "/login?next=/x"}) {
    auto res = Get(route);
    EXPECT_EQ(res.result_int(), 200) << route;
    EXPECT_EQ(res.body(), "<!doctype html><title>Parley</title>") << route;
    EXPECT_EQ(res[http::field::cache_control], "no-cache") << route;
    EXPECT_EQ(res["Content-Security-Policy"], StaticFiles::kContentSecurityPolicy) << route;
  }
}

TEST_F(StaticFilesTest, DotFilesAndTraversalAreNotServed) {
  EXPECT_NE(Get("/.secret").body(), "no");
  EXPECT_NE(Get("/../etc/passwd").body().find("Parley"), std::string::npos);
}

TEST(StaticFiles, MissingRootAnswers404) {
  StaticFiles none;
  ASSERT_TRUE(none.Load("/nonexistent/parley-web").ok());
  net::Request req(http::verb::get, "/", 11);
  EXPECT_EQ(none.Serve(req).result_int(), 404);
}

TEST(StaticFiles, MimeTypes) {
  EXPECT_EQ(StaticFiles::MimeType("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticFiles::MimeType("a.svg"), "image/svg+xml");
  EXPECT_EQ(StaticFiles::MimeType("a.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace parley::web
