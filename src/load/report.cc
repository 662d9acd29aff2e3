#include "load/report.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "load/sysinfo.h"

namespace parley::load {

namespace json = boost::json;

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
  json::object h{{"scenario", o.scenario},
                 {"protocol", ProtocolName(o.protocol)},
                 {"date", UtcNow()},
                 {"commit", GitCommit()},
                 {"machine", Machine()},
                 {"command", o.command},
                 {"server", {{"host", o.host}, {"port", o.port}}}};
  if (o.protocol == Protocol::kParley) {
    h["encoding"] = std::string(encoding::EncodingName(o.encoding));
    h["compress"] = o.compress.empty() ? "none" : o.compress;
  }
  return h;
}

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

ProcSample SampleServer(const Options& o, int pid) {
  if (!pid) return {};
  ProcSample s = SampleProc(pid);
  for (int more : o.more_pids) {
    ProcSample m = SampleProc(more);
    if (m.cpu_s >= 0) s.cpu_s = std::max(s.cpu_s, 0.0) + m.cpu_s;
    if (m.rss_bytes >= 0) s.rss_bytes = std::max<int64_t>(s.rss_bytes, 0) + m.rss_bytes;
  }
  return s;
}

}  // namespace parley::load
