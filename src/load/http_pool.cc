#include "load/http_pool.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "load/sysinfo.h"

namespace parley::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr int64_t kBackoffMs = 100;
constexpr int64_t kSweepMs = 100;
}  // namespace

struct ClosedLoop::Conn {
  explicit Conn(asio::io_context& ioc) : sock(ioc), timer(ioc) {}
  tcp::socket sock;
  asio::steady_timer timer;  // reconnect back-off
  beast::flat_buffer buf;
  std::optional<http::response_parser<http::string_body>> parser;
  std::string req;
  int id = 0;
  enum State { kIdle, kConnecting, kBusy, kBackoff, kStopped } state = kIdle;
  int64_t since_ns = 0;  // connect started / request sent
  uint64_t gen = 0;      // bumped on every close: stale completions are ignored
};

struct ClosedLoop::Thread {
  asio::io_context ioc{1};
  asio::steady_timer sweep{ioc};
  std::vector<std::unique_ptr<Conn>> conns;
  tcp::endpoint ep;
  int index = 0;
  int active = 0;  // connections not stopped
  uint64_t connects = 0;
  bool undrained = false;
  int64_t end_ns = 0;
  std::atomic<uint64_t> replies{0}, failures{0};
  std::atomic<bool> finished{false};
};

ClosedLoop::ClosedLoop(ClosedLoopConfig cfg, Next next, Done done)
    : cfg_(std::move(cfg)), next_(std::move(next)), done_(std::move(done)) {
  const int nt = std::max(1, std::min(cfg_.threads, cfg_.conns));
  for (int i = 0; i < nt; ++i) {
    threads_.push_back(std::make_unique<Thread>());
    threads_.back()->index = i;
  }
  for (int c = 0; c < cfg_.conns; ++c) {
    Thread& t = *threads_[static_cast<size_t>(c % nt)];
    t.conns.push_back(std::make_unique<Conn>(t.ioc));
    t.conns.back()->id = c;
  }
}

ClosedLoop::~ClosedLoop() = default;

void ClosedLoop::Start(Thread& t, Conn* c) {
  if (NowNs() >= stop_ns_) return Stop(t, c);
  beast::error_code ec;
  c->sock.close(ec);
  c->sock = tcp::socket(t.ioc);
  c->buf.clear();
  // Beast reads at most the buffer's free capacity (at least 512 bytes): an
  // empty buffer would read a 30 KB history page 512 bytes per recv().
  c->buf.reserve(64 * 1024);
  c->state = Conn::kConnecting;
  c->since_ns = NowNs();
  const uint64_t gen = ++c->gen;
  c->sock.async_connect(t.ep, [this, &t, c, gen](beast::error_code ec) {
    if (gen != c->gen) return;
    if (ec) return Fail(t, c, "connect-error");
    beast::error_code ignored;
    c->sock.set_option(tcp::no_delay(true), ignored);
    ++t.connects;
    c->state = Conn::kIdle;
    SendNext(t, c);
  });
}

void ClosedLoop::SendNext(Thread& t, Conn* c) {
  if (NowNs() >= stop_ns_) return Stop(t, c);
  c->req.clear();
  if (!next_(t.index, c->id, &c->req)) return Stop(t, c);
  c->state = Conn::kBusy;
  c->since_ns = NowNs();
  const uint64_t gen = c->gen;
  asio::async_write(c->sock, asio::buffer(c->req),
                    [this, &t, c, gen](beast::error_code ec, size_t) {
                      if (gen != c->gen) return;
                      if (ec) return Fail(t, c, "conn-error");
                      StartRead(t, c);
                    });
}

void ClosedLoop::StartRead(Thread& t, Conn* c) {
  c->parser.emplace();
  c->parser->body_limit(cfg_.body_limit);
  const uint64_t gen = c->gen;
  http::async_read(c->sock, c->buf, *c->parser, [this, &t, c, gen](beast::error_code ec, size_t) {
    if (gen != c->gen) return;
    if (ec) return Fail(t, c, ec == http::error::end_of_stream ? "conn-closed" : "conn-error");
    auto& res = c->parser->get();
    HttpDone d;
    d.status = res.result_int();
    d.body = res.body();
    d.sent_ns = c->since_ns;
    d.done_ns = NowNs();
    t.replies.fetch_add(1, std::memory_order_relaxed);
    const bool keep = res.keep_alive();
    c->state = Conn::kIdle;
    done_(t.index, c->id, d);
    if (!keep) return Start(t, c);  // the server closes after this reply: a new connection
    SendNext(t, c);
  });
}

void ClosedLoop::Fail(Thread& t, Conn* c, const char* reason) {
  HttpDone d;
  d.error = reason;
  d.sent_ns = c->state == Conn::kBusy ? c->since_ns : 0;
  d.done_ns = NowNs();
  t.failures.fetch_add(1, std::memory_order_relaxed);
  ++c->gen;
  beast::error_code ec;
  c->sock.close(ec);
  c->state = Conn::kBackoff;
  done_(t.index, c->id, d);
  if (NowNs() >= stop_ns_) return Stop(t, c);
  c->timer.expires_after(std::chrono::milliseconds(kBackoffMs));
  const uint64_t gen = c->gen;
  c->timer.async_wait([this, &t, c, gen](beast::error_code ec) {
    if (ec || gen != c->gen) return;
    Start(t, c);
  });
}

void ClosedLoop::Stop(Thread& t, Conn* c) {
  if (c->state == Conn::kStopped) return;
  c->state = Conn::kStopped;
  ++c->gen;
  beast::error_code ec;
  c->sock.close(ec);
  c->timer.cancel();
  if (--t.active == 0) {
    t.end_ns = NowNs();
    t.sweep.cancel();
  }
}

void ClosedLoop::ArmSweep(Thread& t) {
  t.sweep.expires_after(std::chrono::milliseconds(kSweepMs));
  t.sweep.async_wait([this, &t](beast::error_code ec) {
    if (ec || t.active == 0) return;
    const int64_t now = NowNs(), limit = cfg_.reply_timeout_ms * 1'000'000;
    for (auto& c : t.conns) {
      if (c->state == Conn::kBackoff && now >= stop_ns_) {
        Stop(t, c.get());  // waiting to reconnect after the stop time: nothing more to send
      } else if ((c->state == Conn::kBusy || c->state == Conn::kConnecting) &&
                 now - c->since_ns > limit) {
        Fail(t, c.get(), c->state == Conn::kBusy ? "reply-timeout" : "connect-timeout");
      }
    }
    if (t.active > 0) ArmSweep(t);
  });
}

void ClosedLoop::Loop(Thread& t) {
  for (int i = 0; i < 10'000'000 && t.active > 0; ++i) {
    if (NowNs() >= drain_ns_) break;
    if (t.ioc.stopped()) t.ioc.restart();
    t.ioc.run_for(std::chrono::milliseconds(kSweepMs));
  }
  // The drain deadline passed: what is still unanswered fails.
  for (auto& c : t.conns) {
    if (c->state == Conn::kStopped) continue;
    if (c->state == Conn::kBusy) {
      t.undrained = true;
      HttpDone d;
      d.error = "reply-timeout";
      d.sent_ns = c->since_ns;
      d.done_ns = NowNs();
      t.failures.fetch_add(1, std::memory_order_relaxed);
      done_(t.index, c->id, d);
    }
    Stop(t, c.get());
  }
  t.sweep.cancel();
  t.ioc.restart();
  t.ioc.poll();  // the aborted handlers (stale: ignored)
  if (!t.end_ns) t.end_ns = NowNs();
  t.finished.store(true, std::memory_order_release);
}

ClosedLoop::RunStats ClosedLoop::Run(int64_t stop_ns, int64_t drain_deadline_ns, const Tick& tick) {
  if (ran_) throw std::logic_error("ClosedLoop::Run runs once");
  ran_ = true;
  stop_ns_ = stop_ns;
  drain_ns_ = std::max(drain_deadline_ns, stop_ns);
  beast::error_code ec;
  auto addr = asio::ip::make_address(cfg_.host, ec);
  if (ec) throw std::runtime_error("bad address " + cfg_.host + " (give an IP address)");
  std::vector<std::thread> workers;
  for (auto& tp : threads_) {
    Thread& t = *tp;
    t.ep = tcp::endpoint(addr, static_cast<unsigned short>(cfg_.port));
    t.active = static_cast<int>(t.conns.size());
    for (auto& c : t.conns) {
      Conn* cp = c.get();
      asio::post(t.ioc, [this, &t, cp] { Start(t, cp); });
    }
    ArmSweep(t);
  }
  for (auto& tp : threads_) workers.emplace_back([this, &t = *tp] { Loop(t); });
  // Every thread returns by the drain deadline (plus one callback); the
  // margin only guards against a callback that hangs.
  const int64_t give_up = drain_ns_ + 5'000'000'000;
  for (int i = 0; i < 10'000'000; ++i) {
    bool all = true;
    uint64_t replies = 0, failures = 0;
    for (auto& tp : threads_) {
      all = all && tp->finished.load(std::memory_order_acquire);
      replies += tp->replies.load(std::memory_order_relaxed);
      failures += tp->failures.load(std::memory_order_relaxed);
    }
    const int64_t now = NowNs();
    if (tick) tick(now, replies, failures);
    if (all || now >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& w : workers) w.join();
  RunStats st;
  for (auto& tp : threads_) {
    st.connects += tp->connects;
    st.drained = st.drained && !tp->undrained;
    st.end_ns = std::max(st.end_ns, tp->end_ns);
  }
  return st;
}

std::string HttpRequestBytes(std::string_view method, std::string_view host, int port,
                             std::string_view target, std::string_view token,
                             std::string_view body) {
  std::string r;
  r.reserve(200 + target.size() + token.size() + body.size());
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append(":").append(std::to_string(port)).append("\r\nUser-Agent: parley-load\r\n");
  if (!token.empty()) r.append("Authorization: ").append(token).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    r.append("Content-Type: application/json\r\nContent-Length: ");
    r.append(std::to_string(body.size())).append("\r\n");
  }
  r.append("\r\n").append(body);
  return r;
}

// ------------------------------------------------------------- RunPosts

GenCpu IoThreadLoad(double cpu_s, double wall_s, int io_threads) {
  GenCpu g;
  g.cores = wall_s > 0 ? cpu_s / wall_s : 0;
  g.per_io_thread = g.cores / std::max(1, io_threads);
  g.io_saturated = g.per_io_thread > 0.8;
  return g;
}

std::string PostContent(int conn, int size) {
  std::string c = "parley-load c" + std::to_string(conn) + " ";
  const size_t n = static_cast<size_t>(std::max(size, 1));
  if (c.size() > n) {
    c.resize(n);
  } else {
    c.append(n - c.size(), 'x');
  }
  return c;
}

PostLoadResult RunPosts(const PostLoadConfig& cfg, const ClosedLoop::Tick& tick) {
  if (cfg.channels.empty() || cfg.tokens.empty() || cfg.conns < 1)
    throw std::invalid_argument("RunPosts: no channel, token or connection");
  struct PerThread {
    uint64_t acked_total = 0, acked_window = 0, replies = 0, failed = 0;
    Histogram h;
    std::map<std::string, uint64_t> failures;
    std::vector<std::vector<uint64_t>> ids;
  };
  const int nt = std::max(1, std::min(cfg.threads, cfg.conns));
  std::vector<std::unique_ptr<PerThread>> per;
  for (int i = 0; i < nt; ++i) {
    per.push_back(std::make_unique<PerThread>());
    per.back()->ids.resize(cfg.channels.size());
  }
  // Every connection sends the same request over and over: built once.
  std::vector<std::string> requests(static_cast<size_t>(cfg.conns));
  for (int i = 0; i < cfg.conns; ++i) {
    const auto& ch = cfg.channels[static_cast<size_t>(i) % cfg.channels.size()];
    const auto& tok = cfg.tokens[static_cast<size_t>(i) % cfg.tokens.size()];
    requests[static_cast<size_t>(i)] =
        HttpRequestBytes("POST", cfg.host, cfg.port, "/api/v10/channels/" + ch + "/messages", tok,
                         "{\"content\":\"" + PostContent(i, cfg.size) + "\"}");
  }
  std::atomic<long long> claimed{0};  // with max_acked: posts sent or acknowledged
  auto next = [&](int, int conn, std::string* req) {
    if (cfg.max_acked > 0 && claimed.fetch_add(1) >= cfg.max_acked) {
      claimed.fetch_sub(1);
      return false;
    }
    *req = requests[static_cast<size_t>(conn)];
    return true;
  };
  auto done = [&](int t, int conn, const HttpDone& d) {
    PerThread& p = *per[static_cast<size_t>(t)];
    std::string reason;
    if (d.status) ++p.replies;
    if (d.status >= 200 && d.status < 300) {
      const uint64_t id = json_scan::ParseId(json_scan::TopLevelString(d.body, "id"));
      if (id) {
        ++p.acked_total;
        if (d.done_ns >= cfg.window_start_ns && d.done_ns < cfg.stop_ns) {
          ++p.acked_window;
          p.h.Record(static_cast<uint64_t>(std::max<int64_t>(0, d.done_ns - d.sent_ns) / 1000));
        }
        if (cfg.keep_ids) p.ids[static_cast<size_t>(conn) % cfg.channels.size()].push_back(id);
        return;
      }
      reason = "reply-without-id";
    } else if (d.status) {
      reason = "http-" + std::to_string(d.status);
    } else {
      reason = d.error;
    }
    ++p.failed;
    ++p.failures[reason];
    if (cfg.max_acked > 0 && d.sent_ns) claimed.fetch_sub(1);  // to be sent again
  };
  ClosedLoopConfig lc;
  lc.host = cfg.host;
  lc.port = cfg.port;
  lc.conns = cfg.conns;
  lc.threads = nt;
  lc.reply_timeout_ms = 30'000;
  ClosedLoop loop(lc, next, done);
  PostLoadResult r;
  r.run = loop.Run(cfg.stop_ns, cfg.drain_deadline_ns, tick);
  r.ids.resize(cfg.channels.size());
  for (auto& p : per) {
    r.acked_total += p->acked_total;
    r.acked_window += p->acked_window;
    r.replies += p->replies;
    r.failed += p->failed;
    r.window_us.Add(p->h);
    for (const auto& [k, v] : p->failures) r.failures[k] += v;
    for (size_t c = 0; c < p->ids.size(); ++c)
      r.ids[c].insert(r.ids[c].end(), p->ids[c].begin(), p->ids[c].end());
  }
  return r;
}

// ------------------------------------------------------------- json_scan

namespace json_scan {
namespace {

constexpr size_t kBad = std::string_view::npos;
constexpr int kMaxDepth = 64;

size_t Ws(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  return i;
}

// s[i] == '"': the index after the closing quote, or kBad.
size_t SkipString(std::string_view s, size_t i) {
  const size_t open = i;
  ++i;
  for (int guard = 0; guard < 1'000'000 && i < s.size(); ++guard) {
    const void* q = std::memchr(s.data() + i, '"', s.size() - i);
    if (!q) return kBad;
    size_t k = static_cast<size_t>(static_cast<const char*>(q) - s.data());
    size_t backslashes = 0;
    while (k - backslashes > open + 1 && s[k - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return k + 1;
    i = k + 1;
  }
  return kBad;
}

size_t SkipValue(std::string_view s, size_t i, int depth);

// s[i] == '{'. Walks the members; when `key` is one with a string value, its
// raw text goes to *value. Returns the index after '}', or kBad.
size_t WalkObject(std::string_view s, size_t i, int depth, std::string_view key,
                  std::string_view* value) {
  if (depth > kMaxDepth) return kBad;
  i = Ws(s, i + 1);
  if (i < s.size() && s[i] == '}') return i + 1;
  for (size_t guard = 0; guard <= s.size(); ++guard) {
    if (i >= s.size() || s[i] != '"') return kBad;
    size_t kend = SkipString(s, i);
    if (kend == kBad) return kBad;
    std::string_view k = s.substr(i + 1, kend - i - 2);
    i = Ws(s, kend);
    if (i >= s.size() || s[i] != ':') return kBad;
    i = Ws(s, i + 1);
    if (i >= s.size()) return kBad;
    size_t vend;
    if (s[i] == '"') {
      vend = SkipString(s, i);
      if (vend == kBad) return kBad;
      if (value && k == key) *value = s.substr(i + 1, vend - i - 2);
    } else {
      vend = SkipValue(s, i, depth + 1);
      if (vend == kBad) return kBad;
    }
    i = Ws(s, vend);
    if (i >= s.size()) return kBad;
    if (s[i] == '}') return i + 1;
    if (s[i] != ',') return kBad;
    i = Ws(s, i + 1);
  }
  return kBad;
}

size_t SkipArray(std::string_view s, size_t i, int depth) {
  if (depth > kMaxDepth) return kBad;
  i = Ws(s, i + 1);
  if (i < s.size() && s[i] == ']') return i + 1;
  for (size_t guard = 0; guard <= s.size(); ++guard) {
    size_t vend = SkipValue(s, i, depth + 1);
    if (vend == kBad) return kBad;
    i = Ws(s, vend);
    if (i >= s.size()) return kBad;
    if (s[i] == ']') return i + 1;
    if (s[i] != ',') return kBad;
    i = Ws(s, i + 1);
  }
  return kBad;
}

// The value at s[i]; scalars other than strings are a run of characters
// up to a delimiter (not checked further).
size_t SkipValue(std::string_view s, size_t i, int depth) {
  if (i >= s.size()) return kBad;
  switch (s[i]) {
    case '"':
      return SkipString(s, i);
    case '{':
      return WalkObject(s, i, depth, {}, nullptr);
    case '[':
      return SkipArray(s, i, depth);
    case ',':
    case ']':
    case '}':
    case ':':
      return kBad;
    default:
      break;
  }
  size_t j = i;
  while (j < s.size() && s[j] != ',' && s[j] != ']' && s[j] != '}' && s[j] != ' ' && s[j] != '\n' &&
         s[j] != '\r' && s[j] != '\t' && s[j] != '"')
    ++j;
  return j;
}

}  // namespace

std::string_view TopLevelString(std::string_view body, std::string_view key) {
  size_t i = Ws(body, 0);
  if (i >= body.size() || body[i] != '{') return {};
  std::string_view v;
  if (WalkObject(body, i, 0, key, &v) == kBad) return {};
  return v;
}

bool ArrayIds(std::string_view body, std::vector<uint64_t>* ids) {
  size_t i = Ws(body, 0);
  if (i >= body.size() || body[i] != '[') return false;
  i = Ws(body, i + 1);
  if (i < body.size() && body[i] == ']') return Ws(body, i + 1) == body.size();
  for (size_t guard = 0; guard <= body.size(); ++guard) {
    if (i >= body.size() || body[i] != '{') return false;
    std::string_view v;
    size_t end = WalkObject(body, i, 1, "id", &v);
    if (end == kBad) return false;
    uint64_t id = ParseId(v);
    if (!id) return false;
    ids->push_back(id);
    i = Ws(body, end);
    if (i >= body.size()) return false;
    if (body[i] == ']') return Ws(body, i + 1) == body.size();
    if (body[i] != ',') return false;
    i = Ws(body, i + 1);
  }
  return false;
}

uint64_t ParseId(std::string_view s) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 20) return 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return 0;
  return v;
}

}  // namespace json_scan

}  // namespace parley::load
