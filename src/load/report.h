// parley-load's reports: JSON pieces, terminal formatting, the row appended
// to bench/results/<scenario>.jsonl, and the generator's CPU honesty check.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>

#include "load/histogram.h"
#include "load/options.h"
#include "load/sysinfo.h"

namespace parley::load {

// scenario, protocol, date, commit, machine, command, server.
boost::json::object Header(const Options& o);
boost::json::object Machine();
boost::json::object CountsJson(const std::map<std::string, uint64_t>& m);
// count, p50_ms, p95_ms, p99_ms, p99_9_ms, max_ms.
boost::json::object LatencyJson(const Histogram& h);
double Ms(uint64_t us);  // µs → ms, two decimals
std::string Mib(int64_t bytes);
std::string ReasonsText(const std::map<std::string, uint64_t>& m);  // "a 3, b 1" or "none"
// Appends the report as one line to <results dir>/<scenario>.jsonl (unless --no-record).
void Record(const Options& o, boost::json::object report);

// Generator CPU honesty: the share of the cores it could use (its threads,
// at most the machine's cores) over a window; saturated above 80%.
struct CpuShare {
  double cpu_s = 0, wall_s = 0, usable_cores = 1, share = 0;
  bool saturated = false;
};
CpuShare Share(const Options& o, double cpu_s, double wall_s, int procs);
boost::json::object CpuJson(const CpuShare& c);

// Raises the soft open-file limit to the hard one; returns it.
int FdLimit();
// Source addresses 127.0.0.2.. to spread `total` sockets over (0: none).
int SourceAddrs(const Options& o, int total);
// --pid, else the pid listening on the server's port (0 if unknown, with a warning).
int ServerPid(const Options& o);

// SampleProc(pid) plus every process of --pid's list after the first (a
// cluster's other nodes, nginx, PostgreSQL, Redis): CPU and RSS summed. A
// process that ended counts nothing. pid 0: an empty sample (cpu_s -1).
ProcSample SampleServer(const Options& o, int pid);

}  // namespace parley::load
