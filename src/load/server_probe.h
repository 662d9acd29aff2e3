// Where the server's time goes during a step, so that a shortfall points at
// its cause: CPU by thread (/proc/PID/task/*/stat, summed by thread name;
// works for every system) and, for Parley, counters from its /metrics:
// dispatches, send() calls, wire bytes, flush passes, commits and batches.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>

#include "load/options.h"

namespace parley::load {

struct ServerProbe {
  int64_t at_ns = 0;
  std::map<std::string, double> thread_cpu_s;  // by thread name
  std::map<std::string, double> metrics;       // metric name → value, labels summed
};

// Thread CPU of pid and of every process in o.more_pids (threads of one name
// summed across processes: a cluster's nodes add up per loop). pid 0: no
// thread CPU. Metrics only for --protocol parley (GET /metrics) with one
// process (through a load balancer they would be one node's).
ServerProbe Probe(const Options& o, int pid);

// b − a: cores busy per thread name; for Parley also dispatches per send(),
// wire bytes per dispatch, flush passes, commits and batches per commit.
boost::json::object Breakdown(const ServerProbe& a, const ServerProbe& b);

// One line for the terminal from a Breakdown().
std::string BreakdownText(const boost::json::object& b);

}  // namespace parley::load
