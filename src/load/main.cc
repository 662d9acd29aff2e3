// parley-load: Parley's load generator. Scenarios:
//   idle   --sessions N   N identified gateway sessions: connect rate, failures,
//                         server RSS per session, server CPU while idle.
//   fanout --receivers K --rate R[,R2,...]   K sessions in one guild, messages
//                         posted over REST on an open-loop schedule; end-to-end
//                         latency, loss, duplicates and order per step.
// See bench/README.md ("parley-load") for every option and what is measured.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "load/histogram.h"
#include "load/rest.h"
#include "load/sysinfo.h"
#include "load/worker.h"

namespace parley::load {
namespace {

namespace json = boost::json;

struct Options {
  std::string scenario;
  std::string host = "127.0.0.1";
  int port = 0;
  int pid = 0;
  int threads = 1, procs = 1, source_addrs = -1, users = 100, timeout_s = 300;
  int concurrency = 64, session_timeout_s = 60, intents = 1 | (1 << 9);
  bool json = false, record = true;
  std::string results_dir;
  // idle
  int sessions = 0, warmup = 500;
  double settle_s = 10, idle_s = 30;
  // fanout
  int receivers = 0, size = 100, publishers = 4, conns_per_publisher = 8;
  std::vector<double> rates;
  double duration_s = 10, warmup_s = 2, drain_s = 10, p99_ms = 50;
  bool keep_going = false;
  std::string command;
};

[[noreturn]] void Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "parley-load: %s\n\n", error.c_str());
  std::fprintf(stderr,
               "usage: parley-load idle --sessions N --url http://127.0.0.1:PORT [options]\n"
               "       parley-load fanout --receivers K --rate R[,R2,...] --url URL [options]\n"
               "common: --pid PID  --threads T [1]  --procs P [1]  --source-addrs K [auto]\n"
               "        --users U [100]  --concurrency C [64 handshakes per thread]\n"
               "        --session-timeout-s S [60]  --intents N [513]  --timeout-s S [300]\n"
               "        --json  --results-dir DIR [<repo>/bench/results]  --no-record\n"
               "idle:   --warmup N [500]  --settle-s S [10]  --idle-s S [30]\n"
               "fanout: --duration S [10]  --size B [100]  --publishers P [4]\n"
               "        --conns-per-publisher C [8]  --warmup-s S [2]  --drain-s S [10]\n"
               "        --p99-ms MS [50]  --keep-going\n"
               "The server must run with --ratelimit-global 0 --ratelimit-scale 1000000\n"
               "(and --password-cost min for a quick set-up).\n");
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i) o.command += " ";
    o.command += a.find(' ') == std::string::npos ? a : "'" + a + "'";
  }
  if (argc < 2) Usage("");
  o.scenario = argv[1];
  if (o.scenario != "idle" && o.scenario != "fanout") Usage("unknown scenario " + o.scenario);
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    auto num = [&]() -> double {
      std::string v = val();
      try {
        return std::stod(v);
      } catch (...) {
        Usage(a + " wants a number, got " + v);
      }
    };
    if (a == "--url") {
      std::string u = val();
      if (u.rfind("http://", 0) == 0) u = u.substr(7);
      u = u.substr(0, u.find('/'));
      size_t c = u.rfind(':');
      if (c == std::string::npos) Usage("--url wants http://HOST:PORT");
      o.host = u.substr(0, c);
      if (o.host == "localhost") o.host = "127.0.0.1";
      o.port = std::atoi(u.substr(c + 1).c_str());
    } else if (a == "--pid") {
      o.pid = static_cast<int>(num());
    } else if (a == "--threads") {
      o.threads = static_cast<int>(num());
    } else if (a == "--procs") {
      o.procs = static_cast<int>(num());
    } else if (a == "--source-addrs") {
      o.source_addrs = static_cast<int>(num());
    } else if (a == "--users") {
      o.users = static_cast<int>(num());
    } else if (a == "--timeout-s") {
      o.timeout_s = static_cast<int>(num());
    } else if (a == "--concurrency") {
      o.concurrency = static_cast<int>(num());
    } else if (a == "--session-timeout-s") {
      o.session_timeout_s = static_cast<int>(num());
    } else if (a == "--intents") {
      o.intents = static_cast<int>(num());
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--no-record") {
      o.record = false;
    } else if (a == "--results-dir") {
      o.results_dir = val();
    } else if (a == "--sessions") {
      o.sessions = static_cast<int>(num());
    } else if (a == "--warmup") {
      o.warmup = static_cast<int>(num());
    } else if (a == "--settle-s") {
      o.settle_s = num();
    } else if (a == "--idle-s") {
      o.idle_s = num();
    } else if (a == "--receivers") {
      o.receivers = static_cast<int>(num());
    } else if (a == "--rate") {
      std::string v = val();
      for (size_t p = 0; p <= v.size();) {
        size_t c = std::min(v.find(',', p), v.size());
        try {
          o.rates.push_back(std::stod(v.substr(p, c - p)));
        } catch (...) {
          Usage("--rate wants R[,R2,...]");
        }
        p = c + 1;
      }
    } else if (a == "--duration") {
      o.duration_s = num();
    } else if (a == "--size") {
      o.size = static_cast<int>(num());
    } else if (a == "--publishers") {
      o.publishers = static_cast<int>(num());
    } else if (a == "--conns-per-publisher") {
      o.conns_per_publisher = static_cast<int>(num());
    } else if (a == "--warmup-s") {
      o.warmup_s = num();
    } else if (a == "--drain-s") {
      o.drain_s = num();
    } else if (a == "--p99-ms") {
      o.p99_ms = num();
    } else if (a == "--keep-going") {
      o.keep_going = true;
    } else if (a == "--help" || a == "-h") {
      Usage("");
    } else {
      Usage("unknown option " + a);
    }
  }
  if (!o.port) Usage("--url http://HOST:PORT is required");
  if (o.threads < 1 || o.threads > 64 || o.procs < 1 || o.procs > 64)
    Usage("--threads and --procs: 1..64");
  if (o.scenario == "idle" && o.sessions < 1) Usage("idle needs --sessions N");
  if (o.scenario == "fanout") {
    if (o.receivers < 1) Usage("fanout needs --receivers K");
    if (o.rates.empty() ||
        std::any_of(o.rates.begin(), o.rates.end(), [](double r) { return !(r > 0 && r <= 1e6); }))
      Usage("fanout needs --rate R[,R2,...] (messages/s, > 0)");
    if (o.duration_s <= o.warmup_s) Usage("--duration must exceed --warmup-s");
    if (o.publishers < 1 || o.conns_per_publisher < 1 || o.size < 1 || o.size > 2000)
      Usage("--publishers, --conns-per-publisher >= 1; --size 1..2000");
  }
  if (o.concurrency < 1 || o.users < 1 || o.timeout_s < 1) Usage("bad option value");
  return o;
}

// ----------------------------------------------------------------- workers

int g_children[64];
int g_nchildren = 0;

void OnAlarm(int) {
  const char msg[] = "\nparley-load: global timeout (--timeout-s) reached, aborting\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  for (int i = 0; i < g_nchildren; ++i) kill(g_children[i], SIGKILL);
  _exit(3);
}

struct Worker {
  int pid = 0;
  std::unique_ptr<LineChannel> ch;
  int count = 0;
};

// Forks one worker per slice of [0, total); sessions bind source addresses
// 127.0.0.2.. when `addrs` > 0.
std::vector<Worker> SpawnWorkers(const Options& o, const std::vector<std::string>& tokens,
                                 int total, int procs, int addrs) {
  std::vector<Worker> ws;
  std::vector<int> parent_fds;
  std::fflush(stdout);
  std::fflush(stderr);
  for (int k = 0; k < procs; ++k) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::runtime_error("socketpair failed");
    WorkerConfig cfg;
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.tokens = tokens;
    cfg.first = static_cast<int>(static_cast<int64_t>(total) * k / procs);
    cfg.count = static_cast<int>(static_cast<int64_t>(total) * (k + 1) / procs) - cfg.first;
    cfg.threads = o.threads;
    for (int a = 0; a < addrs; ++a) cfg.source_addrs.push_back("127.0.0." + std::to_string(2 + a));
    cfg.concurrency = o.concurrency;
    cfg.intents = o.intents;
    cfg.session_timeout_s = o.session_timeout_s;
    cfg.timeout_s = o.timeout_s;
    int pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      close(sv[0]);
      for (int fd : parent_fds) close(fd);
      signal(SIGALRM, SIG_DFL);
      _exit(RunWorker(cfg, sv[1]));
    }
    close(sv[1]);
    parent_fds.push_back(sv[0]);
    g_children[g_nchildren++] = pid;
    ws.push_back(Worker{pid, std::make_unique<LineChannel>(sv[0]), cfg.count});
  }
  return ws;
}

// Sends `cmd` to every worker and returns their replies (throws on silence).
std::vector<std::string> Ask(std::vector<Worker>& ws, const std::string& cmd, int timeout_ms) {
  for (auto& w : ws) w.ch->Send(cmd);
  std::vector<std::string> out;
  for (auto& w : ws) {
    auto r = w.ch->Recv(timeout_ms);
    if (!r) throw std::runtime_error("worker " + std::to_string(w.pid) + " did not answer " + cmd);
    out.push_back(" " + *r);  // leading space: Field() looks for " key="
  }
  return out;
}

double Sum(const std::vector<std::string>& replies, const std::string& key) {
  double s = 0;
  for (const auto& r : replies) s += NumField(r, key);
  return s;
}

std::map<std::string, uint64_t> Reasons(const std::vector<std::string>& replies,
                                        const std::string& prefix) {
  std::map<std::string, uint64_t> m;
  for (const auto& r : replies) {
    for (size_t p = r.find(" " + prefix); p != std::string::npos; p = r.find(" " + prefix, p + 1)) {
      size_t eq = r.find('=', p);
      size_t end = r.find(' ', eq);
      m[r.substr(p + 1 + prefix.size(), eq - p - 1 - prefix.size())] +=
          std::stoull(r.substr(eq + 1, end == std::string::npos ? end : end - eq - 1));
    }
  }
  return m;
}

void StopWorkers(std::vector<Worker>& ws) {
  for (auto& w : ws) w.ch->Send("quit");
  for (auto& w : ws) w.ch->Recv(15000);  // "bye"
  for (auto& w : ws) {
    int status = 0;
    for (int i = 0; i < 50 && waitpid(w.pid, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waitpid(w.pid, &status, WNOHANG) == 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, &status, 0);
    }
    close(w.ch->fd());
  }
  g_nchildren = 0;
}

struct OpenResult {
  uint64_t ready = 0, failed = 0;
  std::map<std::string, uint64_t> failures;
  double wall_s = 0, generator_cpu_s = 0;
  Histogram connect_us;
};

// Opens every worker's sessions and waits until each has its GUILD_CREATE or failed.
OpenResult OpenAll(std::vector<Worker>& ws, int total, const Options& o, const char* label) {
  double cpu0 = SelfCpuSeconds() + Sum(Ask(ws, "stats", 20000), "cpu");
  int64_t t0 = NowNs();
  Ask(ws, "open", 20000);
  const int64_t deadline = t0 + (static_cast<int64_t>(o.session_timeout_s) + 30 +
                                 total / std::max(1, o.concurrency * o.threads) / 10) *
                                    1'000'000'000;
  std::vector<std::string> st;
  for (int i = 0; i < 100'000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    st = Ask(ws, "stats", 20000);
    uint64_t ready = static_cast<uint64_t>(Sum(st, "ready"));
    uint64_t failed = static_cast<uint64_t>(Sum(st, "failed"));
    if (i % 10 == 0 || ready + failed >= static_cast<uint64_t>(total))
      std::fprintf(stderr, "\r%s: %llu ready, %llu failed of %d (%.0f s)   ", label,
                   static_cast<unsigned long long>(ready), static_cast<unsigned long long>(failed),
                   total, (NowNs() - t0) / 1e9);
    if (ready + failed >= static_cast<uint64_t>(total) || NowNs() > deadline) break;
  }
  std::fprintf(stderr, "\n");
  OpenResult r;
  r.ready = static_cast<uint64_t>(Sum(st, "ready"));
  r.failed = static_cast<uint64_t>(Sum(st, "failed"));
  r.failures = Reasons(st, "f.");
  if (r.ready + r.failed < static_cast<uint64_t>(total))
    r.failures["not-done-in-time"] += total - r.ready - r.failed;
  double first = 0, last = 0;
  for (const auto& s : st) {
    double f = NumField(s, "first_start");
    if (f > 0 && (first == 0 || f < first)) first = f;
    last = std::max(last, NumField(s, "last_ready"));
  }
  r.wall_s = last > first ? (last - first) / 1e9 : 0;
  r.generator_cpu_s = SelfCpuSeconds() + Sum(st, "cpu") - cpu0;
  for (const auto& c : Ask(ws, "connect", 20000)) {
    r.connect_us.Decode(c.substr(c.find("connect ") + 8));
  }
  return r;
}

// ------------------------------------------------------------------- report

json::object Machine() {
  return json::object{{"cores", Cores()}, {"ram_bytes", RamBytes()}, {"kernel", KernelRelease()}};
}

json::object CountsJson(const std::map<std::string, uint64_t>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

double Ms(uint64_t us) {
  return std::round(static_cast<double>(us) / 10.0) / 100.0;
}

json::object LatencyJson(const Histogram& h) {
  return json::object{{"count", h.total()},
                      {"p50_ms", Ms(h.Percentile(50))},
                      {"p95_ms", Ms(h.Percentile(95))},
                      {"p99_ms", Ms(h.Percentile(99))},
                      {"p99_9_ms", Ms(h.Percentile(99.9))},
                      {"max_ms", Ms(h.max())}};
}

std::string Mib(int64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / 1048576.0);
  return buf;
}

std::string ReasonsText(const std::map<std::string, uint64_t>& m) {
  if (m.empty()) return "none";
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return s;
}

void Record(const Options& o, json::object report) {
  std::string dir = o.results_dir;
  if (dir.empty()) {
    std::string top = GitTopLevel();
    dir = (top.empty() ? std::string(".") : top) + "/bench/results";
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = dir + "/" + o.scenario + ".jsonl";
  std::ofstream out(path, std::ios::app);
  if (!out) {
    std::fprintf(stderr, "parley-load: cannot append to %s\n", path.c_str());
    return;
  }
  out << json::serialize(report) << "\n";
  std::fprintf(stderr, "recorded in %s\n", path.c_str());
}

json::object Header(const Options& o) {
  return json::object{{"scenario", o.scenario}, {"date", UtcNow()},
                      {"commit", GitCommit()},  {"machine", Machine()},
                      {"command", o.command},   {"server", {{"host", o.host}, {"port", o.port}}}};
}

// Generator CPU honesty: the share of the cores it could use (its threads,
// at most the machine's cores) over a window.
struct CpuShare {
  double cpu_s = 0, wall_s = 0, usable_cores = 1, share = 0;
  bool saturated = false;
};
CpuShare Share(const Options& o, double cpu_s, double wall_s, int procs) {
  CpuShare c;
  c.cpu_s = cpu_s;
  c.wall_s = wall_s;
  c.usable_cores = std::min<double>(Cores(), procs * o.threads + 1);
  c.share = wall_s > 0 ? cpu_s / (wall_s * c.usable_cores) : 0;
  c.saturated = c.share > 0.8;
  return c;
}
json::object CpuJson(const CpuShare& c) {
  return json::object{{"cpu_s", std::round(c.cpu_s * 1000) / 1000},
                      {"wall_s", std::round(c.wall_s * 1000) / 1000},
                      {"usable_cores", c.usable_cores},
                      {"share_of_usable_cores", std::round(c.share * 1000) / 1000},
                      {"over_80_percent", c.saturated}};
}

int FdLimit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 30));
}

int SourceAddrs(const Options& o, int total) {
  if (o.host.rfind("127.", 0) != 0) return 0;
  if (o.source_addrs >= 0) return std::min(o.source_addrs, 250);
  return total > 10000 ? (total + 9999) / 10000 : 0;
}

int ServerPid(const Options& o) {
  if (o.pid) return o.pid;
  auto p = FindListenerPid(o.port);
  if (!p) std::fprintf(stderr, "warning: no pid found listening on port %d (give --pid)\n", o.port);
  return p.value_or(0);
}

// -------------------------------------------------------------------- idle

int RunIdle(const Options& o) {
  json::object report = Header(o);
  const int pid = ServerPid(o);
  const int addrs = SourceAddrs(o, o.sessions);
  std::fprintf(stderr, "setup: registering %d users, one guild, one invite\n",
               std::min(o.users, o.sessions));
  SetupResult setup = SetupGuild(o.host, o.port, std::min(o.users, o.sessions), 0);
  if (o.warmup > 0) {
    auto ws = SpawnWorkers(o, setup.user_tokens, o.warmup, 1, addrs);
    OpenResult w = OpenAll(ws, o.warmup, o, "warm-up");
    StopWorkers(ws);
    if (w.failed)
      std::fprintf(stderr, "warm-up: %llu failed: %s\n", static_cast<unsigned long long>(w.failed),
                   ReasonsText(w.failures).c_str());
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  ProcSample before = pid ? SampleProc(pid) : ProcSample{};
  auto ws = SpawnWorkers(o, setup.user_tokens, o.sessions, o.procs, addrs);
  OpenResult r = OpenAll(ws, o.sessions, o, "open");
  ProcSample opened = pid ? SampleProc(pid) : ProcSample{};
  std::fprintf(stderr, "settling %.0f s\n", o.settle_s);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));
  ProcSample settled = pid ? SampleProc(pid) : ProcSample{};
  std::fprintf(stderr, "idle: measuring the server's CPU for %.0f s\n", o.idle_s);
  auto st0 = Ask(ws, "stats", 20000);
  double gen0 = SelfCpuSeconds() + Sum(st0, "cpu");
  ProcSample cpu0 = pid ? SampleProc(pid) : ProcSample{};
  std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_s));
  ProcSample cpu1 = pid ? SampleProc(pid) : ProcSample{};
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
    std::printf("# parley-load idle  %s  commit %s  %d cores, %.1f GB RAM\n",
                std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    std::printf(
        "sessions     %llu/%d identified (%zu users, %d procs x %d threads, %d source "
        "addresses); failed %llu: %s\n",
        static_cast<unsigned long long>(r.ready), o.sessions, setup.user_tokens.size(), o.procs,
        o.threads, addrs, static_cast<unsigned long long>(r.failed),
        ReasonsText(r.failures).c_str());
    std::printf(
        "connect      %.0f sessions/s (TCP connect -> GUILD_CREATE, %.2f s); p50 %.1f ms, "
        "p99 %.1f ms, max %.1f ms\n",
        r.wall_s > 0 ? r.ready / r.wall_s : 0.0, r.wall_s, Ms(r.connect_us.Percentile(50)),
        Ms(r.connect_us.Percentile(99)), Ms(r.connect_us.max()));
    if (pid) {
      std::printf(
          "server RSS   %s before -> %s all identified -> %s after %.0f s: %lld B per "
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

// ------------------------------------------------------------------ fanout

int RunFanout(const Options& o) {
  json::object report = Header(o);
  const int pid = ServerPid(o);
  const int addrs = SourceAddrs(o, o.receivers);
  const int users = std::min(o.users, o.receivers);
  std::fprintf(stderr, "setup: registering %d users + %d publishers, one guild\n", users,
               o.publishers);
  SetupResult setup = SetupGuild(o.host, o.port, users, o.publishers);
  auto ws = SpawnWorkers(o, setup.user_tokens, o.receivers, o.procs, addrs);
  OpenResult opened = OpenAll(ws, o.receivers, o, "receivers");
  Publisher pub(o.host, o.port, setup.channel_id, setup.publisher_tokens, o.conns_per_publisher,
                o.size);
  bool ok = opened.failed == 0;
  json::array steps;
  int knee = -1;
  struct Row {
    double rate, deliveries_s, server_cpu, gen_share;
    uint64_t sent, acked, failed, loss, dups, reorders, lossy;
    Histogram h;
    bool gen_saturated, pass;
  };
  std::vector<Row> rows;
  for (size_t i = 0; i < o.rates.size(); ++i) {
    const double rate = o.rates[i];
    std::string err;
    if (!pub.Connect(&err)) throw std::runtime_error("publisher: " + err);
    const int64_t start = NowNs() + 300'000'000;
    const int64_t warm_end = start + static_cast<int64_t>(o.warmup_s * 1e9);
    Ask(ws, "step " + std::to_string(i) + " " + std::to_string(warm_end), 20000);
    double gen0 = SelfCpuSeconds() + Sum(Ask(ws, "stats", 20000), "cpu");
    ProcSample srv0 = pid ? SampleProc(pid) : ProcSample{};
    std::fprintf(stderr, "step %zu: %g messages/s x %d receivers for %g s\n", i, rate,
                 static_cast<int>(opened.ready), o.duration_s);
    Publisher::StepStats ps = pub.RunStep(static_cast<int>(i), rate, o.duration_s, start, 10, true);
    ProcSample srv1 = pid ? SampleProc(pid) : ProcSample{};
    // Drain: wait until every open session has every acknowledged message.
    const int64_t drain_end = NowNs() + static_cast<int64_t>(o.drain_s * 1e9);
    double behind = 0;
    for (int n = 0; n < 100'000; ++n) {
      behind = Sum(Ask(ws, "behind " + std::to_string(ps.acked), 20000), "behind");
      if (behind == 0 || NowNs() > drain_end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto rep = Ask(ws, "report " + std::to_string(ps.acked), 30000);
    const int64_t end = NowNs();
    double gen1 = SelfCpuSeconds() + Sum(rep, "cpu");
    auto st = Ask(ws, "stats", 20000);
    Histogram h;
    for (const auto& r : rep) h.Decode(Field(r, "h"));
    Row row{};
    row.rate = rate;
    row.sent = ps.sent;
    row.acked = ps.acked;
    row.failed = ps.failed;
    row.loss = static_cast<uint64_t>(Sum(rep, "loss_open") + Sum(rep, "loss_dropped"));
    row.dups = static_cast<uint64_t>(Sum(rep, "dups"));
    row.reorders = static_cast<uint64_t>(Sum(rep, "reorders"));
    row.lossy = static_cast<uint64_t>(Sum(rep, "lossy_sessions"));
    const double window = o.duration_s - o.warmup_s;
    row.deliveries_s = Sum(rep, "measured") / window;
    row.h = h;
    const double srv_wall = (srv1.at_ns - srv0.at_ns) / 1e9;
    row.server_cpu = pid && srv_wall > 0 ? (srv1.cpu_s - srv0.cpu_s) / srv_wall : -1;
    CpuShare gc = Share(o, gen1 - gen0, (end - start) / 1e9, o.procs);
    row.gen_share = gc.share;
    row.gen_saturated = gc.saturated;
    row.pass = row.loss == 0 && row.failed == 0 && h.total() > 0 &&
               h.Percentile(99) <= static_cast<uint64_t>(o.p99_ms * 1000);
    if (row.pass) knee = static_cast<int>(i);
    if (Sum(rep, "loss_open") > 0 || row.dups || row.reorders) ok = false;
    json::object s{{"rate_msgs_per_s", rate},
                   {"receivers_ready", opened.ready},
                   {"scheduled", ps.scheduled},
                   {"sent", ps.sent},
                   {"acked", ps.acked},
                   {"post_failures", CountsJson(ps.failures)},
                   {"pipelined_sends", ps.pipelined},
                   {"send_lag_max_ms", std::round(ps.max_lag_ns / 1e4) / 100},
                   {"sends_late_over_1ms", ps.late_1ms},
                   {"rest_ack_latency", LatencyJson(ps.ack_us)},
                   {"deliveries_per_s", std::round(row.deliveries_s)},
                   {"deliveries_total", Sum(rep, "delivered")},
                   {"latency", LatencyJson(h)},
                   {"loss_on_open_sessions", Sum(rep, "loss_open")},
                   {"loss_on_dropped_sessions", Sum(rep, "loss_dropped")},
                   {"sessions_with_loss", row.lossy},
                   {"extra_deliveries", Sum(rep, "extra")},
                   {"duplicates", row.dups},
                   {"reorders", row.reorders},
                   {"sessions_alive", Sum(st, "alive")},
                   {"sessions_dropped", CountsJson(Reasons(st, "d."))},
                   {"seq_gaps_total", Sum(st, "seq_gaps")},
                   {"drained", behind == 0},
                   {"server_cpu_cores", std::round(row.server_cpu * 1000) / 1000},
                   {"generator_cpu", CpuJson(gc)},
                   {"pass", row.pass}};
    steps.push_back(s);
    rows.push_back(row);
    std::fprintf(
        stderr, "step %zu: %.0f deliveries/s, p99 %.1f ms, loss %llu, dups %llu, reorders %llu\n",
        i, row.deliveries_s, Ms(h.Percentile(99)), static_cast<unsigned long long>(row.loss),
        static_cast<unsigned long long>(row.dups), static_cast<unsigned long long>(row.reorders));
    if (!row.pass && !o.keep_going) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  StopWorkers(ws);
  json::object res;
  res["receivers"] = json::object{
      {"requested", o.receivers},
      {"ready", opened.ready},
      {"failed", opened.failed},
      {"failures", CountsJson(opened.failures)},
      {"users", users},
      {"processes", o.procs},
      {"threads_per_process", o.threads},
      {"source_addresses", addrs},
      {"connect_per_s", opened.wall_s > 0 ? std::round(opened.ready / opened.wall_s) : 0.0}};
  res["publishers"] = o.publishers;
  res["conns_per_publisher"] = o.conns_per_publisher;
  res["size_bytes"] = o.size;
  res["duration_s"] = o.duration_s;
  res["warmup_excluded_s"] = o.warmup_s;
  res["p99_limit_ms"] = o.p99_ms;
  res["steps"] = steps;
  res["knee_rate_msgs_per_s"] = knee >= 0 ? json::value(o.rates[knee]) : json::value(nullptr);
  report["results"] = res;
  report["ok"] = ok;
  if (o.json) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("# parley-load fanout  %s  commit %s  %d cores, %.1f GB RAM\n",
                std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    std::printf(
        "%llu/%d receivers ready (%d users; failed %llu: %s), %d publishers x %d conns, "
        "%d-byte content, %g s per step, first %g s of each step excluded (warm-up)\n",
        static_cast<unsigned long long>(opened.ready), o.receivers, users,
        static_cast<unsigned long long>(opened.failed), ReasonsText(opened.failures).c_str(),
        o.publishers, o.conns_per_publisher, o.size, o.duration_s, o.warmup_s);
    std::printf("%8s %7s %7s %5s %12s %8s %8s %8s %8s %8s %7s %5s %6s %7s %8s %s\n", "msgs/s",
                "sent", "acked", "fail", "deliveries/s", "p50 ms", "p95 ms", "p99 ms", "p99.9",
                "max", "loss", "dups", "reord", "srv cpu", "gen cpu", "ok");
    for (const auto& r : rows) {
      std::printf(
          "%8g %7llu %7llu %5llu %12.0f %8.2f %8.2f %8.2f %8.2f %8.2f %7llu %5llu %6llu "
          "%7.2f %7.0f%% %s%s\n",
          r.rate, static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.acked),
          static_cast<unsigned long long>(r.failed), r.deliveries_s, Ms(r.h.Percentile(50)),
          Ms(r.h.Percentile(95)), Ms(r.h.Percentile(99)), Ms(r.h.Percentile(99.9)), Ms(r.h.max()),
          static_cast<unsigned long long>(r.loss), static_cast<unsigned long long>(r.dups),
          static_cast<unsigned long long>(r.reorders), r.server_cpu, 100 * r.gen_share,
          r.pass ? "yes" : "no", r.gen_saturated ? " (generator > 80%)" : "");
    }
    if (knee >= 0) {
      std::printf(
          "knee: %g messages/s (%.0f deliveries/s) is the highest step with p99 <= %g ms "
          "and no loss\n",
          o.rates[knee], rows[knee].deliveries_s, o.p99_ms);
    } else {
      std::printf("knee: no step had p99 <= %g ms and no loss\n", o.p99_ms);
    }
    std::printf(
        "srv cpu: server cores busy during the sends; gen cpu: this tool's share of the "
        "%.0f cores it could use\n",
        std::min<double>(Cores(), o.procs * o.threads + 1));
  }
  if (o.record) Record(o, report);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace parley::load

int main(int argc, char** argv) {
  using namespace parley::load;
  Options o = Parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, OnAlarm);
  alarm(static_cast<unsigned>(o.timeout_s));
  const int total = o.scenario == "idle" ? o.sessions : o.receivers;
  const int per_proc = (total + o.procs - 1) / o.procs;
  const int limit = FdLimit();
  if (per_proc + 100 > limit) {
    std::fprintf(stderr,
                 "parley-load: %d sessions per process exceed the open-file limit %d: use "
                 "--procs %d or more\n",
                 per_proc, limit, (total + limit - 101) / (limit - 100));
    return 2;
  }
  try {
    return o.scenario == "idle" ? RunIdle(o) : RunFanout(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley-load: %s\n", e.what());
    for (int i = 0; i < g_nchildren; ++i) kill(g_children[i], SIGKILL);
    return 1;
  }
}
