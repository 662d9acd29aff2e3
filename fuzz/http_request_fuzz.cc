// libFuzzer target for the HTTP request path, end to end: Beast's request
// parser with the server's limits, FramingRefusal and NormalizeAbsoluteTarget
// (net/http_request_rules.h), the Api's routing, authentication, rate limits
// and the JSON bodies of the real routes, the static files and the gateway's
// handshake (and the WebSocket frames sent after it).
//
// Once per process a real server starts in-process, wired as `parley serve`
// wires it (src/cli/serve.cc, duplicated here in its minimal form: no cluster,
// /health without one): State over a SQLite store in a new temporary
// directory, CommitQueue, ReadPool, Gateway, Api and HttpServer on 127.0.0.1,
// port 0, one event loop, the web client from the source tree. Options are
// serve's defaults but for --password-cost min, --sync normal,
// --invalid-request-limit 4 and --max-connections-per-ip 1000 counting
// loopback too (serve exempts it). A fixture is then registered through the
// API: an owner and a member, the owner's guild with its channel, a message,
// a role and an invite the member joined with.
//
// Input: the bytes a client sends on one TCP connection. The placeholders
// TOKEN and MEMBER_TOKEN (the two users' tokens), USER, MEMBER, GUILD,
// CHANNEL, MESSAGE, ROLE (ids) and INVITE (a code) are replaced by the
// fixture's values, so that authenticated routes and real records are
// reached. The bytes are written, the write side shut down, and the reply
// read until the server closes.
//
// The fuzzer aborts unless:
//  - the server closes the connection within kConnectionDeadline (no hang);
//  - the reply is a sequence of well-formed HTTP/1.0 or 1.1 responses, at
//    most one per request the input holds plus one (the refusal of what does
//    not parse), each with a status the server gives (500 is a handler bug),
//    a body that parses where its type says JSON, none for HEAD, 204 and 304,
//    and 101 only for a WebSocket upgrade (the rest is WebSocket frames);
//  - every request the input completed got a reply, unless an earlier reply
//    closed the connection or upgraded it;
//  - once the connection is closed the server holds no connection, request,
//    per-address slot or byte of its body budget (within kQuiesceDeadline).
//
// Every input starts with fresh rate-limit windows (the limiter's Sweep, as
// serve.cc's timer does once a minute, with a time past every window), so
// limits are hit within one connection and not because of earlier inputs.
// The fixture is registered anew when an input destroyed it (logout, a new
// password, a deleted guild, channel, role, message or invite, the member
// gone) and after every kInputsPerFixture inputs, before per-user and
// per-guild maximums (200 guilds, 250 roles) are reached by accumulation.
//
// Environment: PARLEY_FUZZ_KNOWN_BUGS=head-body,json-utf8 lets the known,
// reported bugs of fuzz/crashes/http_request/README.md pass (each named
// where it is checked), so that a run goes on past them until they are
// fixed; PARLEY_FUZZ_VERBOSE=1 prints every reply's status.
//
// Built two ways (fuzz/CMakeLists.txt): with libFuzzer against a parley_core
// compiled with coverage instrumentation, and with fuzz/replay_main.cc
// against the ordinary parley_core, for ctest's replay of the corpus.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/api.h"
#include "gateway/gateway.h"
#include "metrics/server_metrics.h"
#include "net/connections_per_address.h"
#include "net/event_loops.h"
#include "net/http_request_rules.h"
#include "net/http_server.h"
#include "state/state.h"
#include "store/commit_queue.h"
#include "store/open_store.h"
#include "store/read_pool.h"
#include "util/crypto.h"
#include "util/snowflake.h"
#include "web/static_files.h"

#ifndef PARLEY_WEB_ROOT
#error "PARLEY_WEB_ROOT (the source tree's web/) must be defined"
#endif

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace net = parley::net;
namespace fs = std::filesystem;
using parley::Snowflake;

// The server must close a connection this long after the client's last byte.
constexpr auto kConnectionDeadline = std::chrono::seconds(10);
// And give back everything the connection held this long after it closed.
constexpr auto kQuiesceDeadline = std::chrono::seconds(5);
// A reply larger than this is a failure (no input asks for that much).
constexpr size_t kMaxReplyBytes = 64 << 20;
constexpr int kInputsPerFixture = 500;

// What the server's request parser is given (HttpServerOptions' defaults),
// for the harness's own reading of the input.
constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kBodyLimit = 1024 * 1024;

[[noreturn]] void Fail(const char* what, std::string_view input, std::string_view reply) {
  auto show = [](const char* name, std::string_view s) {
    std::fprintf(stderr, "--- %s (%zu bytes%s) ---\n", name, s.size(),
                 s.size() > 4096 ? ", first 4096" : "");
    std::fwrite(s.data(), 1, std::min<size_t>(s.size(), 4096), stderr);
    std::fputc('\n', stderr);
  };
  std::fprintf(stderr, "http_request_fuzz: check failed: %s\n", what);
  show("input, placeholders replaced", input);
  show("reply", reply);
  std::abort();
}

#define HARNESS_CHECK(cond)                                                                 \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: harness check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

// One TCP exchange with 127.0.0.1:port: writes `request` (as much as the
// server takes), shuts down the write side, reads until the server closes.
// Returns false if the server did not close by the deadline.
bool Exchange(uint16_t port, std::string_view request, std::string* reply) {
  reply->clear();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  HARNESS_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  HARNESS_CHECK(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  HARNESS_CHECK(::fcntl(fd, F_SETFL, O_NONBLOCK) == 0);

  const auto deadline = std::chrono::steady_clock::now() + kConnectionDeadline;
  size_t sent = 0;
  bool write_open = true;
  auto shut_write = [&] {
    ::shutdown(fd, SHUT_WR);
    write_open = false;
  };
  if (request.empty()) shut_write();
  bool closed = false;
  char buf[64 * 1024];
  while (!closed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    HARNESS_CHECK(n >= 0);
    if (n == 0) continue;
    if (write_open && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t w = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<size_t>(w);
      // The server may stop reading (it closed after a refusal): what it
      // did not take is not sent.
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == request.size()) shut_write();
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r > 0) {
        reply->append(buf, static_cast<size_t>(r));
        HARNESS_CHECK(reply->size() <= kMaxReplyBytes);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        closed = true;  // closed (a reset after a complete reply counts too)
      }
    }
  }
  ::close(fd);
  return closed;
}

// Feeds `bytes` to `parser` until it is done, needs more or fails; returns
// how many bytes it used.
template <class Parser>
size_t Feed(Parser& parser, std::string_view bytes, beast::error_code& ec) {
  size_t used = 0;
  while (!parser.is_done() && used < bytes.size()) {
    const size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec || n == 0) break;
  }
  return used;
}

// What the harness reads in the input: the requests as the server's parser
// sees them (the same Beast parser, limits and order).
struct InputRequest {
  bool head = false;     // its reply has no body
  bool upgrade = false;  // a WebSocket handshake the gateway takes
};

std::vector<InputRequest> ReadRequests(std::string_view input) {
  std::vector<InputRequest> out;
  while (!input.empty()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(kHeaderLimit));
    parser.body_limit(kBodyLimit);
    parser.eager(true);
    beast::error_code ec;
    const size_t used = Feed(parser, input, ec);
    if (ec || !parser.is_done()) break;  // the server refuses it or waits for more
    input.remove_prefix(used);
    const auto& req = parser.get();
    // The server refuses these after the header, and closes.
    if (parley::net::FramingRefusal(req)) break;
    InputRequest r;
    r.head = req.method() == http::verb::head;
    r.upgrade = parley::gateway::IsWebSocketUpgrade(req);
    out.push_back(r);
    if (r.upgrade) break;  // the rest is WebSocket
  }
  return out;
}

// PARLEY_FUZZ_VERBOSE=1: every reply's status goes to stderr (for looking
// at what a corpus reaches).
bool Verbose() {
  static const bool verbose = std::getenv("PARLEY_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

// PARLEY_FUZZ_KNOWN_BUGS: a comma-separated list of known server bugs the
// checks let pass ("head-body", "json-utf8"; each named where it is
// checked), so that a run goes on past a bug that is reported but not fixed
// yet. Unset: none.
bool KnownBug(std::string_view name) {
  static const std::string known = [] {
    const char* v = std::getenv("PARLEY_FUZZ_KNOWN_BUGS");
    return "," + std::string(v ? v : "") + ",";
  }();
  return known.find("," + std::string(name) + ",") != std::string::npos;
}

bool IsStatusTheServerGives(unsigned s) {
  switch (s) {
    case 101:  // WebSocket handshake
    case 200:
    case 201:
    case 204:
    case 304:  // static files, If-None-Match
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 413:
    case 426:  // gateway: upgrade refused
    case 429:
    case 431:
    case 501:
    case 503:  // body budget, write queue or read pool full
      return true;
    default:
      return false;  // 500 included: a handler threw or a store write failed
  }
}

// Checks the reply to `input` (see the contract at the top); fails with a
// message naming the first violation.
void CheckReply(std::string_view input, std::string_view reply) {
  const std::vector<InputRequest> requests = ReadRequests(input);
  std::string_view rest = reply;
  size_t answered = 0;
  bool ended = false;  // the last reply closed or upgraded the connection
  while (!rest.empty()) {
    if (ended) Fail("bytes after a reply that closed the connection", input, reply);
    if (answered > requests.size()) Fail("more replies than requests", input, reply);
    const bool head = answered < requests.size() && requests[answered].head;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxReplyBytes);
    parser.eager(true);
    parser.skip(head);
    beast::error_code ec;
    const size_t used = Feed(parser, rest, ec);
    // A body with neither a length nor chunked runs to the end of the
    // connection.
    if (ec == http::error::need_more && parser.is_header_done() && !parser.chunked() &&
        !parser.content_length()) {
      ec = {};
      parser.put_eof(ec);
    }
    if (ec || !parser.is_done()) Fail("a reply that is not well-formed HTTP", input, reply);
    rest.remove_prefix(used);
    const auto& res = parser.get();
    if (head && KnownBug("head-body") && parser.content_length() && !rest.starts_with("HTTP/1.") &&
        rest.size() >= *parser.content_length()) {
      // Known: the reply to a HEAD outside the static files carries its
      // body (fuzz/crashes/http_request/README.md). Skipped while tolerated.
      rest.remove_prefix(static_cast<size_t>(*parser.content_length()));
    }
    const unsigned status = res.result_int();
    if (Verbose()) std::fprintf(stderr, "  reply %zu: %u\n", answered + 1, status);
    if (res.version() != 10 && res.version() != 11) Fail("HTTP version", input, reply);
    if (!IsStatusTheServerGives(status)) Fail("a status the server must not give", input, reply);
    if (status == 101) {
      if (answered >= requests.size() || !requests[answered].upgrade)
        Fail("101 for a request that is no WebSocket upgrade", input, reply);
      return;  // WebSocket frames follow
    }
    const std::string& body = res.body();
    if ((head || status == 204 || status == 304) && !body.empty())
      Fail("a body where none may be", input, reply);
    if (res[http::field::content_type].starts_with("application/json") && !head && status != 204 &&
        status != 304) {
      beast::error_code jec;
      json::parse(body, jec);
      if (jec && KnownBug("json-utf8")) {
        // Known: request bytes that are not UTF-8 (a Host header) come back
        // raw inside JSON strings (fuzz/crashes/http_request/README.md).
        // Tolerated, the body must still parse but for its UTF-8.
        json::parse_options lenient;
        lenient.allow_invalid_utf8 = true;
        jec = {};
        json::parse(body, jec, {}, lenient);
      }
      if (jec) Fail("a JSON reply whose body does not parse", input, reply);
    }
    ++answered;
    ended = !res.keep_alive();
  }
  if (!ended && answered < requests.size())
    Fail("a complete request got no reply on a connection left open", input, reply);
}

// The records the placeholders stand for.
struct Fixture {
  std::string token, member_token;
  Snowflake user = 0, member = 0, guild = 0, channel = 0, message = 0, role = 0;
  std::string invite;
  int inputs = 0;  // inputs run against it
};

class InProcessServer {
 public:
  // Starts the server (aborts on failure). See the top of the file.
  InProcessServer() {
    spdlog::set_level(spdlog::level::err);
    HARNESS_CHECK(parley::InitCrypto().ok());
    // OpenSSL's configuration, which its first use loads (the WebSocket
    // handshake's SHA-1), loaded here: loaded on a loop thread, it leaves
    // that thread's error state unfreed at exit (904 bytes LeakSanitizer
    // reports).
    HARNESS_CHECK(OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) == 1);
    char dir[] = "/tmp/parley-http-fuzz-XXXXXX";
    HARNESS_CHECK(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    parley::StoreOptions store_opts;
    store_opts.sync_every_commit = false;  // --sync normal
    HARNESS_CHECK(parley::OpenStore("sqlite:" + dir_ + "/parley.db", store_opts, &store_).ok());
    parley::Snapshot snap;
    HARNESS_CHECK(store_->LoadAll(&snap).ok());
    state_.Load(std::move(snap));

    loops_ = std::make_unique<net::EventLoops>(1);
    per_address_ =
        std::make_unique<net::ConnectionsPerAddress>(1000, std::vector<boost::asio::ip::address>{});
    parley::gateway::GatewayOptions gw_opts;
    gw_opts.per_address = per_address_.get();
    gateway_ = std::make_unique<parley::gateway::Gateway>(loops_.get(), &state_, gw_opts);
    ids_ = std::make_unique<parley::SnowflakeGenerator>(0, 0);
    parley::CommitQueue::Options writer_opts;
    writer_opts.ids = ids_.get();
    writer_ = std::make_unique<parley::CommitQueue>(store_.get(), writer_opts);
    reads_ =
        std::make_unique<parley::ReadPool>(store_.get(), parley::ReadPool::Options{.threads = 2});
    blocking_ = std::make_unique<boost::asio::thread_pool>(2);

    parley::ApiOptions api_opts;
    api_opts.password_cost = parley::PasswordCost::kMin;
    api_opts.invalid_request_limit = 4;
    api_ = std::make_unique<parley::Api>(
        parley::Api::Deps{&state_, reads_.get(), writer_.get(), ids_.get(), blocking_.get(),
                          gateway_.get(), gateway_.get(), &gateway_->presence()},
        api_opts);
    HARNESS_CHECK(web_.Load(PARLEY_WEB_ROOT).ok());

    net::HttpServerOptions http_opts;
    http_opts.host = "127.0.0.1";
    http_opts.port = 0;
    http_opts.per_address = per_address_.get();
    http_opts.other_connections = [gw = gateway_.get()] { return gw->connections(); };
    http_ = std::make_unique<net::HttpServer>(
        loops_.get(), http_opts,
        [this](net::Request&& req, net::Responder respond) { Route(std::move(req), respond); });
    http_->SetUpgradeHandler(
        [](const net::Request& req) { return parley::gateway::IsWebSocketUpgrade(req); },
        [gw = gateway_.get()](int loop, net::Request&& req, boost::asio::ip::tcp::socket&& socket,
                              std::string_view leftover, uint32_t address_slot) {
          gw->OnUpgrade(loop, std::move(req), std::move(socket), leftover, address_slot);
        });
    gateway_->Start();
    HARNESS_CHECK(http_->Start().ok());
    loops_->Run();
  }

  // Stops as serve.cc does (gateway, HTTP, pools, writer, loops) and
  // removes the temporary directory.
  ~InProcessServer() {
    gateway_->Shutdown(std::chrono::milliseconds(500));
    http_->Shutdown(std::chrono::milliseconds(1000));
    blocking_->join();
    reads_->Stop();
    writer_->Stop();
    loops_->Stop();
    loops_->Join();
    http_.reset();
    api_.reset();
    blocking_.reset();
    reads_.reset();
    writer_.reset();
    gateway_.reset();
    loops_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  uint16_t port() const { return http_->port(); }
  parley::State& state() { return state_; }
  // Its reads are thread-safe (ReadPool's threads use it too).
  parley::StoreBackend& store() { return *store_; }
  parley::Api& api() { return *api_; }

  // Nothing held once every connection closed: waits up to
  // kQuiesceDeadline, returns whether it got there.
  bool Quiesced() const {
    const auto until = std::chrono::steady_clock::now() + kQuiesceDeadline;
    for (;;) {
      if (http_->connections_open() == 0 && http_->requests_in_flight() == 0 &&
          http_->body_budget_in_use() == 0 && gateway_->connections() == 0 &&
          per_address_->addresses() == 0)
        return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  // serve.cc's handler, without the cluster's and --role's branches.
  void Route(net::Request&& req, const net::Responder& respond) {
    std::string_view t = req.target();
    std::string_view path = t.substr(0, t.find('?'));
    const bool api_path = path == "/api" || path.starts_with("/api/");
    const bool read = req.method() == http::verb::get || req.method() == http::verb::head;
    if (path == "/metrics" && read) {
      net::Response res(http::status::ok, req.version());
      res.keep_alive(req.keep_alive());
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = parley::metrics::M().registry.Expose();
      return respond(std::move(res));
    }
    if (path == "/health" && read) {
      net::Response res(http::status::ok, req.version());
      res.keep_alive(req.keep_alive());
      res.set(http::field::content_type, "application/json");
      res.body() = R"({"status":"ok"})";
      return respond(std::move(res));
    }
    if (path == "/admin/status" && read) {
      if (req[http::field::authorization].empty() &&
          req[http::field::accept].find("text/html") != std::string_view::npos) {
        req.target("/admin/status.html");
        return respond(web_.Serve(req));
      }
      req.target("/api/v10/admin/status");
      return api_->Handle(std::move(req), respond);
    }
    if (!api_path && read) return respond(web_.Serve(req));
    api_->Handle(std::move(req), respond);
  }

  std::string dir_;
  std::unique_ptr<parley::StoreBackend> store_;
  parley::State state_;
  std::unique_ptr<net::EventLoops> loops_;
  std::unique_ptr<net::ConnectionsPerAddress> per_address_;
  std::unique_ptr<parley::gateway::Gateway> gateway_;
  std::unique_ptr<parley::SnowflakeGenerator> ids_;
  std::unique_ptr<parley::CommitQueue> writer_;
  std::unique_ptr<parley::ReadPool> reads_;
  std::unique_ptr<boost::asio::thread_pool> blocking_;
  std::unique_ptr<parley::Api> api_;
  parley::web::StaticFiles web_;
  std::unique_ptr<net::HttpServer> http_;
};

InProcessServer* g_server = nullptr;
Fixture g_fixture;
int g_fixtures_made = 0;

// One request of the harness's own (setting the fixture up): its JSON reply,
// which must have `want` status.
json::value FixtureRequest(const char* method, const std::string& target, const std::string& token,
                           const std::string& body, unsigned want) {
  std::string req = std::string(method) + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) req += "Authorization: " + token + "\r\n";
  req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
  std::string reply;
  HARNESS_CHECK(Exchange(g_server->port(), req, &reply));
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  beast::error_code ec;
  Feed(parser, reply, ec);
  if (ec || !parser.is_done() || parser.get().result_int() != want) {
    std::fprintf(stderr, "fixture: %s %s: wanted %u, got:\n%s\n", method, target.c_str(), want,
                 reply.c_str());
    std::abort();
  }
  return json::parse(parser.get().body());
}

Snowflake IdOf(const json::value& v) {
  const auto id = parley::ParseSnowflake(v.at("id").as_string());
  HARNESS_CHECK(id.has_value());
  return *id;
}

void MakeFixture() {
  g_server->api().rate_limiter().Sweep(std::numeric_limits<int64_t>::max());
  Fixture f;
  const std::string n = std::to_string(++g_fixtures_made);
  const std::string api = "/api/v10";
  json::value owner =
      FixtureRequest("POST", api + "/auth/register", "",
                     R"({"username":"fuzz_owner_)" + n + R"(","password":"fuzz-password"})", 201);
  f.token = owner.at("token").as_string();
  f.user = IdOf(owner.at("user"));
  json::value member =
      FixtureRequest("POST", api + "/auth/register", "",
                     R"({"username":"fuzz_member_)" + n + R"(","password":"fuzz-password"})", 201);
  f.member_token = member.at("token").as_string();
  f.member = IdOf(member.at("user"));
  json::value guild =
      FixtureRequest("POST", api + "/guilds", f.token, R"({"name":"fuzz guild"})", 201);
  f.guild = IdOf(guild);
  f.channel = IdOf(guild.at("channels").as_array().at(0));
  const std::string channel = api + "/channels/" + std::to_string(f.channel);
  f.message =
      IdOf(FixtureRequest("POST", channel + "/messages", f.token, R"({"content":"hello"})", 200));
  f.role = IdOf(FixtureRequest("POST", api + "/guilds/" + std::to_string(f.guild) + "/roles",
                               f.token, R"({"name":"fuzz role"})", 200));
  f.invite =
      FixtureRequest("POST", channel + "/invites", f.token, "{}", 200).at("code").as_string();
  FixtureRequest("POST", api + "/invites/" + f.invite, f.member_token, "", 200);
  g_fixture = std::move(f);
}

// Whether the fixture still stands as MakeFixture left it (as far as the
// placeholders matter).
bool FixtureIntact(parley::State& state, parley::StoreBackend& store, const Fixture& f) {
  parley::Message m;
  if (!store.GetMessage(f.channel, f.message, &m).ok()) return false;
  if (state.Authenticate(parley::HashToken(f.token)) != f.user) return false;
  if (state.Authenticate(parley::HashToken(f.member_token)) != f.member) return false;
  if (!state.GetInvite(f.invite)) return false;
  auto g = state.GetGuild(f.guild);
  if (!g) return false;
  parley::ReaderLock lock(&g->mu);
  return g->guild.owner_id == f.user && g->channels.contains(f.channel) &&
         g->roles.contains(f.role) && g->members.contains(f.member);
}

// `input` with every placeholder replaced (the longest name first where
// several start at one place: MEMBER_TOKEN before MEMBER).
std::string Substitute(std::string_view input, const Fixture& f) {
  const std::pair<std::string_view, std::string> values[] = {
      {"MEMBER_TOKEN", f.member_token},
      {"TOKEN", f.token},
      {"MEMBER", std::to_string(f.member)},
      {"USER", std::to_string(f.user)},
      {"GUILD", std::to_string(f.guild)},
      {"CHANNEL", std::to_string(f.channel)},
      {"MESSAGE", std::to_string(f.message)},
      {"ROLE", std::to_string(f.role)},
      {"INVITE", f.invite},
  };
  std::string out;
  out.reserve(input.size() + 64);
  size_t i = 0;
  while (i < input.size()) {
    bool replaced = false;
    for (const auto& [name, value] : values) {
      if (input.substr(i).starts_with(name)) {
        out += value;
        i += name.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += input[i++];
  }
  return out;
}

void StopServer() {
  if (Verbose()) std::fprintf(stderr, "stopping the server\n");
  delete g_server;
  g_server = nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_server == nullptr) {
    g_server = new InProcessServer();
    // Before the destructors of the statics the server uses (registered
    // earlier, so they run later).
    std::atexit(StopServer);
  }
  if (g_fixtures_made == 0 || g_fixture.inputs >= kInputsPerFixture ||
      !FixtureIntact(g_server->state(), g_server->store(), g_fixture))
    MakeFixture();
  ++g_fixture.inputs;
  g_server->api().rate_limiter().Sweep(std::numeric_limits<int64_t>::max());

  const std::string input =
      Substitute(std::string_view(reinterpret_cast<const char*>(data), size), g_fixture);
  std::string reply;
  if (!Exchange(g_server->port(), input, &reply))
    Fail("the server did not close the connection in time (hang)", input, reply);
  CheckReply(input, reply);
  if (!g_server->Quiesced())
    Fail("a connection, request, address slot or body budget still held after close", input, reply);
  return 0;
}
