// One fan-out step, shared by the fanout and storm scenarios: publish on the
// open-loop schedule, wait until every open session has every acknowledged
// message (bounded by --drain-s), and collect the receivers' counts:
// deliveries, loss (on open and on dropped sessions), duplicates, order,
// end-to-end latency, the server's and the generator's CPU.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "load/histogram.h"
#include "load/options.h"
#include "load/publisher.h"
#include "load/rest.h"
#include "load/worker_pool.h"

namespace parley::load {

struct StepResult {
  double rate = 0, deliveries_s = 0, server_cpu = -1, gen_share = 0;
  uint64_t sent = 0, acked = 0, failed = 0, loss = 0, loss_open = 0, dups = 0, reorders = 0;
  uint64_t lossy = 0;
  Histogram h;
  bool gen_saturated = false, drained = false, pass = false;
  boost::json::object json;  // the step's entry in the report
};

// `during(start_ns)`, when set, runs on its own thread while the messages
// are sent (storm: drop every session part-way). pid 0: no server CPU.
StepResult RunFanoutStep(const Options& o, int pid, std::vector<Worker>& ws, Publisher& pub,
                         uint64_t receivers_ready, int step, double rate,
                         const std::function<void(int64_t start_ns)>& during);

// The receiving side of a fan-out: Parley accounts and guild (or nothing for
// a peer), o.receivers sessions in worker processes, all opened, and the
// publisher.
struct Audience {
  int pid = 0, addrs = 0, users = 0;
  SetupResult setup;
  std::vector<Worker> workers;
  OpenResult opened;
  std::unique_ptr<Publisher> pub;
};
Audience OpenAudience(const Options& o, const char* label);
// requested, ready, failed, failures, users, processes, threads, source
// addresses, connect rate.
boost::json::object AudienceJson(const Options& o, const Audience& a);

// Parley: a RestPublisher with the set-up's publisher accounts; a peer: a
// PeerPublisher in its protocol.
std::unique_ptr<Publisher> MakePublisher(const Options& o, const SetupResult& setup);

// Accounts and guild for Parley (users receivers + o.publishers publishers);
// nothing for a peer.
SetupResult SetupFor(const Options& o, int users);

}  // namespace parley::load
