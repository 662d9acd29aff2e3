// Figures about this process, read from /proc at scrape time.
#pragma once

#include <cstdint>

namespace parley::metrics {

struct ProcessStats {
  double resident_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // Unix time
  double memory_limit_bytes = 0;  // cgroup limit, else physical RAM
};

ProcessStats ReadProcessStats();

// Registers process_* and parley_memory_limit_bytes, parley_uptime_seconds
// and parley_build_info in M().registry.
void RegisterProcessMetrics();

}  // namespace parley::metrics
