// `parley status --url http://HOST:PORT --token TOKEN`: prints a running
// server's /admin/status (the admin's token) as a table.
#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"

namespace parley::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace bj = boost::json;

struct StatusConfig {
  std::string url = "http://127.0.0.1:8080";
  std::string token;
  bool json = false;
};

std::string Num(const bj::value* v) {
  if (!v) return "-";
  if (v->is_int64()) return fmt::format("{}", v->as_int64());
  if (v->is_uint64()) return fmt::format("{}", v->as_uint64());
  if (v->is_double()) return fmt::format("{:.3f}", v->as_double());
  if (v->is_string()) return std::string(v->as_string());
  return bj::serialize(*v);
}

const bj::value* At(const bj::object& o, std::string_view group, std::string_view key) {
  auto* g = o.if_contains(group);
  if (!g || !g->is_object()) return nullptr;
  return g->as_object().if_contains(key);
}

int RunStatus(const StatusConfig& cfg) {
  auto u = boost::urls::parse_uri(cfg.url);
  if (!u || u->scheme() != "http") {
    std::fprintf(stderr, "parley status: --url wants http://HOST:PORT, got '%s'\n",
                 cfg.url.c_str());
    return 2;
  }
  std::string host(u->host());
  std::string port = u->has_port() ? std::string(u->port()) : "80";
  std::string token = cfg.token;
  if (token.empty())
    if (const char* t = std::getenv("PARLEY_TOKEN")) token = t;
  try {
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver(ctx);
    asio::ip::tcp::socket sock(ctx);
    asio::connect(sock, resolver.resolve(host, port));
    http::request<http::string_body> req(http::verb::get, "/admin/status", 11);
    req.set(http::field::host, host + ":" + port);
    req.set(http::field::accept, "application/json");
    if (!token.empty()) req.set(http::field::authorization, token);
    http::write(sock, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(sock, buf, res);
    if (res.result_int() != 200) {
      std::fprintf(stderr, "%s/admin/status answered %u: %s\n", cfg.url.c_str(), res.result_int(),
                   res.body().c_str());
      if (res.result_int() == 401 || res.result_int() == 403)
        std::fprintf(stderr, "(pass the admin's token with --token or PARLEY_TOKEN)\n");
      return 1;
    }
    if (cfg.json) {
      std::printf("%s\n", res.body().c_str());
      return 0;
    }
    bj::value v = bj::parse(res.body());
    const bj::object& o = v.as_object();
    auto row = [](const char* what, const std::string& value) {
      std::printf("  %-34s %s\n", what, value.c_str());
    };
    std::printf("Parley %s at %s\n", Num(o.if_contains("version")).c_str(), cfg.url.c_str());
    std::printf("connections\n");
    row("gateway connections open", Num(At(o, "connections", "gateway_open")));
    row("gateway sessions", Num(At(o, "connections", "sessions")));
    row("HTTP connections open", Num(At(o, "connections", "http_open")));
    row("TCP connections accepted", Num(At(o, "connections", "accepted")));
    std::printf("gateway\n");
    row("identifies", Num(At(o, "gateway", "identifies")));
    row("resumes ok / failed",
        Num(At(o, "gateway", "resumes_ok")) + " / " + Num(At(o, "gateway", "resumes_failed")));
    row("slow consumers closed", Num(At(o, "gateway", "slow_consumers")));
    row("dispatches", Num(At(o, "gateway", "dispatches")));
    std::printf("messages\n");
    row("posted / persisted / failed", Num(At(o, "messages", "posted")) + " / " +
                                           Num(At(o, "messages", "persisted")) + " / " +
                                           Num(At(o, "messages", "failed")));
    row("store write queue", Num(At(o, "store", "write_queue")));
    row("commit p99 (ms)", Num(At(o, "store", "commit_p99_ms")));
    std::printf("delivery (commit -> socket)\n");
    row("p50 / p95 / p99 (ms)", Num(At(o, "delivery", "p50_ms")) + " / " +
                                    Num(At(o, "delivery", "p95_ms")) + " / " +
                                    Num(At(o, "delivery", "p99_ms")));
    std::printf("REST\n");
    row("requests", Num(At(o, "rest", "requests")));
    row("p50 / p99 (ms)", Num(At(o, "rest", "p50_ms")) + " / " + Num(At(o, "rest", "p99_ms")));
    std::printf("process\n");
    row("resident memory (MiB)",
        fmt::format("{:.1f}",
                    At(o, "process", "resident_bytes")
                        ? At(o, "process", "resident_bytes")->to_number<double>() / 1048576
                        : 0.0));
    row("open files / limit",
        Num(At(o, "process", "open_fds")) + " / " + Num(At(o, "process", "max_fds")));
    row("CPU seconds", Num(At(o, "process", "cpu_seconds")));
    if (const bj::value* c = o.if_contains("cluster"); c && c->is_object()) {
      const bj::object& cl = c->as_object();
      std::printf("cluster (this node: %s)\n", Num(cl.if_contains("node_id")).c_str());
      row("PostgreSQL (log read or commit ok)",
          fmt::format(
              "{} ({} ms ago)",
              At(cl, "postgres", "ok") && At(cl, "postgres", "ok")->as_bool() ? "ok" : "FAILING",
              Num(At(cl, "postgres", "last_ok_ms_ago"))));
      if (At(cl, "bus", "up")) {
        row("Redis bus", fmt::format("{} (own heartbeat back {} ms ago)",
                                     At(cl, "bus", "up")->as_bool() ? "up" : "DOWN",
                                     Num(At(cl, "bus", "silent_ms"))));
      } else {
        row("Redis bus", "none (nodes follow the log in PostgreSQL)");
      }
      if (const bj::value* ns = cl.if_contains("nodes"); ns && ns->is_array()) {
        std::printf("  %-6s %10s %14s %8s %14s\n", "node", "sessions", "applied", "lag",
                    "heard (ms ago)");
        for (const bj::value& n : ns->as_array()) {
          if (!n.is_object()) continue;
          const bj::object& x = n.as_object();
          std::printf("  %-6s %10s %14s %8s %14s\n",
                      (Num(x.if_contains("node_id")) +
                       (x.if_contains("self") && x.at("self").as_bool() ? "*" : ""))
                          .c_str(),
                      Num(x.if_contains("sessions")).c_str(),
                      Num(x.if_contains("applied_position")).c_str(),
                      Num(x.if_contains("lag")).c_str(),
                      Num(x.if_contains("heard_ms_ago")).c_str());
        }
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot read %s/admin/status: %s\n", cfg.url.c_str(), e.what());
    return 1;
  }
}

}  // namespace

void AddStatusCommand(CLI::App& app, int* exit_code) {
  auto cfg = std::make_shared<StatusConfig>();
  CLI::App* cmd = app.add_subcommand("status", "Print a running server's status (admin only)");
  cmd->add_option("--url", cfg->url, "The server's base URL")->capture_default_str();
  cmd->add_option("--token", cfg->token, "The admin's token (or PARLEY_TOKEN)");
  cmd->add_flag("--json", cfg->json, "Print the raw JSON");
  cmd->callback([cfg, exit_code] { *exit_code = RunStatus(*cfg); });
}

}  // namespace parley::cli
