// The parent's side of parley-load's worker processes: fork them, ask them
// (one line per command, see worker.h), open their sessions, stop them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "load/histogram.h"
#include "load/options.h"
#include "load/worker.h"

namespace parley::load {

struct Worker {
  int pid = 0;
  std::unique_ptr<LineChannel> ch;
  int count = 0;
};

// Forks one worker per slice of [0, total); sessions bind source addresses
// 127.0.0.2.. when `addrs` > 0. Throws std::runtime_error.
std::vector<Worker> SpawnWorkers(const Options& o, const std::vector<std::string>& tokens,
                                 int total, int procs, int addrs);

// Sends `cmd` to every worker and returns their replies, each with a leading
// space so that Field() finds the first key. Throws on silence.
std::vector<std::string> Ask(std::vector<Worker>& ws, const std::string& cmd, int timeout_ms);

// The sum of `key` over the replies.
double Sum(const std::vector<std::string>& replies, const std::string& key);

// "prefix.reason=N" fields of the replies, summed by reason.
std::map<std::string, uint64_t> Reasons(const std::vector<std::string>& replies,
                                        const std::string& prefix);

// quit, then waits (bounded) for every worker to exit; SIGKILL if it does not.
void StopWorkers(std::vector<Worker>& ws);

// SIGKILL to every worker still running (error paths).
void KillWorkers();

// SIGALRM handler for the global --timeout-s: kills the workers, exits 3.
void OnAlarm(int);

struct OpenResult {
  uint64_t ready = 0, failed = 0;
  std::map<std::string, uint64_t> failures;
  double wall_s = 0, generator_cpu_s = 0;
  Histogram connect_us;
};

// Opens every worker's sessions and waits until each is ready (Parley:
// GUILD_CREATE received; peers: subscribed) or failed, with a progress line.
OpenResult OpenAll(std::vector<Worker>& ws, int total, const Options& o, const char* label);

}  // namespace parley::load
