// parley-load's HTTP/1.1 side: a blocking keep-alive client for set-up
// (register, guild, invite, join) and an open-loop message publisher.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "load/histogram.h"

namespace parley::load {

struct HttpReply {
  int status = 0;  // 0: transport error
  std::string body;
  std::string error;
};

// One keep-alive connection, blocking, with 15 s socket timeouts; reconnects
// once when the server closed an idle connection.
class SyncHttp {
 public:
  SyncHttp(std::string host, int port) : host_(std::move(host)), port_(port) {}
  HttpReply Request(const std::string& method, const std::string& target, const std::string& token,
                    const std::string& body);

 private:
  bool Connect(std::string* error);
  boost::asio::io_context ioc_;
  std::optional<boost::asio::ip::tcp::socket> sock_;
  boost::beast::flat_buffer buf_;
  std::string host_;
  int port_;
};

struct SetupResult {
  std::string guild_id, channel_id;
  std::vector<std::string> user_tokens;       // receivers' accounts
  std::vector<std::string> publisher_tokens;  // publishers' accounts
};

// Registers `users` + `publishers` accounts (password cost: whatever the
// server runs with; use --password-cost min), one guild owned by the first
// user, one unlimited invite; everyone joins. Throws std::runtime_error.
SetupResult SetupGuild(const std::string& host, int port, int users, int publishers);

// Open-loop publisher: message k of a step is sent at start + k/rate whatever
// happened to earlier ones, over a pool of keep-alive connections per
// publisher token (an idle connection if there is one, else pipelined on the
// least busy). The content carries the scheduled send time:
// "plt:<step>:<send_ns>:<k>:" padded with 'x' to `size` bytes.
class Publisher {
 public:
  struct StepStats {
    uint64_t scheduled = 0, sent = 0, acked = 0, failed = 0, pipelined = 0;
    std::map<std::string, uint64_t> failures;  // "http-429", "conn-error", ...
    int64_t max_lag_ns = 0;                    // worst send time behind schedule
    uint64_t late_1ms = 0;                     // sends more than 1 ms behind schedule
    Histogram ack_us;                          // REST reply latency (send → 2xx)
    int64_t first_send_ns = 0, last_send_ns = 0;
    bool replies_complete = true;  // every reply arrived before the deadline
  };

  Publisher(std::string host, int port, std::string channel_id, std::vector<std::string> tokens,
            int conns_per_publisher, int size);
  ~Publisher();
  // (Re)opens every connection that is not open. False if none could be opened.
  bool Connect(std::string* error);
  // Sends round(rate * duration_s) messages starting at start_ns and waits for
  // their replies (at most reply_wait_s after the last send). Progress on
  // stderr every second when `progress` is set.
  StepStats RunStep(int step, double rate, double duration_s, int64_t start_ns, double reply_wait_s,
                    bool progress);

 private:
  struct Conn;
  void Send(uint64_t k);
  void StartRead(Conn* c);
  void StartWrite(Conn* c);
  void Fail(Conn* c, const std::string& reason);

  boost::asio::io_context ioc_;
  std::string host_, channel_id_;
  int port_, size_;
  std::vector<std::string> tokens_;
  std::vector<std::vector<std::unique_ptr<Conn>>> pools_;  // per publisher
  // Current step.
  int step_ = 0;
  double rate_ = 0;
  int64_t start_ns_ = 0;
  uint64_t outstanding_ = 0;
  StepStats st_;
};

}  // namespace parley::load
