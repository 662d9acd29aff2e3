#include "load/http_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <istream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "load/sysinfo.h"

namespace parley::load {
namespace {

using json_scan::ArrayIds;
using json_scan::ParseId;
using json_scan::TopLevelString;

TEST(JsonScan, TopLevelStringSkipsNestedObjectsAndEscapedQuotes) {
  const std::string msg =
      R"({"type":0,"channel_id":"7","content":"a \"id\":\"1\" \\","attachments":[],)"
      R"("embeds":[{"id":"2"}],"flags":0,"id":"123456789012345678",)"
      R"("author":{"id":"99","username":"u"},"n":-1.5e3,"ok":true,"x":null})";
  EXPECT_EQ(TopLevelString(msg, "id"), "123456789012345678");
  EXPECT_EQ(TopLevelString(msg, "channel_id"), "7");
  EXPECT_EQ(TopLevelString(msg, "type"), "");  // not a string
  EXPECT_EQ(TopLevelString(msg, "missing"), "");
  EXPECT_EQ(TopLevelString(R"({"id":"1")", "id"), "");  // truncated
  EXPECT_EQ(TopLevelString(R"(["id","1"])", "id"), "");
  EXPECT_EQ(TopLevelString("", "id"), "");
  EXPECT_EQ(ParseId("123"), 123u);
  EXPECT_EQ(ParseId("12a"), 0u);
  EXPECT_EQ(ParseId(""), 0u);
  EXPECT_EQ(ParseId("99999999999999999999999"), 0u);
}

TEST(JsonScan, ArrayIdsReadsEveryElementsOwnId) {
  std::vector<uint64_t> ids;
  EXPECT_TRUE(ArrayIds(
      R"([{"content":"}]","id":"30","author":{"id":"5"}}, {"id":"20"} ,{"mentions":[],"id":"10"}])",
      &ids));
  EXPECT_EQ(ids, (std::vector<uint64_t>{30, 20, 10}));
  ids.clear();
  EXPECT_TRUE(ArrayIds(" [ ] ", &ids));
  EXPECT_TRUE(ids.empty());
  EXPECT_FALSE(ArrayIds(R"([{"id":"1"},{"author":{"id":"2"}}])", &ids));  // no top-level id
  EXPECT_FALSE(ArrayIds(R"([{"id":"1"})", &ids));                         // truncated
  EXPECT_FALSE(ArrayIds(R"([{"id":"1"}]x)", &ids));                       // trailing bytes
  EXPECT_FALSE(ArrayIds(R"({"id":"1"})", &ids));                          // not an array
  EXPECT_FALSE(ArrayIds(R"([1,2])", &ids));
  EXPECT_FALSE(ArrayIds(R"({"message":"Unknown Channel","code":10003})", &ids));
}

TEST(HttpPool, RequestBytes) {
  EXPECT_EQ(HttpRequestBytes("GET", "127.0.0.1", 80, "/x?a=1", "tok", ""),
            "GET /x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUser-Agent: parley-load\r\n"
            "Authorization: tok\r\n\r\n");
  EXPECT_EQ(HttpRequestBytes("POST", "h", 1, "/m", "", "{}"),
            "POST /m HTTP/1.1\r\nHost: h:1\r\nUser-Agent: parley-load\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(PostContent(3, 20), "parley-load c3 xxxxx");
  EXPECT_EQ(PostContent(3, 5), "parle");
}

// A tiny HTTP/1.1 server on a thread: answers each request with [] and
// closes the connection after every `close_every`-th reply of a connection
// (0: never), or drops it without a reply when `drop_every` says so.
class TinyServer {
 public:
  TinyServer(int close_every, int drop_every)
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}),
        close_every_(close_every),
        drop_every_(drop_every) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Accept(); });
  }
  ~TinyServer() {
    stop_ = true;
    {  // wakes the blocking accept
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::socket s(ioc);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
                ec);
      thread_.join();
    }
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_; }

 private:
  void Accept() {
    for (int i = 0; i < 1000 && !stop_; ++i) {
      boost::asio::ip::tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      conns_.emplace_back([this, s = std::move(s)]() mutable { Serve(std::move(s)); });
    }
  }
  void Serve(boost::asio::ip::tcp::socket s) {
    boost::asio::streambuf buf;
    for (int n = 1; n < 100'000 && !stop_; ++n) {
      boost::system::error_code ec;
      boost::asio::read_until(s, buf, "\r\n\r\n", ec);
      if (ec) return;
      std::string line;
      std::istream in(&buf);
      for (int i = 0; i < 100 && std::getline(in, line) && line != "\r"; ++i) {
      }
      ++requests_;
      if (drop_every_ && n % drop_every_ == 0) return;  // no reply: conn-closed
      const bool close = close_every_ && n % close_every_ == 0;
      std::string r = std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n") +
                      (close ? "Connection: close\r\n" : "") + "\r\n[]";
      boost::asio::write(s, boost::asio::buffer(r), ec);
      if (ec || close) return;
    }
  }
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int close_every_, drop_every_, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

struct Counts {
  std::mutex mu;
  int ok = 0, failed = 0, conn_closed = 0;
};

TEST(HttpPool, ClosedLoopSendsUntilNextSaysStop) {
  TinyServer server(3, 0);  // a new connection after every third reply
  std::atomic<int> budget{50};
  Counts n;
  ClosedLoopConfig cfg;
  cfg.port = server.port();
  cfg.conns = 4;
  cfg.threads = 2;
  ClosedLoop loop(
      cfg,
      [&](int, int, std::string* req) {
        if (budget.fetch_sub(1) <= 0) return false;
        *req = HttpRequestBytes("GET", "127.0.0.1", cfg.port, "/", "", "");
        return true;
      },
      [&](int, int, const HttpDone& d) {
        std::lock_guard lock(n.mu);
        if (d.status == 200 && d.body == "[]" && d.done_ns >= d.sent_ns) {
          ++n.ok;
        } else {
          ++n.failed;
        }
      });
  const int64_t now = NowNs();
  auto st = loop.Run(now + 10'000'000'000, now + 15'000'000'000, nullptr);
  EXPECT_EQ(n.ok, 50);
  EXPECT_EQ(n.failed, 0);
  EXPECT_TRUE(st.drained);
  EXPECT_GE(st.connects, 17u);              // each connection closes after 3 replies
  EXPECT_LT(NowNs() - now, 5'000'000'000);  // stopped when Next said so, not at the stop time
}

TEST(HttpPool, ClosedLoopReportsDroppedRequestsAndStopsOnTime) {
  TinyServer server(0, 2);  // every second request of a connection is never answered
  Counts n;
  ClosedLoopConfig cfg;
  cfg.port = server.port();
  cfg.conns = 2;
  ClosedLoop loop(
      cfg,
      [&](int, int, std::string* req) {
        *req = HttpRequestBytes("GET", "127.0.0.1", cfg.port, "/", "", "");
        return true;
      },
      [&](int, int, const HttpDone& d) {
        std::lock_guard lock(n.mu);
        if (d.status == 200) {
          ++n.ok;
        } else {
          ++n.failed;
          if (std::string(d.error) == "conn-closed") ++n.conn_closed;
        }
      });
  const int64_t now = NowNs();
  auto st = loop.Run(now + 700'000'000, now + 2'000'000'000, nullptr);
  const int64_t took = NowNs() - now;
  EXPECT_GE(took, 700'000'000);
  EXPECT_LT(took, 2'500'000'000);
  EXPECT_GT(n.ok, 0);
  EXPECT_GT(n.conn_closed, 0);
  EXPECT_EQ(n.failed, n.conn_closed);
  EXPECT_TRUE(st.drained);
}

}  // namespace
}  // namespace parley::load
