// parley-load's HTTP/1.1 side: a blocking keep-alive client for set-up
// (register, guild, invite, join) and the REST message publisher.
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
#include "load/publisher.h"

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

// Publishes to one channel over Parley's REST API: a pool of keep-alive
// connections per publisher token (an idle connection if there is one, else
// pipelined on the least busy); a 2xx reply acknowledges the message.
class RestPublisher final : public Publisher {
 public:
  RestPublisher(std::string host, int port, std::string channel_id, std::vector<std::string> tokens,
                int conns_per_publisher, int size);
  ~RestPublisher() override;
  bool Connect(std::string* error) override;

 private:
  struct Conn;
  void Send(uint64_t k) override;
  void AbandonOutstanding() override;
  void StartRead(Conn* c);
  void StartWrite(Conn* c);
  void Fail(Conn* c, const std::string& reason);

  std::string host_, channel_id_;
  int port_;
  std::vector<std::string> tokens_;
  std::vector<std::vector<std::unique_ptr<Conn>>> pools_;  // per publisher
};

}  // namespace parley::load
