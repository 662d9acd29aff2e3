#include "load/server_probe.h"

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "load/rest.h"
#include "load/sysinfo.h"

namespace parley::load {

namespace json = boost::json;

namespace {

// utime + stime of /proc/PID/task/TID/stat, and the thread's name.
bool ThreadCpu(const std::string& dir, std::string* name, double* cpu_s) {
  std::ifstream stat(dir + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t open = all.find('('), close = all.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  *name = all.substr(open + 1, close - open - 1);
  std::istringstream ss(all.substr(close + 2));
  std::vector<std::string> f;
  std::string x;
  while (f.size() < 13 && ss >> x) f.push_back(x);
  if (f.size() < 13) return false;
  *cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

// "name{labels} value" lines, summed by name (histogram _bucket lines too,
// which nothing here reads).
void ParseMetrics(const std::string& text, std::map<std::string, double>* out) {
  std::istringstream in(text);
  std::string line;
  for (int n = 0; n < 1'000'000 && std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    size_t name_end = line.find_first_of("{ ");
    size_t sp = line.rfind(' ');
    if (name_end == std::string::npos || sp == std::string::npos) continue;
    try {
      (*out)[line.substr(0, name_end)] += std::stod(line.substr(sp + 1));
    } catch (...) {
    }
  }
}

double Round(double v, double unit) {
  return std::round(v / unit) * unit;
}

}  // namespace

ServerProbe Probe(const Options& o, int pid) {
  ServerProbe p;
  p.at_ns = NowNs();
  std::vector<int> pids;
  if (pid) pids.push_back(pid);
  if (pid) pids.insert(pids.end(), o.more_pids.begin(), o.more_pids.end());
  for (int each : pids) {
    std::string base = "/proc/" + std::to_string(each) + "/task";
    if (DIR* d = opendir(base.c_str())) {
      for (int n = 0; n < 100'000; ++n) {
        dirent* e = readdir(d);
        if (!e) break;
        if (e->d_name[0] == '.') continue;
        std::string name;
        double cpu = 0;
        if (ThreadCpu(base + "/" + e->d_name, &name, &cpu)) p.thread_cpu_s[name] += cpu;
      }
      closedir(d);
    }
  }
  // Through a load balancer /metrics is one node's, whichever answers: none.
  if (o.protocol == Protocol::kParley && o.more_pids.empty()) {
    SyncHttp http(o.host, o.port);
    HttpReply r = http.Request("GET", "/metrics", "", "");
    if (r.status == 200) ParseMetrics(r.body, &p.metrics);
  }
  return p;
}

json::object Breakdown(const ServerProbe& a, const ServerProbe& b) {
  json::object out;
  const double wall = (b.at_ns - a.at_ns) / 1e9;
  json::object threads;
  for (const auto& [name, cpu] : b.thread_cpu_s) {
    auto it = a.thread_cpu_s.find(name);
    double d = cpu - (it == a.thread_cpu_s.end() ? 0 : it->second);
    if (wall > 0 && d / wall >= 0.005) threads[name] = Round(d / wall, 0.001);
  }
  out["cores_by_thread"] = threads;
  if (b.metrics.empty()) return out;
  auto delta = [&](const char* m) {
    auto ib = b.metrics.find(m);
    auto ia = a.metrics.find(m);
    return (ib == b.metrics.end() ? 0 : ib->second) - (ia == a.metrics.end() ? 0 : ia->second);
  };
  const double dispatches = delta("parley_gateway_dispatches_total");
  const double writes = delta("parley_gateway_socket_writes_total");
  const double passes = delta("parley_gateway_flush_passes_total");
  const double wire = delta("parley_gateway_wire_bytes_total");
  const double commits = delta("parley_store_commit_batches_count");
  const double batches = delta("parley_store_commit_batches_sum");
  out["dispatches"] = dispatches;
  out["socket_writes"] = writes;
  out["dispatches_per_write"] = writes > 0 ? Round(dispatches / writes, 0.01) : 0.0;
  out["wire_bytes_per_dispatch"] = dispatches > 0 ? Round(wire / dispatches, 0.1) : 0.0;
  out["flush_passes"] = passes;
  out["writes_per_flush_pass"] = passes > 0 ? Round(writes / passes, 0.1) : 0.0;
  out["commits"] = commits;
  out["batches_per_commit"] = commits > 0 ? Round(batches / commits, 0.01) : 0.0;
  out["messages_persisted"] = delta("parley_messages_persisted_total");
  return out;
}

std::string BreakdownText(const json::object& b) {
  std::string s = "cores by thread:";
  if (const auto* t = b.if_contains("cores_by_thread")) {
    for (const auto& [k, v] : t->as_object()) {
      char buf[96];
      std::snprintf(buf, sizeof buf, " %s %.2f", std::string(k).c_str(), v.to_number<double>());
      s += buf;
    }
  }
  if (b.contains("dispatches")) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "; %.2f dispatches per send(), %.0f wire B per dispatch, %.1f sends per flush "
                  "pass, %.2f batches per commit",
                  b.at("dispatches_per_write").to_number<double>(),
                  b.at("wire_bytes_per_dispatch").to_number<double>(),
                  b.at("writes_per_flush_pass").to_number<double>(),
                  b.at("batches_per_commit").to_number<double>());
    s += buf;
  }
  return s;
}

}  // namespace parley::load
