#include "metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "metrics/server_metrics.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "0.1.0"
#endif

namespace parley::metrics {

namespace {

double ReadFirstNumber(const char* path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s == "max") return 0;
  try {
    return std::stod(s);
  } catch (...) {
    return 0;
  }
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double v = 0;
      in >> v;
      return v;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats s;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  {
    std::ifstream in("/proc/self/stat");
    std::string line;
    std::getline(in, line);
    // Fields after the command (which may hold spaces) start past ')'.
    auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream f(line.substr(close + 2));
      std::string v[24];
      for (int i = 0; i < 24 && f >> v[i]; ++i) {
      }
      // v[0] is field 3 (state): utime 14, stime 15, starttime 22, rss 24.
      try {
        s.cpu_seconds = (std::stod(v[11]) + std::stod(v[12])) / tick;
        s.start_time_seconds = BootTimeSeconds() + std::stod(v[19]) / tick;
        s.resident_bytes = std::stod(v[21]) * page;
      } catch (...) {
      }
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    s.open_fds += 1;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) s.max_fds = static_cast<double>(rl.rlim_cur);
  s.memory_limit_bytes = ReadFirstNumber("/sys/fs/cgroup/memory.max");
  if (s.memory_limit_bytes <= 0)
    s.memory_limit_bytes =
        static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return s;
}

void RegisterProcessMetrics() {
  Registry& r = M().registry;
  r.NewCallback("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", "",
                [] { return ReadProcessStats().resident_bytes; });
  r.NewCallback("process_open_fds", "Number of open file descriptors.", "gauge", "",
                [] { return ReadProcessStats().open_fds; });
  r.NewCallback("process_max_fds", "Maximum number of open file descriptors.", "gauge", "",
                [] { return ReadProcessStats().max_fds; });
  r.NewCallback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                "counter", "", [] { return ReadProcessStats().cpu_seconds; });
  r.NewCallback("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.", "gauge", "",
                [] { return ReadProcessStats().start_time_seconds; });
  r.NewCallback("parley_memory_limit_bytes",
                "Memory available to the process: the cgroup limit, else physical RAM.", "gauge",
                "", [] { return ReadProcessStats().memory_limit_bytes; });
  static const auto started = std::chrono::steady_clock::now();
  r.NewCallback("parley_uptime_seconds", "Seconds since the server started.", "gauge", "", [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  });
  r.NewCallback("parley_build_info", "Build information (always 1).", "gauge",
                "version=\"" PARLEY_VERSION "\"", [] { return 1.0; });
}

}  // namespace parley::metrics
