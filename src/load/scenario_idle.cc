// idle: N sessions connect, become ready (Parley: identify → GUILD_CREATE;
// peers: subscribed) and only heartbeat. Connect rate, failures by reason, the
// server's RSS growth per session and its CPU while the sessions idle.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "load/report.h"
#include "load/rest.h"
#include "load/scenarios.h"
#include "load/sysinfo.h"
#include "load/worker_pool.h"

namespace parley::load {

namespace json = boost::json;

int RunIdle(const Options& o) {
  json::object report = Header(o);
  const int pid = ServerPid(o);
  const int addrs = SourceAddrs(o, o.sessions);
  SetupResult setup;  // peers need no accounts
  if (o.protocol == Protocol::kParley) {
    std::fprintf(stderr, "setup: registering %d users, one guild, one invite\n",
                 std::min(o.users, o.sessions));
    setup = SetupGuild(o.host, o.port, std::min(o.users, o.sessions), 0);
  }
  if (o.warmup > 0) {
    auto ws = SpawnWorkers(o, setup.user_tokens, o.warmup, 1, addrs);
    OpenResult w = OpenAll(ws, o.warmup, o, "warm-up");
    StopWorkers(ws);
    if (w.failed)
      std::fprintf(stderr, "warm-up: %llu failed: %s\n", static_cast<unsigned long long>(w.failed),
                   ReasonsText(w.failures).c_str());
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  ProcSample before = SampleServer(o, pid);
  auto ws = SpawnWorkers(o, setup.user_tokens, o.sessions, o.procs, addrs);
  OpenResult r = OpenAll(ws, o.sessions, o, "open");
  ProcSample opened = SampleServer(o, pid);
  std::fprintf(stderr, "settling %.0f s\n", o.settle_s);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));
  ProcSample settled = SampleServer(o, pid);
  std::fprintf(stderr, "idle: measuring the server's CPU for %.0f s\n", o.idle_s);
  auto st0 = Ask(ws, "stats", 20000);
  double gen0 = SelfCpuSeconds() + Sum(st0, "cpu");
  ProcSample cpu0 = SampleServer(o, pid);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_s));
  ProcSample cpu1 = SampleServer(o, pid);
  auto st1 = Ask(ws, "stats", 20000);
  double gen1 = SelfCpuSeconds() + Sum(st1, "cpu");
  StopWorkers(ws);

  const double window = (cpu1.at_ns - cpu0.at_ns) / 1e9;
  const double idle_wall = o.idle_s;
  auto growth = settled.rss_bytes - before.rss_bytes;
  json::object res;
  res["sessions"] = json::object{{"requested", o.sessions},
                                 {"ready", r.ready},
                                 {"failed", r.failed},
                                 {"failures", CountsJson(r.failures)},
                                 {"alive_after_idle", Sum(st1, "alive")},
                                 {"dropped", CountsJson(Reasons(st1, "d."))},
                                 {"users", setup.user_tokens.size()},
                                 {"processes", o.procs},
                                 {"threads_per_process", o.threads},
                                 {"source_addresses", addrs}};
  res["connect"] =
      json::object{{"wall_s", std::round(r.wall_s * 1000) / 1000},
                   {"sessions_per_s", r.wall_s > 0 ? std::round(r.ready / r.wall_s) : 0.0},
                   {"latency", LatencyJson(r.connect_us)},
                   {"generator_cpu", CpuJson(Share(o, r.generator_cpu_s, r.wall_s, o.procs))}};
  if (pid) {
    res["server_memory"] =
        json::object{{"pid", pid},
                     {"rss_before_bytes", before.rss_bytes},
                     {"rss_all_identified_bytes", opened.rss_bytes},
                     {"rss_settled_bytes", settled.rss_bytes},
                     {"settle_s", o.settle_s},
                     {"bytes_per_session", r.ready ? growth / static_cast<int64_t>(r.ready) : 0}};
    res["server_idle_cpu"] = json::object{
        {"window_s", std::round(window * 100) / 100},
        {"cpu_s", std::round((cpu1.cpu_s - cpu0.cpu_s) * 1000) / 1000},
        {"percent_of_one_core",
         window > 0 ? std::round(10000 * (cpu1.cpu_s - cpu0.cpu_s) / window) / 100 : 0.0},
        {"heartbeats_per_s", std::round((Sum(st1, "beats") - Sum(st0, "beats")) / idle_wall)},
        {"heartbeat_acks", Sum(st1, "acks") - Sum(st0, "acks")},
        {"server_heartbeat_requests", Sum(st1, "asks") - Sum(st0, "asks")}};
  }
  res["generator_idle_cpu"] = CpuJson(Share(o, gen1 - gen0, idle_wall, o.procs));
  report["results"] = res;
  const bool ok = r.failed == 0 && r.ready == static_cast<uint64_t>(o.sessions);
  report["ok"] = ok;

  if (o.json) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("# parley-load idle (%s)  %s  commit %s  %d cores, %.1f GB RAM\n",
                ProtocolName(o.protocol), std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    std::printf(
        "sessions     %llu/%d ready (%zu users, %d procs x %d threads, %d source "
        "addresses); failed %llu: %s\n",
        static_cast<unsigned long long>(r.ready), o.sessions, setup.user_tokens.size(), o.procs,
        o.threads, addrs, static_cast<unsigned long long>(r.failed),
        ReasonsText(r.failures).c_str());
    std::printf(
        "connect      %.0f sessions/s (TCP connect -> ready, %.2f s); p50 %.1f ms, "
        "p99 %.1f ms, max %.1f ms\n",
        r.wall_s > 0 ? r.ready / r.wall_s : 0.0, r.wall_s, Ms(r.connect_us.Percentile(50)),
        Ms(r.connect_us.Percentile(99)), Ms(r.connect_us.max()));
    if (pid) {
      std::printf(
          "server RSS   %s before -> %s all ready -> %s after %.0f s: %lld B per "
          "session\n",
          Mib(before.rss_bytes).c_str(), Mib(opened.rss_bytes).c_str(),
          Mib(settled.rss_bytes).c_str(), o.settle_s,
          r.ready ? static_cast<long long>(growth / static_cast<int64_t>(r.ready)) : 0LL);
      std::printf("server idle  %.2f%% of one core over %.0f s (%.0f heartbeats/s)\n",
                  window > 0 ? 100 * (cpu1.cpu_s - cpu0.cpu_s) / window : 0.0, window,
                  (Sum(st1, "beats") - Sum(st0, "beats")) / idle_wall);
    }
    auto gc = Share(o, r.generator_cpu_s, r.wall_s, o.procs);
    std::printf("generator    %.0f%% of its %.0f usable cores while connecting%s\n", 100 * gc.share,
                gc.usable_cores,
                gc.saturated ? "  ** over 80%: the generator may be the bottleneck **" : "");
    std::printf("dropped      %s; alive after the idle window %.0f\n",
                ReasonsText(Reasons(st1, "d.")).c_str(), Sum(st1, "alive"));
  }
  if (o.record) Record(o, report);
  return ok ? 0 : 1;
}

}  // namespace parley::load
