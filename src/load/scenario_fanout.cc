// fanout: K receivers subscribed to one place (Parley: members of one guild
// with GUILD_MESSAGES; peers: one topic/room), messages published on an
// open-loop schedule at each --rate step; per step: deliveries/s, end-to-end
// latency, loss, duplicates and order per session; the knee is the highest
// step with p99 <= --p99-ms and no loss.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "load/fanout_step.h"
#include "load/report.h"
#include "load/scenarios.h"
#include "load/server_probe.h"
#include "load/sysinfo.h"
#include "load/worker_pool.h"

namespace parley::load {

namespace json = boost::json;

int RunFanout(const Options& o) {
  json::object report = Header(o);
  Audience aud = OpenAudience(o, "receivers");
  const int pid = aud.pid;
  const int users = aud.users;
  auto& ws = aud.workers;
  const OpenResult& opened = aud.opened;
  Publisher& pub = *aud.pub;
  bool ok = opened.failed == 0;
  json::array steps;
  int knee = -1;
  std::vector<StepResult> rows;
  for (size_t i = 0; i < o.rates.size(); ++i) {
    StepResult row =
        RunFanoutStep(o, pid, ws, pub, opened.ready, static_cast<int>(i), o.rates[i], {});
    if (row.pass) knee = static_cast<int>(i);
    if (row.loss_open > 0 || row.dups || row.reorders) ok = false;
    steps.push_back(row.json);
    rows.push_back(std::move(row));
    if (!rows.back().pass && !o.keep_going) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  StopWorkers(ws);
  json::object res;
  res["receivers"] = AudienceJson(o, aud);
  res["publishers"] = o.publishers;
  res["conns_per_publisher"] = o.conns_per_publisher;
  res["size_bytes"] = o.size;
  res["duration_s"] = o.duration_s;
  res["warmup_excluded_s"] = o.warmup_s;
  res["p99_limit_ms"] = o.p99_ms;
  res["steps"] = steps;
  res["knee_rate_msgs_per_s"] = knee >= 0 ? json::value(o.rates[knee]) : json::value(nullptr);
  report["results"] = res;
  report["ok"] = ok;
  if (o.json) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("# parley-load fanout (%s)  %s  commit %s  %d cores, %.1f GB RAM\n",
                ProtocolName(o.protocol), std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    std::printf(
        "%llu/%d receivers ready (%d users; failed %llu: %s), %d publishers x %d conns, "
        "%d-byte content, %g s per step, first %g s of each step excluded (warm-up)\n",
        static_cast<unsigned long long>(opened.ready), o.receivers, users,
        static_cast<unsigned long long>(opened.failed), ReasonsText(opened.failures).c_str(),
        o.publishers, o.conns_per_publisher, o.size, o.duration_s, o.warmup_s);
    std::printf("%8s %7s %7s %5s %12s %8s %8s %8s %8s %8s %7s %5s %6s %7s %8s %s\n", "msgs/s",
                "sent", "acked", "fail", "deliveries/s", "p50 ms", "p95 ms", "p99 ms", "p99.9",
                "max", "loss", "dups", "reord", "srv cpu", "gen cpu", "ok");
    for (const auto& r : rows) {
      std::printf(
          "%8g %7llu %7llu %5llu %12.0f %8.2f %8.2f %8.2f %8.2f %8.2f %7llu %5llu %6llu "
          "%7.2f %7.0f%% %s%s\n",
          r.rate, static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.acked),
          static_cast<unsigned long long>(r.failed), r.deliveries_s, Ms(r.h.Percentile(50)),
          Ms(r.h.Percentile(95)), Ms(r.h.Percentile(99)), Ms(r.h.Percentile(99.9)), Ms(r.h.max()),
          static_cast<unsigned long long>(r.loss), static_cast<unsigned long long>(r.dups),
          static_cast<unsigned long long>(r.reorders), r.server_cpu, 100 * r.gen_share,
          r.pass ? "yes" : "no", r.gen_saturated ? " (generator > 80%)" : "");
    }
    std::printf("where the server's time went, per step:\n");
    for (const auto& r : rows)
      std::printf("%8g  %s\n", r.rate,
                  BreakdownText(r.json.at("server_breakdown").as_object()).c_str());
    if (knee >= 0) {
      std::printf(
          "knee: %g messages/s (%.0f deliveries/s) is the highest step with p99 <= %g ms "
          "and no loss\n",
          o.rates[knee], rows[knee].deliveries_s, o.p99_ms);
    } else {
      std::printf("knee: no step had p99 <= %g ms and no loss\n", o.p99_ms);
    }
    std::printf(
        "srv cpu: server cores busy during the sends; gen cpu: this tool's share of the "
        "%.0f cores it could use\n",
        std::min<double>(Cores(), o.procs * o.threads + 1));
  }
  if (o.record) Record(o, report);
  return ok ? 0 : 1;
}

}  // namespace parley::load
