#include "net/http_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include "metrics/server_metrics.h"
#include "net/http_request_rules.h"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct HttpServer::LoopState {
  LoopState(int i, asio::io_context& c) : index(i), ctx(c), acceptor(c), sweep(c) {}
  int index;
  asio::io_context& ctx;
  tcp::acceptor acceptor;
  // One coarse timer per loop instead of one per socket: every sweep closes
  // the sessions whose deadline passed (header, idle and write timeouts).
  asio::steady_timer sweep;
  // Touched only on this loop's thread. Weak: a session dropped without
  // Finish() (e.g. a reply that never came) is skipped, never dereferenced.
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(HttpServer* server, HttpServer::LoopState* ls, tcp::socket&& socket,
              const asio::ip::address& peer, uint32_t address_slot)
      : server_(server),
        ls_(ls),
        socket_(std::move(socket)),
        remote_ip_(peer.to_string()),
        address_slot_(address_slot) {}
  ~HttpSession() { ReleaseAddress(); }  // also when dropped without Finish()

  void Start() {
    ls_->sessions.emplace(this, weak_from_this());
    server_->open_.fetch_add(1, std::memory_order_relaxed);
    DoRead();
  }

  // On the loop thread.
  void Reply(Response&& res) {
    server_->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    busy_ = false;
    ReleaseBody();
    res_ = std::move(res);
    if (server_->stopping_.load(std::memory_order_relaxed)) res_.keep_alive(false);
    res_.prepare_payload();
    Write();
  }

  // Closes the connection if no request is being handled (shutdown).
  void CloseIfIdle() {
    if (!busy_ && !writing_) {
      beast::error_code ec;
      socket_.shutdown(tcp::socket::shutdown_both, ec);
      socket_.close(ec);
    }
  }

  asio::io_context& ctx() { return ls_->ctx; }
  int loop_index() const { return ls_->index; }
  HttpServer* server() const { return server_; }

  using Clock = std::chrono::steady_clock;
  // Called by the loop's sweep: closes the socket if its deadline passed,
  // which fails the pending read or write (and so ends the session).
  void CloseIfExpired(Clock::time_point now) {
    if (now < deadline_) return;
    deadline_ = Clock::time_point::max();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
  const std::string& remote_ip() const { return remote_ip_; }

 private:
  void DoRead() {
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options_.header_limit));
    parser_->body_limit(server_->options_.body_limit);
    if (requests_ > 0 && buffer_.size() == 0) {
      // Kept alive: idle until the next request's first byte, then the
      // header timeout for its headers (as nginx's keepalive_timeout and
      // client_header_timeout): a request that trickles in on a kept-alive
      // connection gets no more time than a first one.
      SetDeadline(server_->options_.idle_timeout);
      socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
        if (ec) return self->OnRead(ec);
        self->ReadHeader();
      });
      return;
    }
    ReadHeader();
  }

  void ReadHeader() {
    SetDeadline(server_->options_.header_timeout);
    // The header first: its framing is checked before any body is read.
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    head_request_ = parser_->get().method() == http::verb::head;
    if (auto refusal = FramingRefusal(parser_->get()))
      return ReplyError(refusal->status, refusal->body);
    if (parser_->is_done()) return OnRead(ec);
    // A body beyond the per-connection allowance is held against the
    // process's budget for its whole declared size (string_body reserves it
    // at once); chunked bodies, whose size is unknown, for --body-limit.
    const auto& opts = server_->options_;
    size_t need = parser_->content_length() ? static_cast<size_t>(*parser_->content_length())
                                            : opts.body_limit;
    if (need > opts.body_in_memory) {
      if (!server_->body_budget_.TryTake(need)) {
        metrics::M().http_body_budget_refusals->Inc();
        return ReplyError(
            503,
            R"json({"code":0,"message":"503: Service Unavailable (too many request bodies in flight)"})json",
            "1");
      }
      body_reserved_ = need;
    }
    // From here the body must arrive at --body-min-rate on average, after a
    // grace of the header timeout: a trickled upload cannot hold its memory
    // for long, a slow but steady one is not cut off.
    body_started_ = Clock::now();
    body_read_ = 0;
    ReadBody();
  }

  void ReadBody() {
    const auto& opts = server_->options_;
    auto allowed = opts.header_timeout;
    if (opts.body_min_rate > 0)
      allowed += std::chrono::milliseconds(body_read_ * 1000 / opts.body_min_rate);
    deadline_ = body_started_ + allowed;
    http::async_read_some(socket_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (ec || self->parser_->is_done()) return self->OnRead(ec);
                            self->body_read_ += n;
                            self->ReadBody();
                          });
  }

  // Gives the body's share of the budget back (its request was answered or
  // the connection ended).
  void ReleaseBody() {
    if (body_reserved_ == 0) return;
    server_->body_budget_.Give(body_reserved_);
    body_reserved_ = 0;
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit)
        return ReplyError(413, R"({"code":40005,"message":"Request entity too large"})");
      if (ec == http::error::header_limit)
        return ReplyError(431, R"({"code":0,"message":"Request header fields too large"})");
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          ec == asio::error::eof || ec == asio::error::bad_descriptor)
        return Finish();
      // Any other parse error: malformed HTTP.
      return ReplyError(400, R"({"code":0,"message":"400: Bad Request"})");
    }
    ++requests_;
    NormalizeAbsoluteTarget(&parser_->get());
    if (server_->upgrade_ && server_->wants_upgrade_(parser_->get())) return HandOver();
    busy_ = true;
    server_->in_flight_.fetch_add(1, std::memory_order_relaxed);
    // While the handler works, the only limit is the write timeout later.
    deadline_ = Clock::time_point::max();
    server_->handler_(parser_->release(), Responder(shared_from_this()));
  }

  // The request was an upgrade (WebSocket): the socket and whatever was
  // read past the request go to the upgrade handler; this session ends
  // without closing the socket.
  void HandOver() {
    finished_ = true;
    ReleaseBody();
    ls_->sessions.erase(this);
    server_->open_.fetch_sub(1, std::memory_order_relaxed);
    auto data = buffer_.data();
    std::string leftover(static_cast<const char*>(data.data()), data.size());
    uint32_t slot = std::exchange(address_slot_, ConnectionsPerAddress::kUncounted);
    server_->upgrade_(ls_->index, parser_->release(), std::move(socket_), leftover, slot);
  }

  void ReplyError(unsigned status, const char* body, const char* retry_after = nullptr) {
    res_ = Response(static_cast<http::status>(status), 11);
    res_.set(http::field::content_type, "application/json");
    if (retry_after) res_.set(http::field::retry_after, retry_after);
    res_.body() = body;
    res_.keep_alive(false);
    res_.prepare_payload();
    Write();
  }

  // Writes res_ as one gather write of (status line + fields, body). Beast's
  // serializer cost ~5% of CPU per request in bench/rest.sh writes; the
  // header is simple enough to lay out directly.
  void Write() {
    writing_ = true;
    head_.clear();
    head_.append(res_.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    head_.append(std::to_string(res_.result_int()));
    head_.push_back(' ');
    head_.append(http::obsolete_reason(res_.result()));
    head_.append("\r\n");
    for (const auto& f : res_) {
      head_.append(f.name_string());
      head_.append(": ");
      head_.append(f.value());
      head_.append("\r\n");
    }
    head_.append("\r\n");
    // A reply to HEAD has the GET's Content-Length and no body (RFC 9110
    // 9.3.2); else the body is read as the start of the next reply
    // (found by fuzz_http_request).
    std::array<asio::const_buffer, 2> bufs{
        asio::buffer(head_), head_request_ ? asio::const_buffer() : asio::buffer(res_.body())};
    SetDeadline(server_->options_.write_timeout);
    asio::async_write(socket_, bufs, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    if (ec) return Finish();
    if (!res_.keep_alive() || server_->stopping_.load(std::memory_order_relaxed)) {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      return Linger();
    }
    res_ = {};
    DoRead();
  }

  // Lingering close (as nginx does): after a final reply, read and discard
  // what the client still sends for a moment before closing. Closing a
  // socket with unread input sends a reset, which can destroy the reply
  // (e.g. a 413 while the client is still uploading).
  void Linger() {
    if (lingered_ >= kMaxLingerBytes) return Finish();
    SetDeadline(std::chrono::milliseconds(2000));
    static thread_local char sink[16 * 1024];
    socket_.async_read_some(asio::buffer(sink),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Finish();
                              self->lingered_ += n;
                              self->Linger();
                            });
  }
  static constexpr size_t kMaxLingerBytes = 8 * 1024 * 1024;

  void Finish() {
    if (finished_) return;
    finished_ = true;
    ReleaseBody();
    ls_->sessions.erase(this);
    server_->open_.fetch_sub(1, std::memory_order_relaxed);
    beast::error_code ignored;
    socket_.close(ignored);
    ReleaseAddress();
  }

  void SetDeadline(std::chrono::milliseconds d) { deadline_ = Clock::now() + d; }

  void ReleaseAddress() {
    if (server_->options_.per_address)
      server_->options_.per_address->Release(
          std::exchange(address_slot_, ConnectionsPerAddress::kUncounted));
  }

  HttpServer* server_;
  HttpServer::LoopState* ls_;
  tcp::socket socket_;
  Clock::time_point deadline_ = Clock::time_point::max();
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response res_;
  std::string head_;  // status line and fields of res_, while writing
  std::string remote_ip_;
  Clock::time_point body_started_;
  size_t body_read_ = 0;      // bytes of the current body read so far
  size_t body_reserved_ = 0;  // taken from the server's BodyBudget
  uint32_t address_slot_;     // in options_.per_address (kUncounted once released)
  uint32_t requests_ = 0;
  size_t lingered_ = 0;
  bool head_request_ = false;  // the request being answered is a HEAD
  bool busy_ = false;
  bool writing_ = false;
  bool finished_ = false;
};

void Responder::operator()(Response&& res) const {
  auto s = session_;
  if (EventLoops::CurrentIndex() == s->loop_index()) return s->Reply(std::move(res));
  s->server()->loops_->Post(s->loop_index(),
                            [s, r = std::move(res)]() mutable { s->Reply(std::move(r)); });
}

void Responder::Run(std::function<void()> fn) const {
  session_->server()->loops_->Post(session_->loop_index(), std::move(fn));
}

const std::string& Responder::remote_ip() const {
  return session_->remote_ip();
}

HttpServer::HttpServer(EventLoops* loops, HttpServerOptions options, Handler handler)
    : loops_(loops),
      options_(std::move(options)),
      handler_(std::move(handler)),
      body_budget_(options_.body_budget) {}

HttpServer::~HttpServer() = default;

Status HttpServer::Start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address: " + options_.host);
  uint16_t port = options_.port;
  for (int i = 0; i < loops_->size(); ++i) {
    auto ls = std::make_unique<LoopState>(i, loops_->loop(i));
    tcp::endpoint ep(addr, port);
    ls->acceptor.open(ep.protocol(), ec);
    if (!ec) ls->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(ls->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
          0)
        ec = beast::error_code(errno, boost::system::system_category());
    }
    if (!ec) ls->acceptor.bind(ep, ec);
    if (!ec) ls->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Status::IOError("cannot listen on " + options_.host + ":" + std::to_string(port) +
                             ": " + ec.message());
    // Port 0: every further acceptor joins the port the first one got.
    port = ls->acceptor.local_endpoint().port();
    per_loop_.push_back(std::move(ls));
  }
  port_ = port;
  for (auto& ls : per_loop_) {
    LoopState* p = ls.get();
    asio::post(p->ctx, [this, p] {
      Accept(p);
      Sweep(p);
    });
  }
  return Status::OK();
}

void HttpServer::Sweep(LoopState* ls) {
  ls->sweep.expires_after(std::chrono::milliseconds(250));
  ls->sweep.async_wait([this, ls](beast::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    for (auto it = ls->sessions.begin(); it != ls->sessions.end();) {
      auto s = it->second.lock();
      if (!s) {
        it = ls->sessions.erase(it);
        continue;
      }
      ++it;  // CloseIfExpired never erases synchronously (Finish runs later)
      s->CloseIfExpired(now);
    }
    Sweep(ls);
  });
}

void HttpServer::Accept(LoopState* ls) {
  ls->acceptor.async_accept(ls->ctx, [this, ls](beast::error_code ec, tcp::socket socket) {
    if (stopping_.load(std::memory_order_relaxed) || !ls->acceptor.is_open()) return;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      metrics::M().accept_errors->Inc();
      auto t = std::make_shared<asio::steady_timer>(ls->ctx, std::chrono::milliseconds(50));
      t->async_wait([this, ls, t](beast::error_code) { Accept(ls); });
      return;
    }
    accepted_.fetch_add(1, std::memory_order_relaxed);
    if (options_.max_connections > 0 &&
        open_.load(std::memory_order_relaxed) +
                (options_.other_connections ? options_.other_connections() : 0) >=
            options_.max_connections) {
      metrics::M().connections_refused_max->Inc();
      RefuseConnection(std::move(socket), "too many connections");
      return Accept(ls);
    }
    auto peer = socket.remote_endpoint(ec);
    if (ec) {  // reset before we looked: nothing to serve
      socket.close(ec);
      return Accept(ls);
    }
    uint32_t slot = ConnectionsPerAddress::kUncounted;
    if (options_.per_address) {
      auto taken = options_.per_address->Acquire(peer.address());
      if (!taken) {
        metrics::M().connections_refused_per_ip->Inc();
        RefuseConnection(std::move(socket), "too many connections from this address");
        return Accept(ls);
      }
      slot = *taken;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<HttpSession>(this, ls, std::move(socket), peer.address(), slot)->Start();
    Accept(ls);
  });
}

void HttpServer::RefuseConnection(tcp::socket&& socket, std::string_view why) {
  // One write on the fresh socket (its buffer takes these ~250 bytes at
  // once), then close: the client learns why instead of hanging.
  std::string body = R"js({"code":0,"message":"503: Service Unavailable ()js";
  body.append(why);
  body.append(")\"}");
  std::string res =
      "HTTP/1.1 503 Service Unavailable\r\nServer: parley\r\nContent-Type: application/json\r\n"
      "Retry-After: 5\r\nConnection: close\r\nContent-Length: ";
  res.append(std::to_string(body.size()));
  res.append("\r\n\r\n");
  res.append(body);
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(res), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void HttpServer::Shutdown(std::chrono::milliseconds deadline) {
  stopping_.store(true);
  for (auto& ls : per_loop_) {
    LoopState* p = ls.get();
    asio::post(p->ctx, [p] {
      beast::error_code ec;
      p->acceptor.close(ec);
      p->sweep.cancel();
      std::vector<std::shared_ptr<HttpSession>> live;
      for (auto& [_, weak] : p->sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
      for (auto& s : live) s->CloseIfIdle();
    });
  }
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until && (in_flight_.load() > 0 || open_.load() > 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace parley::net
