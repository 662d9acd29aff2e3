// `parley serve`: opens the store, loads State, starts the event loops and
// the HTTP server, and shuts down gracefully on SIGINT/SIGTERM.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/serialize.hpp>
#include <deque>
#include <filesystem>
#include <random>
#include <thread>

#include "api/api.h"
#include "api/api_error.h"
#include "cli/commands.h"
#include "cli/store_setup.h"
#include "cluster/bus_link.h"
#include "cluster/log_follower.h"
#include "cluster/presence_sync.h"
#include "cluster/redis_bus.h"
#include "cluster/redis_limits.h"
#include "cluster/redis_session_store.h"
#include "events/commit_applier.h"
#include "gateway/gateway.h"
#include "metrics/process_metrics.h"
#include "metrics/server_metrics.h"
#include "net/event_loops.h"
#include "net/http_server.h"
#include "state/state.h"
#include "store/commit_queue.h"
#include "store/read_pool.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/time_format.h"
#include "web/static_files.h"

namespace parley::cli {

namespace {

struct ServeConfig {
  std::string listen = "0.0.0.0:8080";
  std::string data = "./data";
  std::string store;  // "" = sqlite:<data>/parley.db
  std::vector<std::string> store_replicas;
  int message_partitions = 16;
  int store_readers = 4;
  int threads = 0;
  int node_id = 0;
  bool cluster = false;        // follow the store's log of commits (docs/cluster.md)
  std::string redis;           // cluster mode: the bus (redis://HOST:PORT); "" = none
  int log_retention_min = 60;  // cluster mode: log entries kept this long (0 = forever)
  std::string log_level = "info";
  std::string password_cost = "interactive";
  int ratelimit_global = 50;
  double ratelimit_scale = 1.0;
  int invalid_request_limit = 10000;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 120000;
  size_t body_limit = 1024 * 1024;
  int64_t max_connections = -1;       // -1: the open-file limit less a reserve; 0: none
  int max_connections_per_ip = 1000;  // 0: none
  size_t body_budget = 64 * 1024 * 1024;
  size_t body_min_rate = 8 * 1024;
  std::string public_url;
  std::string sync = "full";
  gateway::GatewayOptions gateway;
  std::string web_root;             // "" = <dir of the executable>/web
  std::string metrics_listen;       // "" = /metrics on the main port
  std::vector<std::string> admins;  // usernames; empty = the first registered user
  std::vector<std::string> trusted_proxies;
  // What this node serves (--role): the gateway (WebSocket sessions), the
  // API (REST and the web client), or both. Cluster mode only for one.
  std::vector<std::string> roles{"gateway", "api"};
  bool serves_gateway() const { return std::ranges::find(roles, "gateway") != roles.end(); }
  bool serves_api() const { return std::ranges::find(roles, "api") != roles.end(); }
  std::string roles_text() const {
    return serves_gateway() && serves_api() ? "gateway,api" : serves_api() ? "api" : "gateway";
  }
};

// An operations answer (never cached) with `body` of `content_type`.
net::Response OpsResponse(const net::Request& req, unsigned status, std::string_view content_type,
                          std::string body) {
  net::Response res(static_cast<boost::beast::http::status>(status), req.version());
  res.keep_alive(req.keep_alive());
  res.set(boost::beast::http::field::server, "parley");
  res.set(boost::beast::http::field::content_type, content_type);
  res.set(boost::beast::http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

// A request for what this node does not serve (--role): 404 with a
// Discord-shaped body that says where to go instead, never a silent
// "Unknown ..." (an operator's load balancer sent it to the wrong pool).
net::Response WrongRoleResponse(const net::Request& req, std::string_view missing) {
  ApiError e = ApiError::NotFound();
  e.message = fmt::format("404: Not Found (this node does not serve the {}: --role)", missing);
  return OpsResponse(req, 404, "application/json", e.Body());
}

net::Response MetricsResponse(const net::Request& req) {
  return OpsResponse(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                     metrics::M().registry.Expose());
}

// How long the bus's canary has been silent (its own heartbeat not heard
// back), counting from the bus's start.
int64_t BusSilentMs(const cluster::Bus& bus, int64_t bus_started_ms) {
  return SteadyMs() - std::max(bus.stats().own_heard_ms, bus_started_ms);
}

// GET /health, for load balancers and operators: 200 while the node can
// serve; 503 in cluster mode when it has not been able to read the log of
// commits for 5 s (its State may be behind the cluster's), when its bus
// says it is up but its own heartbeats have not come back for 5 s (a
// silent bus, Centrifugo #1189: the node would miss what others send), or
// when another process uses its node id. A bus that is down (Redis
// unreachable) is not a reason: every node then follows the log instead.
net::Response HealthResponse(const net::Request& req, const cluster::LogFollower* follower,
                             const cluster::Bus* bus, int64_t bus_started_ms,
                             const ServeConfig& cfg) {
  boost::json::object o{{"status", "ok"}};
  unsigned status = 200;
  auto fail = [&](const char* why) {
    if (status == 200) o["status"] = why;
    status = 503;
  };
  if (follower != nullptr) {
    auto st = follower->stats();
    int64_t since = NowMs() - st.last_ok_ms;
    o["node_id"] = cfg.node_id;
    o["role"] = cfg.roles_text();
    o["applied_position"] = follower->applied();
    o["log_ok_ms_ago"] = since;
    if (since > 5000) fail("behind");
  }
  if (bus != nullptr) {
    auto bs = bus->stats();
    const int64_t now = SteadyMs();
    const int64_t silent = BusSilentMs(*bus, bus_started_ms);
    o["bus"] = bs.up ? "up" : "down";
    o["bus_silent_ms"] = silent;
    if (bs.up && silent > 5000) fail("bus silent");
    if (bs.duplicate_ms != 0 && now - bs.duplicate_ms < 60000) fail("node id in use elsewhere");
  }
  return OpsResponse(req, status, "application/json", boost::json::serialize(o));
}

// The open-file limit less what the process needs besides connections (its
// store connections and files, the Redis links, logs): a client past it gets
// 503 instead of an accept() that fails and a connection left hanging.
int64_t DefaultMaxConnections() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  constexpr int64_t kReserve = 256;
  const auto files = static_cast<int64_t>(rl.rlim_cur);
  return files > 2 * kReserve ? files - kReserve : files / 2;
}

std::string DefaultWebRoot() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "web";
  return (exe.parent_path() / "web").string();
}

bool SplitHostPort(const std::string& s, std::string* host, uint16_t* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  try {
    int p = std::stoi(s.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return !host->empty();
}

int RunServe(const ServeConfig& cfg) {
  const int64_t started_ms = NowMs();
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(cfg.listen, &host, &port)) {
    spdlog::error("--listen wants HOST:PORT, got '{}'", cfg.listen);
    return 2;
  }
  if (Status s = InitCrypto(); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  std::unique_ptr<StoreBackend> store;
  StoreOptions store_opts;
  store_opts.sync_every_commit = cfg.sync == "full";
  store_opts.message_partitions = cfg.message_partitions;
  store_opts.replicas = cfg.store_replicas;
  store_opts.commit_log = cfg.cluster;
  store_opts.node_id = cfg.node_id;
  if (cfg.cluster && cfg.node_id == 0) {
    spdlog::error("--cluster needs --node-id 1..1023, different on every node");
    return 2;
  }
  if (!cfg.cluster && !(cfg.serves_gateway() && cfg.serves_api())) {
    spdlog::error("--role {} needs --cluster: one node alone serves both", cfg.roles_text());
    return 2;
  }
  cluster::RedisBus::Options bus_opts;
  if (!cfg.redis.empty()) {
    if (!cfg.cluster) {
      spdlog::error("--redis is for cluster mode (--cluster)");
      return 2;
    }
    if (Status s = cluster::RedisBus::ParseAddress(cfg.redis, &bus_opts); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 2;
    }
    bus_opts.node_id = cfg.node_id;
    std::random_device rd;
    bus_opts.incarnation = (static_cast<uint64_t>(rd()) << 32 | rd()) | 1;
  }
  State state;
  CommitPosition loaded_at = 0;
  if (int rc = OpenAndLoad(StoreUrl(cfg.store, cfg.data), store_opts, &store, &state, &loaded_at))
    return rc;

  int threads = cfg.threads > 0
                    ? cfg.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  net::EventLoops loops(threads);
  if (Status s = cfg.gateway.compression.Validate(); !s.ok()) {
    spdlog::error("compression settings: {}", s.ToString());
    return 2;
  }
  // --max-connections-per-ip: not for the addresses every client of a
  // proxy shares (loopback, where nginx on this host connects from, and
  // each --trusted-proxy).
  std::vector<boost::asio::ip::address> uncapped = {boost::asio::ip::make_address("127.0.0.1"),
                                                    boost::asio::ip::make_address("::1")};
  for (const auto& p : cfg.trusted_proxies) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(p, ec);
    if (!ec) uncapped.push_back(a);
  }
  net::ConnectionsPerAddress per_address(cfg.max_connections_per_ip, std::move(uncapped));
  gateway::GatewayOptions gw_opts = cfg.gateway;
  gw_opts.public_url = cfg.public_url;
  gw_opts.per_address = &per_address;
  gateway::Gateway gateway(&loops, &state, gw_opts);

  // Cluster mode: other nodes' commits reach State (and this node's
  // sessions) through the log, in position order with this node's own.
  std::unique_ptr<events::CommitApplier> log_applier;
  std::unique_ptr<cluster::LogFollower> follower;
  std::atomic<cluster::Bus*> bus_ptr{nullptr};  // set while the bus runs
  int64_t bus_started_ms = 0;                   // steady clock; set before requests arrive
  if (cfg.cluster) {
    log_applier = std::make_unique<events::CommitApplier>(&state, &gateway, &gateway.presence());
    cluster::LogFollower::Options fo;
    // The node's own commits go on the bus, in the bytes the log has.
    fo.on_own = [&bus_ptr, log = store->commit_log()](CommitPosition position) {
      int64_t committed_ms = 0;
      std::string encoded = log->TakeLastEntry(&committed_ms);
      if (cluster::Bus* bus = bus_ptr.load(); bus != nullptr && !encoded.empty())
        bus->PublishLogEntry(position, committed_ms, std::move(encoded));
    };
    follower = std::make_unique<cluster::LogFollower>(
        store->commit_log(),
        [&log_applier](const WriteBatch& b, CommitPosition p) { log_applier->Apply(b, p); },
        loaded_at, fo);
    spdlog::info("cluster mode: node {} ({}), following the log of commits after position {}",
                 cfg.node_id, cfg.roles_text(), loaded_at);
  }
  // Declared before the writer, which raises it (CommitQueue::Options::ids).
  SnowflakeGenerator ids(static_cast<unsigned>(cfg.node_id >> 5) & 31,
                         static_cast<unsigned>(cfg.node_id) & 31);
  CommitQueue::Options writer_opts;
  writer_opts.ids = &ids;
  writer_opts.on_commit = [](size_t batches, double seconds, CommitPosition) {
    metrics::M().commit_batches->Observe(static_cast<double>(batches));
    metrics::M().commit_seconds->Observe(seconds);
  };
  writer_opts.follower = follower.get();
  CommitQueue writer(store.get(), writer_opts);
  writer.set_position(loaded_at);
  if (cfg.cluster) {
    gateway.SetClusterSync([&writer](std::function<void()> then) {
      writer.Sync([then = std::move(then)](Status) { then(); });
    });
  }
  // Shared with the presence registry's callback, which may run until the
  // gateway is gone.
  std::shared_ptr<cluster::PresenceSync> presence_sync;
  std::unique_ptr<cluster::BusLink> bus_link;
  std::unique_ptr<cluster::RedisSessionStore> session_store;
  std::unique_ptr<cluster::RedisLimits> shared_limits;
  std::unique_ptr<cluster::RedisBus> bus;
  // What this node says of itself: in its heartbeats and in /admin/status.
  auto own_report = [&gateway, f = follower.get(), started_ms] {
    return cluster::NodeReport{.sessions = static_cast<uint64_t>(gateway.stats().sessions),
                               .applied = f != nullptr ? f->applied() : 0,
                               .started_ms = started_ms};
  };
  if (!cfg.redis.empty()) {
    cluster::PresenceSync::Options po;
    po.report = own_report;
    presence_sync =
        std::make_shared<cluster::PresenceSync>(&gateway.presence(), &state, &gateway, po);
    gateway.presence().set_node_id(cfg.node_id);
    gateway.presence().set_on_local_change(
        [p = presence_sync](Snowflake user, const std::optional<events::Presence>& pr) {
          p->LocalChanged(user, pr);
        });
    bus_link = std::make_unique<cluster::BusLink>(
        follower.get(), [&writer] { writer.Nudge(); }, &gateway, presence_sync.get());
    cluster::RedisSessionStore::Options so;
    so.host = bus_opts.host;
    so.port = bus_opts.port;
    so.node_id = cfg.node_id;
    so.incarnation = bus_opts.incarnation;
    so.journal_ttl_ms = cfg.gateway.resume_window_ms + 60000;
    session_store = std::make_unique<cluster::RedisSessionStore>(
        so, [p = presence_sync](int node) { return p->NodeAlive(node); });
    bus_link->set_session_store(session_store.get());
    bus = std::make_unique<cluster::RedisBus>(bus_opts, bus_link.get());
    bus_link->set_bus(bus.get());
    session_store->set_bus(bus.get());
    gateway.SetSessionStore(session_store.get());
    gateway.SetStartPosition(loaded_at);
    shared_limits = std::make_unique<cluster::RedisLimits>(bus_opts.host, bus_opts.port);
    gateway.SetSharedLimits(shared_limits.get());
    presence_sync->Start(bus.get());
    bus_started_ms = SteadyMs();
    bus_ptr.store(bus.get());
    spdlog::info("cluster bus: Redis at {}:{}, channel {}", bus_opts.host, bus_opts.port,
                 bus_opts.channel);
  }
  ReadPool reads(store.get(), {.threads = cfg.store_readers});
  boost::asio::thread_pool blocking(2);

  ApiOptions api_opts;
  api_opts.password_cost = cfg.password_cost == "min"        ? PasswordCost::kMin
                           : cfg.password_cost == "moderate" ? PasswordCost::kModerate
                                                             : PasswordCost::kInteractive;
  api_opts.ratelimit_global = cfg.ratelimit_global;
  api_opts.read_replicas = !cfg.store_replicas.empty();
  api_opts.cluster = cfg.cluster;
  api_opts.trusted_proxies = cfg.trusted_proxies;
  api_opts.ratelimit_scale = cfg.ratelimit_scale;
  api_opts.invalid_request_limit = cfg.invalid_request_limit;
  for (const auto& a : cfg.admins) api_opts.admins.push_back(ToLower(a));
  Api api({&state, &reads, &writer, &ids, &blocking, &gateway, &gateway, &gateway.presence(),
           bus_link.get(), shared_limits.get()},
          api_opts);

  net::HttpServerOptions http_opts;
  http_opts.host = host;
  http_opts.port = port;
  http_opts.body_limit = cfg.body_limit;
  http_opts.body_budget = cfg.body_budget;
  http_opts.body_min_rate = cfg.body_min_rate;
  http_opts.per_address = &per_address;
  http_opts.header_timeout = std::chrono::milliseconds(cfg.header_timeout_ms);
  http_opts.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  http_opts.max_connections =
      cfg.max_connections >= 0 ? cfg.max_connections : DefaultMaxConnections();
  http_opts.other_connections = [&gateway] { return gateway.connections(); };
  if (http_opts.max_connections > 0)
    spdlog::info("at most {} connections (--max-connections)", http_opts.max_connections);
  web::StaticFiles web;
  std::string web_root = cfg.web_root.empty() ? DefaultWebRoot() : cfg.web_root;
  if (Status s = web.Load(web_root); !s.ok()) {
    spdlog::error("web client: {}", s.ToString());
    return 1;
  }
  if (web.file_count() == 0)
    spdlog::warn("no web client in {} (REST and the gateway work; see --web-root)", web_root);
  else
    spdlog::info("web client: {} files from {}", web.file_count(), web_root);
  const bool metrics_here = cfg.metrics_listen.empty();
  const bool serves_api = cfg.serves_api(), serves_gateway = cfg.serves_gateway();
  net::HttpServer http(
      &loops, http_opts,
      [&api, &web, metrics_here, serves_api, &follower, &cfg, &bus_ptr, &bus_started_ms](
          net::Request&& req, net::Responder respond) {
        std::string_view t = req.target();
        std::string_view path = t.substr(0, t.find('?'));
        bool api_path = path == "/api" || path.starts_with("/api/");
        bool read = req.method() == boost::beast::http::verb::get ||
                    req.method() == boost::beast::http::verb::head;
        if (path == "/metrics" && read && metrics_here) return respond(MetricsResponse(req));
        if (path == "/health" && read)
          return respond(HealthResponse(req, follower.get(), bus_ptr.load(), bus_started_ms, cfg));
        if (path == "/admin/status" && read) {
          // A browser (no token, wants HTML) gets the status
          // page, which asks for the JSON with the token the
          // web client keeps; everyone else gets the JSON,
          // which the API serves to the admin only.
          if (req[boost::beast::http::field::authorization].empty() &&
              req[boost::beast::http::field::accept].find("text/html") != std::string_view::npos) {
            req.target("/admin/status.html");
            return respond(web.Serve(req));
          }
          req.target("/api/v10/admin/status");
          return api.Handle(std::move(req), std::move(respond));
        }
        // An upgrade reaches this handler only when the upgrade filter
        // refused it: this node serves no gateway.
        if (gateway::IsWebSocketUpgrade(req)) return respond(WrongRoleResponse(req, "gateway"));
        // Operations (/health, /metrics, /admin/status) answer on every node.
        if (!serves_api && !(api_path && path.ends_with("/admin/status")))
          return respond(WrongRoleResponse(req, "API"));
        if (!api_path && read) {
          metrics::M().http_static_requests->Inc();
          return respond(web.Serve(req));
        }
        api.Handle(std::move(req), std::move(respond));
      });
  http.SetUpgradeHandler(
      [serves_gateway](const net::Request& req) {
        return serves_gateway && gateway::IsWebSocketUpgrade(req);
      },
      [&gateway](int loop, net::Request&& req, boost::asio::ip::tcp::socket&& socket,
                 std::string_view leftover, uint32_t address_slot) {
        gateway.OnUpgrade(loop, std::move(req), std::move(socket), leftover, address_slot);
      });
  api.set_status_extras([&http, &follower, &cfg, &bus_ptr, &presence_sync, &bus_started_ms,
                         own_report](boost::json::object* o) {
    boost::json::object& conns = (*o)["connections"].as_object();
    conns["http_open"] = http.connections_open();
    conns["accepted"] = http.connections_accepted();
    if (follower) {
      auto st = follower->stats();
      (*o)["cluster"] = {{"node_id", cfg.node_id},
                         {"role", cfg.roles_text()},
                         {"applied_position", follower->applied()},
                         {"own_commits", st.own_commits},
                         {"log_entries_applied", st.log_entries},
                         {"log_entries_unread", st.unread_entries},
                         {"log_reads", st.log_reads},
                         {"log_read_errors", st.log_read_errors},
                         {"last_apply_delay_ms", st.last_delay_ms}};
      boost::json::object& cl = (*o)["cluster"].as_object();
      cl["postgres"] = {{"ok", NowMs() - st.last_ok_ms <= 5000},
                        {"last_ok_ms_ago", NowMs() - st.last_ok_ms}};
      if (cluster::Bus* b = bus_ptr.load()) {
        auto bs = b->stats();
        cl["bus"] = {{"up", bs.up},
                     {"silent_ms", BusSilentMs(*b, bus_started_ms)},
                     {"published", bs.published},
                     {"dropped", bs.dropped},
                     {"received", bs.received},
                     {"reconnects", bs.reconnects}};
      }
      // The cluster as this node knows it: itself, and every node whose
      // heartbeat it heard within the TTL (with Redis; alone without).
      struct Row {
        int node;
        int64_t heard_ms_ago;
        cluster::NodeReport r;
      };
      std::vector<Row> rows{{cfg.node_id, 0, own_report()}};
      if (presence_sync)
        for (const auto& v : presence_sync->Nodes())
          rows.push_back({v.node, v.heard_ms_ago, v.report});
      CommitPosition head = 0;
      for (const Row& r : rows) head = std::max(head, r.r.applied);
      boost::json::array nodes;
      for (const Row& r : rows) {
        nodes.push_back({{"node_id", r.node},
                         {"self", r.node == cfg.node_id},
                         {"sessions", r.r.sessions},
                         {"applied_position", r.r.applied},
                         {"lag", head - r.r.applied},
                         {"heard_ms_ago", r.heard_ms_ago},
                         {"started_ms", r.r.started_ms}});
      }
      cl["nodes"] = std::move(nodes);
    }
  });
  gateway.Start();
  if (Status s = http.Start(); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }

  // Metrics read at scrape time.
  metrics::RegisterProcessMetrics();
  auto& reg = metrics::M().registry;
  reg.NewCallback("parley_connections_accepted_total",
                  "TCP connections accepted on the main port (HTTP and gateway)", "counter", "",
                  [&http] { return static_cast<double>(http.connections_accepted()); });
  reg.NewCallback("parley_http_connections_open", "Open HTTP (non-WebSocket) connections", "gauge",
                  "", [&http] { return static_cast<double>(http.connections_open()); });
  // The connection pool (docs/operations.md, "Limits"): its maximum, and
  // its connections: total = active + idle, active = identified gateway
  // connections and HTTP connections with a request being handled.
  reg.NewCallback("parley_connection_pool_max",
                  "Connections past which a new one is refused (--max-connections; 0: none)",
                  "gauge", "", [max = http_opts.max_connections] { return double(max); });
  reg.NewCallback("parley_connection_pool_connections",
                  "Open connections, HTTP and gateway (the pool's total: active + idle)", "gauge",
                  "", [&http, &gateway] {
                    return static_cast<double>(http.connections_open() + gateway.connections());
                  });
  reg.NewCallback("parley_connection_pool_active",
                  "Open connections doing work: identified gateway sessions and HTTP requests "
                  "being handled",
                  "gauge", "", [&http, &gateway] {
                    return static_cast<double>(http.requests_in_flight() + gateway.identified());
                  });
  reg.NewCallback("parley_connection_pool_idle",
                  "Open connections doing none: HTTP keep-alive waits and unidentified gateway "
                  "connections",
                  "gauge", "", [&http, &gateway] {
                    int64_t total = http.connections_open() + gateway.connections();
                    int64_t active = http.requests_in_flight() + gateway.identified();
                    return static_cast<double>(std::max<int64_t>(0, total - active));
                  });
  reg.NewCallback("parley_connection_pool_addresses",
                  "Client addresses with connections counted by --max-connections-per-ip", "gauge",
                  "", [&per_address] { return static_cast<double>(per_address.addresses()); });
  reg.NewCallback("parley_http_body_budget_bytes",
                  "Bytes of request bodies held against --body-budget", "gauge", "",
                  [&http] { return static_cast<double>(http.body_budget_in_use()); });
  StoreBackend* store_ptr = store.get();
  reg.NewCallback("parley_store_replica_reads_total",
                  "History reads answered by a PostgreSQL read replica", "counter", "",
                  [store_ptr] { return static_cast<double>(store_ptr->stats().replica_reads); });
  reg.NewCallback("parley_store_replica_fallbacks_total",
                  "History reads sent to the primary instead of a replica, by reason", "counter",
                  "reason=\"lag\"", [store_ptr] {
                    return static_cast<double>(store_ptr->stats().replica_fallbacks_lag);
                  });
  reg.NewCallback("parley_store_replica_fallbacks_total",
                  "History reads sent to the primary instead of a replica, by reason", "counter",
                  "reason=\"down\"", [store_ptr] {
                    return static_cast<double>(store_ptr->stats().replica_fallbacks_down);
                  });
  for (auto [path, field] : {std::pair{"claimed", &StoreStats::ids_claimed},
                             std::pair{"reminted", &StoreStats::ids_reminted},
                             std::pair{"locked", &StoreStats::ids_locked}}) {
    reg.NewCallback("parley_cluster_id_commits_total",
                    "Commits minting message ids, by path: claimed (the first mint held, one "
                    "exchange), reminted (another node minted above: again under the lock) or "
                    "locked (under the lock at once, claims being refused lately)",
                    "counter", fmt::format("path=\"{}\"", path),
                    // (a copy: clang 14 cannot capture a structured binding)
                    [store_ptr, f = field] { return static_cast<double>(store_ptr->stats().*f); });
  }
  reg.NewCallback(
      "parley_store_replica_lag_bytes",
      "WAL bytes the last replica checked was behind the commit a read needed", "gauge", "",
      [store_ptr] { return static_cast<double>(store_ptr->stats().replica_lag_bytes); });
  reg.NewCallback("parley_store_read_queue_depth", "Store reads waiting for a reader thread",
                  "gauge", "", [&reads] { return static_cast<double>(reads.queued()); });
  if (follower) {
    cluster::LogFollower* f = follower.get();
    reg.NewCallback("parley_cluster_applied_position",
                    "The last position of the cluster's log of commits this node applied", "gauge",
                    "", [f] { return static_cast<double>(f->applied()); });
    reg.NewCallback("parley_cluster_log_entries_total",
                    "Commits of other nodes applied from the log", "counter", "",
                    [f] { return static_cast<double>(f->stats().log_entries); });
    reg.NewCallback("parley_cluster_log_read_errors_total",
                    "Reads of the log of commits that failed", "counter", "",
                    [f] { return static_cast<double>(f->stats().log_read_errors); });
    reg.NewCallback("parley_cluster_bus_up",
                    "1 while both links to the cluster's bus (Redis) are up; 0 without a bus",
                    "gauge", "", [&bus_ptr] {
                      cluster::Bus* b = bus_ptr.load();
                      return b != nullptr && b->stats().up ? 1.0 : 0.0;
                    });
    reg.NewCallback(
        "parley_cluster_bus_silent_seconds",
        "Since this node last heard its own heartbeat back through the bus (the "
        "canary); 0 without a bus",
        "gauge", "", [&bus_ptr, &bus_started_ms] {
          cluster::Bus* b = bus_ptr.load();
          return b == nullptr ? 0.0 : static_cast<double>(BusSilentMs(*b, bus_started_ms)) / 1e3;
        });
    reg.NewCallback("parley_cluster_bus_dropped_total",
                    "Messages not published on the cluster's bus (down, queue full)", "counter", "",
                    [&bus_ptr] {
                      cluster::Bus* b = bus_ptr.load();
                      return b != nullptr ? static_cast<double>(b->stats().dropped) : 0.0;
                    });
    reg.NewCallback("parley_cluster_log_entries_unread_total",
                    "Log entries applied from what was at hand (the bus, read-ahead), no read",
                    "counter", "", [f] { return static_cast<double>(f->stats().unread_entries); });
    reg.NewCallback("parley_cluster_apply_delay_seconds",
                    "From commit (on its node's clock) to apply here, of the last log entry",
                    "gauge", "",
                    [f] { return static_cast<double>(f->stats().last_delay_ms) / 1e3; });
  }
  reg.NewCallback("parley_store_write_queue_depth", "Write batches waiting for the writer", "gauge",
                  "", [&writer] { return static_cast<double>(writer.queue_depth()); });
  for (int i = 0; i < gateway.hub_count(); ++i) {
    std::string loop = fmt::format("loop=\"{}\"", i);
    reg.NewCallback("parley_gateway_connections", "Open gateway connections, per event loop",
                    "gauge", loop,
                    [&gateway, i] { return static_cast<double>(gateway.loop_connections(i)); });
    reg.NewCallback("parley_gateway_sessions",
                    "Identified gateway sessions (connected or awaiting resume), per event loop",
                    "gauge", loop,
                    [&gateway, i] { return static_cast<double>(gateway.loop_sessions(i)); });
  }
  reg.NewCallbackFamily("parley_gateway_shard_sessions",
                        "Identified gateway sessions by shard (shard id, shard count)", "gauge",
                        [&gateway] { return gateway.ShardSessions(); });
  std::unique_ptr<net::HttpServer> metrics_http;
  if (!cfg.metrics_listen.empty()) {
    net::HttpServerOptions mo;
    if (!SplitHostPort(cfg.metrics_listen, &mo.host, &mo.port)) {
      spdlog::error("--metrics-listen wants HOST:PORT, got '{}'", cfg.metrics_listen);
      return 2;
    }
    metrics_http = std::make_unique<net::HttpServer>(
        &loops, mo, [](net::Request&& req, net::Responder respond) {
          std::string_view t = req.target();
          if (t.substr(0, t.find('?')) == "/metrics") return respond(MetricsResponse(req));
          net::Response res(boost::beast::http::status::not_found, req.version());
          res.set(boost::beast::http::field::content_type, "text/plain");
          res.body() = "only /metrics here\n";
          respond(std::move(res));
        });
    if (Status s = metrics_http->Start(); !s.ok()) {
      spdlog::error("metrics listener: {}", s.ToString());
      return 1;
    }
    spdlog::info("metrics on http://{}:{}/metrics", mo.host, metrics_http->port());
  }

  loops.Run();

  // Forget rate-limit windows that ended, once a minute.
  boost::asio::steady_timer sweep(loops.loop(0));
  CommitPosition position_a_minute_ago = writer.position();
  // Cluster mode: the position this node had applied at each of the last
  // minutes; the log before the one `log_retention_min` ago is deleted
  // (every live node applies within seconds: the alert ParleyClusterLogLag
  // fires long before an entry it lacks could go).
  std::deque<CommitPosition> applied_by_minute;
  std::function<void()> arm_sweep = [&] {
    sweep.expires_after(std::chrono::seconds(60));
    sweep.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      api.rate_limiter().Sweep(NowMs());
      // Users whose last write is a minute old: replicas have it by now.
      api.read_your_writes().Forget(position_a_minute_ago);
      position_a_minute_ago = writer.position();
      if (follower && cfg.log_retention_min > 0) {
        applied_by_minute.push_back(follower->applied());
        if (applied_by_minute.size() > static_cast<size_t>(cfg.log_retention_min)) {
          const CommitPosition before = applied_by_minute.front();
          applied_by_minute.pop_front();
          boost::asio::post(blocking, [log = store->commit_log(), before] {
            uint64_t deleted = 0;
            Status s = log->TrimLog(before, &deleted);
            if (!s.ok()) {
              spdlog::warn("cluster: trimming the log before {}: {}", before, s.ToString());
            } else if (deleted > 0) {
              metrics::M().cluster_log_trimmed->Inc(deleted);
              spdlog::debug("cluster: {} log entries before position {} deleted", deleted, before);
            }
          });
        }
      }
      arm_sweep();
    });
  };
  boost::asio::post(loops.loop(0), arm_sweep);

  std::string shown_host = host == "0.0.0.0" ? "localhost" : host;
  spdlog::info("Parley listening on http://{}:{} ({} event loops, store {})", shown_host,
               http.port(), threads, store->Describe());
  std::printf("Parley is listening on http://%s:%u\n", shown_host.c_str(), http.port());
  std::fflush(stdout);

  boost::asio::io_context main_ctx;
  boost::asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
  int got = 0;
  signals.async_wait([&](boost::system::error_code, int sig) { got = sig; });
  main_ctx.run();

  spdlog::info("signal {}: stopping (finishing in-flight requests)", got);
  gateway.Shutdown(std::chrono::milliseconds(2000));  // op 7 Reconnect to every session
  http.Shutdown(std::chrono::milliseconds(4000));
  if (metrics_http) metrics_http->Shutdown(std::chrono::milliseconds(500));
  boost::asio::post(loops.loop(0), [&] { sweep.cancel(); });
  blocking.join();
  reads.Stop();
  // The bus first: its thread wakes the writer, and the writer publishes.
  bus_ptr.store(nullptr);
  if (presence_sync) presence_sync->Stop();  // (its thread publishes heartbeats)
  if (session_store) session_store->set_bus(nullptr);
  bus.reset();
  writer.Stop();  // everything acknowledged is committed already; flush the rest
  auto st = writer.stats();
  spdlog::info("store: {} batches in {} commits ({:.1f} per commit), {} failed", st.batches,
               st.commits, st.commits ? double(st.batches) / double(st.commits) : 0.0,
               st.failed_batches);
  loops.Stop();
  loops.Join();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto cfg = std::make_shared<ServeConfig>();
  CLI::App* serve = app.add_subcommand("serve", "Run the chat server");
  serve->fallthrough();  // so that `parley serve --config FILE` reaches the top-level --config
  serve->add_option("--listen", cfg->listen, "HOST:PORT to serve REST (and the gateway) on")
      ->envname("PARLEY_LISTEN")
      ->capture_default_str();
  serve->add_option("--data", cfg->data, "Data directory (SQLite store), created if missing")
      ->envname("PARLEY_DATA")
      ->capture_default_str();
  serve
      ->add_option("--store", cfg->store,
                   "Store URL: sqlite:PATH (default: sqlite:<data>/parley.db) or "
                   "postgres://user@host:port/db?... (PostgreSQL 15, libpq syntax)")
      ->envname("PARLEY_STORE");
  serve
      ->add_option("--store-replica", cfg->store_replicas,
                   "PostgreSQL streaming replica for history reads (repeatable; a reader never "
                   "sees a page older than its own last write)")
      ->envname("PARLEY_STORE_REPLICA");
  serve
      ->add_option("--message-partitions", cfg->message_partitions,
                   "PostgreSQL: hash partitions of the messages table (used when the schema is "
                   "created)")
      ->envname("PARLEY_MESSAGE_PARTITIONS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  serve
      ->add_option("--store-readers", cfg->store_readers,
                   "Threads that run store reads (history), off the event loops")
      ->envname("PARLEY_STORE_READERS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve->add_option("--threads", cfg->threads, "Event loops (0 = one per core)")
      ->envname("PARLEY_THREADS")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  serve
      ->add_option("--node-id", cfg->node_id,
                   "Node id 0..1023 for snowflakes (worker = id/32, process = id%32)")
      ->envname("PARLEY_NODE_ID")
      ->check(CLI::Range(0, 1023))
      ->capture_default_str();
  serve
      ->add_option("--invalid-request-limit", cfg->invalid_request_limit,
                   "Requests with a token that does not authenticate, per client address per 10 "
                   "minutes; more get 429 (0 = no limit)")
      ->envname("PARLEY_INVALID_REQUEST_LIMIT")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  serve
      ->add_option("--trusted-proxy", cfg->trusted_proxies,
                   "Address of a reverse proxy (nginx) whose X-Forwarded-For names the client "
                   "(repeatable)")
      ->envname("PARLEY_TRUSTED_PROXY");
  serve
      ->add_flag("--cluster", cfg->cluster,
                 "Cluster mode: one of several nodes on one PostgreSQL store (needs --node-id)")
      ->envname("PARLEY_CLUSTER");
  serve
      ->add_option("--role", cfg->roles,
                   "Cluster mode: what this node serves, gateway, api or both (gateway,api): "
                   "API and gateway nodes scale apart behind the load balancer")
      ->envname("PARLEY_ROLE")
      ->delimiter(',')
      ->check(CLI::IsMember({"gateway", "api"}))
      ->capture_default_str();
  serve
      ->add_option("--redis", cfg->redis,
                   "Cluster mode: Redis (redis://HOST:PORT) as the live bus between nodes")
      ->envname("PARLEY_REDIS");
  serve
      ->add_option("--log-retention-minutes", cfg->log_retention_min,
                   "Cluster mode: entries of the log of commits are deleted once every node has "
                   "had them this long (0 = kept forever)")
      ->envname("PARLEY_LOG_RETENTION_MINUTES")
      ->check(CLI::Range(0, 10 * 24 * 60))
      ->capture_default_str();
  serve->add_option("--log-level", cfg->log_level, "trace, debug, info, warn, error")
      ->envname("PARLEY_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  serve
      ->add_option("--password-cost", cfg->password_cost,
                   "argon2id cost: interactive, moderate, or min (tests only)")
      ->envname("PARLEY_PASSWORD_COST")
      ->check(CLI::IsMember({"min", "interactive", "moderate"}))
      ->capture_default_str();
  serve
      ->add_option("--ratelimit-global", cfg->ratelimit_global,
                   "Requests per second per token across all routes (0 = off)")
      ->envname("PARLEY_RATELIMIT_GLOBAL")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  serve
      ->add_option("--ratelimit-scale", cfg->ratelimit_scale,
                   "Multiplies every per-route rate limit (benchmarks raise it)")
      ->envname("PARLEY_RATELIMIT_SCALE")
      ->check(CLI::Range(0.001, 1e9))
      ->capture_default_str();
  serve
      ->add_option("--header-timeout-ms", cfg->header_timeout_ms,
                   "A new connection's first request must arrive within this")
      ->envname("PARLEY_HEADER_TIMEOUT_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout-ms", cfg->idle_timeout_ms,
                   "Keep-alive connections idle longer than this are closed")
      ->envname("PARLEY_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(100, 86400000))
      ->capture_default_str();
  serve
      ->add_option("--max-connections", cfg->max_connections,
                   "Open connections (HTTP and gateway) past which a new one gets 503 and is "
                   "closed (-1: the open-file limit less 256; 0: no cap)")
      ->envname("PARLEY_MAX_CONNECTIONS")
      ->check(CLI::Range(int64_t{-1}, int64_t{100'000'000}))
      ->capture_default_str();
  serve->add_option("--body-limit", cfg->body_limit, "Largest request body in bytes (else 413)")
      ->envname("PARLEY_BODY_LIMIT")
      ->check(CLI::Range(1024, 64 * 1024 * 1024))
      ->capture_default_str();
  serve
      ->add_option("--max-connections-per-ip", cfg->max_connections_per_ip,
                   "Open connections from one client address past which a new one gets 503 "
                   "(not for loopback or --trusted-proxy addresses; 0: no cap)")
      ->envname("PARLEY_MAX_CONNECTIONS_PER_IP")
      ->check(CLI::Range(0, 100'000'000))
      ->capture_default_str();
  serve
      ->add_option("--body-budget", cfg->body_budget,
                   "Bytes of request bodies over 16 KiB held at once, all connections together; "
                   "a request past it gets 503 and Retry-After (0: no budget)")
      ->envname("PARLEY_BODY_BUDGET")
      ->check(CLI::Range(size_t{0}, size_t{1} << 40))
      ->capture_default_str();
  serve
      ->add_option("--body-min-rate", cfg->body_min_rate,
                   "Bytes/s a request body must average after the header timeout's grace, else "
                   "the connection closes (0: no minimum)")
      ->envname("PARLEY_BODY_MIN_RATE")
      ->check(CLI::Range(size_t{0}, size_t{1} << 30))
      ->capture_default_str();
  serve
      ->add_option("--sync", cfg->sync,
                   "full: fsync every group commit (acked writes survive power loss); "
                   "normal: survive a process crash only, faster")
      ->envname("PARLEY_SYNC")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  serve
      ->add_option("--web-root", cfg->web_root,
                   "Directory of the browser client (default: web/ next to the executable)")
      ->envname("PARLEY_WEB_ROOT");
  serve
      ->add_option("--metrics-listen", cfg->metrics_listen,
                   "HOST:PORT for /metrics alone (then the main port does not serve it)")
      ->envname("PARLEY_METRICS_LISTEN");
  serve
      ->add_option("--admin", cfg->admins,
                   "Username allowed to read /admin/status (repeatable; default: the first "
                   "registered user)")
      ->envname("PARLEY_ADMIN");
  auto& gw = cfg->gateway;
  serve
      ->add_option("--identify-timeout-ms", gw.identify_timeout_ms,
                   "A gateway connection must identify (or resume) this soon after Hello, else "
                   "close 4003 (0 = no deadline)")
      ->envname("PARLEY_IDENTIFY_TIMEOUT_MS")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  serve
      ->add_option("--heartbeat-interval-ms", gw.heartbeat_interval_ms,
                   "Gateway heartbeat interval sent in Hello")
      ->envname("PARLEY_HEARTBEAT_INTERVAL_MS")
      ->check(CLI::Range(200, 600000))
      ->capture_default_str();
  serve
      ->add_option("--resume-window-ms", gw.resume_window_ms,
                   "How long a session outlives its connection, for Resume")
      ->envname("PARLEY_RESUME_WINDOW_MS")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  serve->add_option("--replay-buffer", gw.replay_buffer, "Dispatches kept per session for Resume")
      ->envname("PARLEY_REPLAY_BUFFER")
      ->check(CLI::Range(16, 32768))
      ->capture_default_str();
  serve
      ->add_option("--max-pending-bytes", gw.max_pending_bytes,
                   "Output a gateway socket may have queued before it is closed (4000)")
      ->envname("PARLEY_MAX_PENDING_BYTES")
      ->check(CLI::Range(4096, 1 << 30))
      ->capture_default_str();
  serve
      ->add_option("--flush-pacing", gw.flush_pacing,
                   "Gateway write pacing under load: a loop's next flush pass waits this many "
                   "times the last pass's duration (0 = flush every loop iteration)")
      ->envname("PARLEY_FLUSH_PACING")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  serve
      ->add_option("--identify-limit", gw.identify_limit,
                   "Gateway identifies per bot per 24 h (0 = no limit)")
      ->envname("PARLEY_IDENTIFY_LIMIT")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  serve
      ->add_option("--user-identify-limit", gw.user_identify_limit,
                   "Identifies per user (non-bot) token per 24 h; more: close 4008 (0 = no limit)")
      ->envname("PARLEY_USER_IDENTIFY_LIMIT")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  serve
      ->add_option("--max-guilds-per-shard", gw.max_guilds_per_shard,
                   "More guilds in one gateway shard: close 4011 (sharding required)")
      ->envname("PARLEY_MAX_GUILDS_PER_SHARD")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  serve
      ->add_flag("--allow-privileged-intents", gw.allow_privileged_intents,
                 "Every bot may use GUILD_MEMBERS, GUILD_PRESENCES and MESSAGE_CONTENT")
      ->envname("PARLEY_ALLOW_PRIVILEGED_INTENTS");
  serve
      ->add_option("--public-url", cfg->public_url,
                   "Public base URL (http[s]://host:port) for gateway URLs; default: the "
                   "request's Host")
      ->envname("PARLEY_PUBLIC_URL");
  auto& comp = gw.compression;
  serve->add_option("--zlib-window-bits", comp.zlib_window_bits, "zlib-stream window (8..15)")
      ->envname("PARLEY_ZLIB_WINDOW_BITS")
      ->capture_default_str();
  serve->add_option("--zlib-mem-level", comp.zlib_mem_level, "zlib-stream memLevel (1..9)")
      ->envname("PARLEY_ZLIB_MEM_LEVEL")
      ->capture_default_str();
  serve->add_option("--zlib-level", comp.zlib_level, "zlib-stream level (-1..9)")
      ->envname("PARLEY_ZLIB_LEVEL")
      ->capture_default_str();
  serve->add_option("--zstd-level", comp.zstd_level, "zstd-stream level")
      ->envname("PARLEY_ZSTD_LEVEL")
      ->capture_default_str();
  serve->add_option("--zstd-window-log", comp.zstd_window_log, "zstd-stream window log")
      ->envname("PARLEY_ZSTD_WINDOW_LOG")
      ->capture_default_str();
  serve->callback([cfg, exit_code] { *exit_code = RunServe(*cfg); });
}

}  // namespace parley::cli
