// parley-load's command line: one Options for every scenario.
#pragma once

#include <string>
#include <vector>

#include "encoding/encoding.h"
#include "load/protocol.h"

namespace parley::load {

struct Options {
  std::string scenario;  // idle, fanout, storm, writes, history
  Protocol protocol = Protocol::kParley;
  std::string host = "127.0.0.1";
  int port = 0;
  int pid = 0;                 // the server (--pid, else the listener on --port)
  std::vector<int> more_pids;  // the rest of it (--pid A,B,...): other nodes, nginx, databases
  int threads = 1, procs = 1, source_addrs = -1, users = 100, timeout_s = 300;
  int concurrency = 64, session_timeout_s = 60, intents = 1 | (1 << 9);
  // Parley's gateway sessions: encoding=, compress= ("" none).
  encoding::Encoding encoding = encoding::Encoding::kJson;
  std::string compress;
  bool json = false, record = true;
  std::string results_dir;
  // idle
  int sessions = 0, warmup = 500;
  double settle_s = 10, idle_s = 30;
  // fanout (and storm, which publishes like a one-step fanout)
  int receivers = 0, size = 100, publishers = 4, conns_per_publisher = 8;
  std::vector<double> rates;
  double duration_s = 10, warmup_s = 2, drain_s = 10, p99_ms = 50;
  bool keep_going = false;
  // storm: every session drops (TCP reset) at drop_at_s into the step and resumes;
  // with kill_pid, that process (a node of a cluster) is killed with -9 at
  // drop_at_s instead, and the sessions whose connection it ends resume as
  // a real client does (reconnect at once, Resume)
  double drop_at_s = 3, resume_limit_s = 5;
  int kill_pid = 0;
  // writes: closed-loop posters
  int clients = 64, channels = 8;
  // history
  long long messages = 1'000'000;
  int conns = 16, page_limit = 50;
  std::vector<std::string> modes{"before", "after", "around"};
  std::string channel_id;  // history: page this channel (skip the fill)
  std::string token;       // history: with this token (with --channel)
  std::string command;     // the whole command line, for the report
};

// Parses argv (argv[1] is the scenario); prints usage and exits 2 on an error.
Options ParseOptions(int argc, char** argv);

}  // namespace parley::load
