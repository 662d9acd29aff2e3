// HttpServer: HTTP/1.1 on every event loop, each loop with its own
// SO_REUSEPORT acceptor (the kernel spreads connections; no shared accept
// lock). Sessions follow Boost.Beast's advanced_server_flex: bounded header
// and body sizes, a header timeout (slow-loris), an idle timeout, keep-alive,
// one request in flight per connection (pipelined requests wait, bounded by
// the read buffer).
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/body_budget.h"
#include "net/connections_per_address.h"
#include "net/event_loops.h"
#include "util/status.h"

namespace parley::net {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class HttpSession;

// Completes one request. Callable from any thread, exactly once; the reply is
// written on the connection's own loop.
class Responder {
 public:
  explicit Responder(std::shared_ptr<HttpSession> session) : session_(std::move(session)) {}
  void operator()(Response&& res) const;
  // Runs `fn` on the connection's event loop (from any thread).
  void Run(std::function<void()> fn) const;
  // The peer's IP address, as text.
  const std::string& remote_ip() const;

 private:
  std::shared_ptr<HttpSession> session_;
};

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;  // 0: pick a free port
  size_t header_limit = 16 * 1024;
  size_t body_limit = 1024 * 1024;
  // Bodies up to this size are read without the budget (each connection's
  // own allowance, like its header_limit); larger ones take their size from
  // a process-wide budget of body_budget bytes first (0: no budget), and
  // get 503 when it is spent (net/body_budget.h).
  size_t body_in_memory = 16 * 1024;
  size_t body_budget = 64 * 1024 * 1024;
  // The header must arrive within header_timeout; a body then within
  // header_timeout plus its length at body_min_rate bytes/s (0: no rate).
  size_t body_min_rate = 8 * 1024;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};  // between keep-alive requests
  std::chrono::milliseconds write_timeout{30000};
  // --max-connections: past this many open connections (this server's and
  // `other_connections()`'s: the gateway's upgraded ones), a new one gets
  // 503 with Discord's body and is closed, instead of hanging unanswered
  // at the open-file limit. 0: no cap.
  int64_t max_connections = 0;
  std::function<int64_t()> other_connections;
  // --max-connections-per-ip: counts every connection by client address;
  // past its limit a new one gets 503 and is closed. The slot of an
  // upgraded connection goes to the upgrade handler, which must give it
  // back when the socket closes. Null: no per-address count.
  ConnectionsPerAddress* per_address = nullptr;
};

class HttpServer {
 public:
  using Handler = std::function<void(Request&& req, Responder respond)>;
  // Takes over a connection whose request `wants_upgrade` accepted: runs on
  // the connection's loop (index `loop`) with the socket, the bytes read
  // past the request and the connection's ConnectionsPerAddress slot (the
  // handler releases it when the socket closes).
  using UpgradeHandler =
      std::function<void(int loop, Request&& req, boost::asio::ip::tcp::socket&& socket,
                         std::string_view leftover, uint32_t address_slot)>;
  using UpgradeFilter = std::function<bool(const Request& req)>;

  // REQUIRES: `loops` outlives the server.
  HttpServer(EventLoops* loops, HttpServerOptions options, Handler handler);
  ~HttpServer();

  // REQUIRES: called before Start().
  void SetUpgradeHandler(UpgradeFilter wants_upgrade, UpgradeHandler handler) {
    wants_upgrade_ = std::move(wants_upgrade);
    upgrade_ = std::move(handler);
  }

  // Binds one acceptor per loop and starts accepting.
  Status Start();
  uint16_t port() const { return port_; }

  // Stops accepting, closes idle connections, lets in-flight requests finish
  // (their connections close after the reply). Returns when none is left or
  // `deadline` passed.
  void Shutdown(std::chrono::milliseconds deadline);

  // Counters (relaxed).
  uint64_t connections_accepted() const { return accepted_.load(std::memory_order_relaxed); }
  // Connections with a request being handled (the pool's active HTTP ones).
  int64_t requests_in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // Bytes of request bodies held against the budget now.
  size_t body_budget_in_use() const { return body_budget_.in_use(); }
  int64_t connections_open() const { return open_.load(std::memory_order_relaxed); }

 private:
  friend class HttpSession;
  friend class Responder;
  struct LoopState;
  void Accept(LoopState* ls);
  // 503 with Discord's body, then close: a socket past a connection cap.
  static void RefuseConnection(boost::asio::ip::tcp::socket&& socket, std::string_view why);
  void Sweep(LoopState* ls);

  EventLoops* loops_;
  HttpServerOptions options_;
  Handler handler_;
  UpgradeFilter wants_upgrade_;
  UpgradeHandler upgrade_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<LoopState>> per_loop_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<int64_t> open_{0};
  std::atomic<int64_t> in_flight_{0};
  BodyBudget body_budget_;
};

}  // namespace parley::net
