#include "load/rest.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <stdexcept>
#include <thread>

#include "load/sysinfo.h"

namespace parley::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

// ------------------------------------------------------------------ SyncHttp

bool SyncHttp::Connect(std::string* error) {
  beast::error_code ec;
  sock_.emplace(ioc_);
  tcp::endpoint ep(asio::ip::make_address(host_, ec), static_cast<unsigned short>(port_));
  if (ec) {
    *error = "bad address " + host_;
    return false;
  }
  sock_->connect(ep, ec);
  if (ec) {
    *error = "connect: " + ec.message();
    sock_.reset();
    return false;
  }
  timeval tv{15, 0};
  setsockopt(sock_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(sock_->native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sock_->set_option(tcp::no_delay(true));
  buf_.clear();
  return true;
}

HttpReply SyncHttp::Request(const std::string& method, const std::string& target,
                            const std::string& token, const std::string& body) {
  HttpReply r;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!sock_ && !Connect(&r.error)) return r;
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_ + ":" + std::to_string(port_));
    req.set(http::field::user_agent, "parley-load");
    if (!token.empty()) req.set(http::field::authorization, token);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.keep_alive(true);
    req.prepare_payload();
    beast::error_code ec;
    http::write(*sock_, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (!ec) http::read(*sock_, buf_, parser, ec);
    if (ec) {
      r.error = ec.message();
      sock_.reset();
      continue;  // a closed keep-alive connection: one more try on a new one
    }
    r.status = parser.get().result_int();
    r.body = std::move(parser.get().body());
    r.error.clear();
    if (!parser.get().keep_alive()) sock_.reset();
    return r;
  }
  return r;
}

namespace {

json::value CallJson(SyncHttp& http, const std::string& method, const std::string& target,
                     const std::string& token, const json::object& body) {
  HttpReply r = http.Request(method, "/api/v10" + target, token,
                             body.empty() && method == "GET" ? "" : json::serialize(body));
  if (r.status < 200 || r.status >= 300) {
    throw std::runtime_error(method + " " + target + " -> " +
                             (r.status ? std::to_string(r.status) + " " + r.body.substr(0, 300)
                                       : "transport error: " + r.error));
  }
  beast::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec) throw std::runtime_error(method + " " + target + ": reply is not JSON");
  return v;
}

std::string Str(const json::value& v, const char* key) {
  const auto* o = v.if_object();
  const json::value* f = o ? o->if_contains(key) : nullptr;
  if (!f || !f->is_string()) throw std::runtime_error(std::string("reply without \"") + key + "\"");
  return std::string(f->as_string());
}

}  // namespace

SetupResult SetupGuild(const std::string& host, int port, int users, int publishers) {
  SyncHttp http(host, port);
  SetupResult out;
  std::random_device rd;
  char run[16];
  std::snprintf(run, sizeof run, "%06x", rd() & 0xffffff);
  const std::string password = "parley-load-password";
  std::vector<std::string> tokens;
  int total = users + publishers;
  for (int i = 0; i < total; ++i) {
    std::string name = std::string("pl") + run + (i < users ? "u" : "p") + std::to_string(i);
    auto v = CallJson(http, "POST", "/auth/register", "",
                      json::object{{"username", name}, {"password", password}});
    tokens.push_back(Str(v, "token"));
    if ((i + 1) % 500 == 0) std::fprintf(stderr, "setup: %d/%d users registered\n", i + 1, total);
  }
  auto g = CallJson(http, "POST", "/guilds", tokens[0],
                    json::object{{"name", std::string("parley-load ") + run}});
  out.guild_id = Str(g, "id");
  if (const auto* chans = g.as_object().if_contains("channels"); chans && chans->is_array()) {
    for (const auto& c : chans->as_array()) {
      const auto* type = c.as_object().if_contains("type");
      if (type && type->is_int64() && type->as_int64() == 0) {
        out.channel_id = Str(c, "id");
        break;
      }
    }
  }
  if (out.channel_id.empty()) throw std::runtime_error("the new guild has no text channel");
  auto inv = CallJson(http, "POST", "/channels/" + out.channel_id + "/invites", tokens[0],
                      json::object{{"max_uses", 0}, {"max_age", 0}});
  std::string code = Str(inv, "code");
  for (int i = 1; i < total; ++i) {
    CallJson(http, "POST", "/invites/" + code, tokens[i], json::object{});
  }
  out.user_tokens.assign(tokens.begin(), tokens.begin() + users);
  out.publisher_tokens.assign(tokens.begin() + users, tokens.end());
  return out;
}

// ----------------------------------------------------------------- Publisher

struct RestPublisher::Conn {
  explicit Conn(asio::io_context& ioc) : sock(ioc) {}
  tcp::socket sock;
  beast::flat_buffer buf;
  std::optional<http::response_parser<http::string_body>> parser;
  std::deque<int64_t> inflight;  // actual write time of each request awaiting its reply
  std::string out, writing;
  bool busy_writing = false;
  bool dead = true;
  uint64_t gen = 0;  // bumped on every (re)connect: stale completions are ignored
  int publisher = 0;
};

RestPublisher::RestPublisher(std::string host, int port, std::string channel_id,
                             std::vector<std::string> tokens, int conns_per_publisher, int size)
    : Publisher(size),
      host_(std::move(host)),
      channel_id_(std::move(channel_id)),
      port_(port),
      tokens_(std::move(tokens)) {
  pools_.resize(tokens_.size());
  for (size_t p = 0; p < tokens_.size(); ++p) {
    for (int i = 0; i < conns_per_publisher; ++i) {
      pools_[p].push_back(std::make_unique<Conn>(ioc_));
      pools_[p].back()->publisher = static_cast<int>(p);
    }
  }
}

RestPublisher::~RestPublisher() {
  for (auto& pool : pools_) {
    for (auto& c : pool) {
      beast::error_code ec;
      c->sock.close(ec);
    }
  }
}

bool RestPublisher::Connect(std::string* error) {
  ioc_.restart();
  ioc_.poll();  // completions that arrived between steps (e.g. idle connections closed)
  int open = 0;
  beast::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(host_, ec), static_cast<unsigned short>(port_));
  for (auto& pool : pools_) {
    for (auto& c : pool) {
      if (!c->dead) {
        ++open;
        continue;
      }
      c->sock.close(ec);
      c->sock = tcp::socket(ioc_);
      c->sock.connect(ep, ec);
      if (ec) {
        *error = "connect: " + ec.message();
        continue;
      }
      c->sock.set_option(tcp::no_delay(true));
      c->dead = false;
      ++c->gen;
      c->buf.clear();
      c->out.clear();
      c->inflight.clear();
      c->busy_writing = false;
      ++open;
      StartRead(c.get());
    }
  }
  return open > 0;
}

void RestPublisher::StartRead(Conn* c) {
  c->parser.emplace();
  c->parser->body_limit(1 << 20);
  uint64_t gen = c->gen;
  http::async_read(c->sock, c->buf, *c->parser, [this, c, gen](beast::error_code ec, size_t) {
    if (gen != c->gen || c->dead) return;
    if (ec) return Fail(c, ec == http::error::end_of_stream ? "conn-closed" : "conn-error");
    int status = c->parser->get().result_int();
    bool keep = c->parser->get().keep_alive();
    if (!c->inflight.empty()) {
      int64_t sent = c->inflight.front();
      c->inflight.pop_front();
      if (status >= 200 && status < 300) {
        Acked(sent);
      } else {
        Failed("http-" + std::to_string(status));
      }
    }
    if (!keep) return Fail(c, "conn-closed");
    StartRead(c);
  });
}

void RestPublisher::StartWrite(Conn* c) {
  c->busy_writing = true;
  c->writing.swap(c->out);
  c->out.clear();
  uint64_t gen = c->gen;
  asio::async_write(c->sock, asio::buffer(c->writing),
                    [this, c, gen](beast::error_code ec, size_t) {
                      if (gen != c->gen || c->dead) return;
                      c->busy_writing = false;
                      if (ec) return Fail(c, "conn-error");
                      if (!c->out.empty()) StartWrite(c);
                    });
}

void RestPublisher::Fail(Conn* c, const std::string& reason) {
  for (size_t i = 0; i < c->inflight.size(); ++i) Failed(reason);
  c->inflight.clear();
  c->dead = true;
  ++c->gen;
  beast::error_code ec;
  c->sock.close(ec);
}

void RestPublisher::AbandonOutstanding() {
  for (auto& pool : pools_) {
    for (auto& c : pool) {
      if (!c->inflight.empty()) Fail(c.get(), "reply-timeout");
    }
  }
}

void RestPublisher::Send(uint64_t k) {
  auto& pool = pools_[k % pools_.size()];
  Conn* best = nullptr;
  for (auto& c : pool) {
    if (c->dead) continue;
    if (!best || c->inflight.size() < best->inflight.size()) best = c.get();
    if (best->inflight.empty()) break;
  }
  const int64_t now = NoteSend(k);
  if (!best) {
    ++outstanding_;
    return Failed("no-connection");
  }
  if (!best->inflight.empty()) ++st_.pipelined;
  std::string content = Content(k);
  std::string body = "{\"content\":\"" + content + "\"}";
  std::string& o = best->out;
  o += "POST /api/v10/channels/" + channel_id_ + "/messages HTTP/1.1\r\nHost: " + host_ + ":" +
       std::to_string(port_) + "\r\nAuthorization: " + tokens_[best->publisher] +
       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n\r\n";
  o += body;
  best->inflight.push_back(now);
  ++outstanding_;
  ++st_.sent;
  if (!best->busy_writing) StartWrite(best);
}

}  // namespace parley::load
