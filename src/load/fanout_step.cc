#include "load/fanout_step.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "load/peer_publisher.h"
#include "load/report.h"
#include "load/server_probe.h"
#include "load/sysinfo.h"

namespace parley::load {

namespace json = boost::json;

namespace {

// Per MESSAGE_CREATE received in the step: its bytes on the wire (frame
// header included, compressed if the session is) and its payload in the
// session's encoding (decompressed).
json::object MessageBytesJson(const std::vector<std::string>& rep) {
  const double n = Sum(rep, "messages");
  if (n <= 0) return {{"messages", 0}};
  return {{"messages", n},
          {"wire_avg", std::round(Sum(rep, "wire_bytes") / n * 10) / 10},
          {"payload_avg", std::round(Sum(rep, "payload_bytes") / n * 10) / 10}};
}

}  // namespace

StepResult RunFanoutStep(const Options& o, int pid, std::vector<Worker>& ws, Publisher& pub,
                         uint64_t receivers_ready, int step, double rate,
                         const std::function<void(int64_t start_ns)>& during) {
  std::string err;
  if (!pub.Connect(&err)) throw std::runtime_error("publisher: " + err);
  const int64_t start = NowNs() + 300'000'000;
  const int64_t warm_end = start + static_cast<int64_t>(o.warmup_s * 1e9);
  Ask(ws, "step " + std::to_string(step) + " " + std::to_string(warm_end), 20000);
  const double gen0 = SelfCpuSeconds() + Sum(Ask(ws, "stats", 20000), "cpu");
  const ProcSample srv0 = SampleServer(o, pid);
  const ServerProbe probe0 = Probe(o, pid);
  std::fprintf(stderr, "step %d: %g messages/s x %llu receivers for %g s\n", step, rate,
               static_cast<unsigned long long>(receivers_ready), o.duration_s);
  std::thread side;
  if (during) side = std::thread([&during, start] { during(start); });
  Publisher::StepStats ps = pub.RunStep(step, rate, o.duration_s, start, 10, true);
  if (side.joinable()) side.join();
  const ProcSample srv1 = SampleServer(o, pid);
  const ServerProbe probe1 = Probe(o, pid);
  // Drain: wait until every open session has every acknowledged message.
  const int64_t drain_end = NowNs() + static_cast<int64_t>(o.drain_s * 1e9);
  double behind = 0;
  for (int n = 0; n < 100'000; ++n) {
    behind = Sum(Ask(ws, "behind " + std::to_string(ps.acked), 20000), "behind");
    if (behind == 0 || NowNs() > drain_end) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto rep = Ask(ws, "report " + std::to_string(ps.acked), 30000);
  const int64_t end = NowNs();
  const double gen1 = SelfCpuSeconds() + Sum(rep, "cpu");
  auto st = Ask(ws, "stats", 20000);

  StepResult row;
  for (const auto& r : rep) row.h.Decode(Field(r, "h"));
  const Histogram& h = row.h;
  row.rate = rate;
  row.sent = ps.sent;
  row.acked = ps.acked;
  row.failed = ps.failed;
  row.loss_open = static_cast<uint64_t>(Sum(rep, "loss_open"));
  row.loss = row.loss_open + static_cast<uint64_t>(Sum(rep, "loss_dropped"));
  row.dups = static_cast<uint64_t>(Sum(rep, "dups"));
  row.reorders = static_cast<uint64_t>(Sum(rep, "reorders"));
  row.lossy = static_cast<uint64_t>(Sum(rep, "lossy_sessions"));
  row.deliveries_s = Sum(rep, "measured") / (o.duration_s - o.warmup_s);
  const double srv_wall = (srv1.at_ns - srv0.at_ns) / 1e9;
  row.server_cpu = pid && srv_wall > 0 ? (srv1.cpu_s - srv0.cpu_s) / srv_wall : -1;
  const CpuShare gc = Share(o, gen1 - gen0, (end - start) / 1e9, o.procs);
  row.gen_share = gc.share;
  row.gen_saturated = gc.saturated;
  row.drained = behind == 0;
  row.pass = row.loss == 0 && row.failed == 0 && h.total() > 0 &&
             h.Percentile(99) <= static_cast<uint64_t>(o.p99_ms * 1000);
  row.json = json::object{
      {"rate_msgs_per_s", rate},
      {"receivers_ready", receivers_ready},
      {"scheduled", ps.scheduled},
      {"sent", ps.sent},
      {"acked", ps.acked},
      {"post_failures", CountsJson(ps.failures)},
      {"pipelined_sends", ps.pipelined},
      {"send_lag_max_ms", std::round(ps.max_lag_ns / 1e4) / 100},
      {"sends_late_over_1ms", ps.late_1ms},
      {"ack_latency", LatencyJson(ps.ack_us)},
      {"deliveries_per_s", std::round(row.deliveries_s)},
      {"message_create_bytes", MessageBytesJson(rep)},
      {"server_cpu_us_per_delivery", row.server_cpu > 0 && row.deliveries_s > 0
                                         ? std::round(row.server_cpu / row.deliveries_s * 1e8) / 100
                                         : -1.0},
      {"deliveries_total", Sum(rep, "delivered")},
      {"latency", LatencyJson(h)},
      {"loss_on_open_sessions", row.loss_open},
      {"loss_on_dropped_sessions", Sum(rep, "loss_dropped")},
      {"sessions_with_loss", row.lossy},
      {"extra_deliveries", Sum(rep, "extra")},
      {"duplicates", row.dups},
      {"reorders", row.reorders},
      {"sessions_alive", Sum(st, "alive")},
      {"sessions_dropped", CountsJson(Reasons(st, "d."))},
      {"seq_gaps_total", Sum(st, "seq_gaps")},
      {"drained", row.drained},
      {"server_cpu_cores", std::round(row.server_cpu * 1000) / 1000},
      {"server_breakdown", Breakdown(probe0, probe1)},
      {"generator_cpu", CpuJson(gc)},
      {"pass", row.pass}};
  std::fprintf(
      stderr, "step %d: %.0f deliveries/s, p99 %.1f ms, loss %llu, dups %llu, reorders %llu\n",
      step, row.deliveries_s, Ms(h.Percentile(99)), static_cast<unsigned long long>(row.loss),
      static_cast<unsigned long long>(row.dups), static_cast<unsigned long long>(row.reorders));
  return row;
}

std::unique_ptr<Publisher> MakePublisher(const Options& o, const SetupResult& setup) {
  if (o.protocol == Protocol::kParley)
    return std::make_unique<RestPublisher>(o.host, o.port, setup.channel_id, setup.publisher_tokens,
                                           o.conns_per_publisher, o.size);
  return std::make_unique<PeerPublisher>(o.protocol, o.host, o.port, o.size);
}

Audience OpenAudience(const Options& o, const char* label) {
  Audience a;
  a.pid = ServerPid(o);
  a.addrs = SourceAddrs(o, o.receivers);
  a.users = std::min(o.users, o.receivers);
  a.setup = SetupFor(o, a.users);
  a.workers = SpawnWorkers(o, a.setup.user_tokens, o.receivers, o.procs, a.addrs);
  a.opened = OpenAll(a.workers, o.receivers, o, label);
  a.pub = MakePublisher(o, a.setup);
  return a;
}

json::object AudienceJson(const Options& o, const Audience& a) {
  const OpenResult& r = a.opened;
  return json::object{{"requested", o.receivers},
                      {"ready", r.ready},
                      {"failed", r.failed},
                      {"failures", CountsJson(r.failures)},
                      {"users", a.users},
                      {"processes", o.procs},
                      {"threads_per_process", o.threads},
                      {"source_addresses", a.addrs},
                      {"connect_per_s", r.wall_s > 0 ? std::round(r.ready / r.wall_s) : 0.0}};
}

SetupResult SetupFor(const Options& o, int users) {
  if (o.protocol != Protocol::kParley) return {};
  std::fprintf(stderr, "setup: registering %d users + %d publishers, one guild\n", users,
               o.publishers);
  return SetupGuild(o.host, o.port, users, o.publishers);
}

}  // namespace parley::load
