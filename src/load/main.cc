// parley-load: Parley's load generator (bench/README.md, "parley-load").
// Scenarios (scenarios.h): idle, fanout, storm, writes, history; idle and
// fanout also speak the peers' protocols for bench/compare (--protocol).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

#include "load/options.h"
#include "load/report.h"
#include "load/scenarios.h"
#include "load/worker_pool.h"

int main(int argc, char** argv) {
  using namespace parley::load;
  Options o = ParseOptions(argc, argv);
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
    if (o.scenario == "idle") return RunIdle(o);
    if (o.scenario == "fanout") return RunFanout(o);
    if (o.scenario == "storm") return RunStorm(o);
    if (o.scenario == "writes") return RunWrites(o);
    return RunHistory(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley-load: %s\n", e.what());
    KillWorkers();
    return 1;
  }
}
