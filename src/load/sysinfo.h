// What parley-load reads about the machine, itself and the server process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace parley::load {

// steady_clock (CLOCK_MONOTONIC, shared by every process of the machine), ns.
int64_t NowNs();

// The pid of the process with a listening TCP socket on 127.0.0.1/0.0.0.0:port
// (/proc/net/tcp for the socket inode, then /proc/*/fd for its owner).
std::optional<int> FindListenerPid(int port);

struct ProcSample {
  int64_t rss_bytes = -1;  // VmRSS
  double cpu_s = -1;       // utime + stime
  int64_t at_ns = 0;
};
ProcSample SampleProc(int pid);

double SelfCpuSeconds();  // getrusage(RUSAGE_SELF): user + system, all threads
int Cores();
int64_t RamBytes();
std::string KernelRelease();
std::string GitCommit();  // `git rev-parse --short HEAD`, or "" outside a checkout
std::string GitTopLevel();
std::string UtcNow();  // 2026-11-28T12:34:56Z

}  // namespace parley::load
