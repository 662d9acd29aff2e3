// storm: N identified sessions receive a fan-out at --rate; --drop-at-s into
// the step every session's TCP connection ends at once with a reset (as when
// a network path dies) and reconnects with Resume (op 6, the last `s` it
// saw), at most --concurrency handshakes in flight per thread. Reported: time
// from the drop until the last RESUMED, resume latency percentiles, sessions
// that could not resume (by reason), and every message's delivery: loss,
// duplicates and order per session (the server must replay exactly what each
// session missed).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "load/fanout_step.h"
#include "load/report.h"
#include "load/scenarios.h"
#include "load/sysinfo.h"
#include "load/worker_pool.h"

namespace parley::load {

namespace json = boost::json;

int RunStorm(const Options& o) {
  json::object report = Header(o);
  Audience aud = OpenAudience(o, "sessions");
  const int pid = aud.pid;
  auto& ws = aud.workers;
  const OpenResult& opened = aud.opened;
  Publisher& pub = *aud.pub;

  int64_t drop_ns = 0;
  auto drop = [&](int64_t start_ns) {
    const int64_t at = start_ns + static_cast<int64_t>(o.drop_at_s * 1e9);
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, at - NowNs())));
    drop_ns = NowNs();
    if (o.kill_pid != 0) {
      std::fprintf(stderr, "\nstorm: kill -9 %d (its sessions resume elsewhere)\n", o.kill_pid);
      Ask(ws, "mark", 20000);
      ::kill(o.kill_pid, SIGKILL);
      return;
    }
    std::fprintf(stderr, "\nstorm: dropping every session (TCP reset)\n");
    Ask(ws, "drop", 20000);
  };
  StepResult step = RunFanoutStep(o, pid, ws, pub, opened.ready, 0, o.rates[0], drop);
  // Resumes that were still going when the step's drain ended get their own bound.
  const int64_t limit = drop_ns + static_cast<int64_t>((o.session_timeout_s + 5) * 1e9);
  std::vector<std::string> st;
  for (int i = 0; i < 100'000; ++i) {
    st = Ask(ws, "stats", 20000);
    if (Sum(st, "resuming") == 0 || NowNs() > limit) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Histogram resume_us;
  for (const auto& r : Ask(ws, "resume", 20000)) resume_us.Decode(r.substr(r.find("resume ") + 7));
  StopWorkers(ws);

  const double dropped = Sum(st, "storm_dropped"), resumed = Sum(st, "resumed");
  double last = 0;
  for (const auto& s : st) last = std::max(last, NumField(s, "last_resumed"));
  const double all_resumed_s = resumed > 0 ? (last - static_cast<double>(drop_ns)) / 1e9 : -1;
  std::map<std::string, uint64_t> resume_failures;
  for (const auto& [k, v] : Reasons(st, "d."))
    if (k.rfind("resume-", 0) == 0) resume_failures[k.substr(7)] += v;
  const bool all_back = dropped > 0 && resumed == dropped;
  const bool ok = opened.failed == 0 && all_back && step.loss == 0 && step.dups == 0 &&
                  step.reorders == 0 && step.failed == 0;
  const bool within = all_back && all_resumed_s <= o.resume_limit_s;

  json::object res;
  res["sessions"] = AudienceJson(o, aud);
  res["drop_at_s"] = o.drop_at_s;
  res["reconnect_concurrency_per_thread"] = o.concurrency;
  res["storm"] = json::object{{"dropped", dropped},
                              {"resumed", resumed},
                              {"not_resumed", CountsJson(resume_failures)},
                              {"still_resuming", Sum(st, "resuming")},
                              {"all_resumed_s", std::round(all_resumed_s * 1000) / 1000},
                              {"resume_latency", LatencyJson(resume_us)},
                              {"resume_limit_s", o.resume_limit_s},
                              {"within_limit", within}};
  res["step"] = step.json;
  report["results"] = res;
  report["ok"] = ok;
  if (o.json) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("# parley-load storm  %s  commit %s  %d cores, %.1f GB RAM\n",
                std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    std::printf("sessions   %llu/%d identified; failed %llu: %s\n",
                static_cast<unsigned long long>(opened.ready), o.receivers,
                static_cast<unsigned long long>(opened.failed),
                ReasonsText(opened.failures).c_str());
    std::printf(
        "storm      %.0f dropped at %.1f s, %.0f resumed in %.2f s (limit %g s: %s); resume "
        "p50 %.1f ms, p99 %.1f ms, max %.1f ms; not resumed: %s\n",
        dropped, o.drop_at_s, resumed, all_resumed_s, o.resume_limit_s, within ? "yes" : "no",
        Ms(resume_us.Percentile(50)), Ms(resume_us.Percentile(99)), Ms(resume_us.max()),
        ReasonsText(resume_failures).c_str());
    std::printf(
        "messages   %g/s for %g s: %llu sent, %llu acked, %llu failed; delivered per session: "
        "loss %llu, duplicates %llu, reorders %llu; latency p50 %.1f ms, p99 %.1f ms, max %.1f "
        "ms\n",
        o.rates[0], o.duration_s, static_cast<unsigned long long>(step.sent),
        static_cast<unsigned long long>(step.acked), static_cast<unsigned long long>(step.failed),
        static_cast<unsigned long long>(step.loss), static_cast<unsigned long long>(step.dups),
        static_cast<unsigned long long>(step.reorders), Ms(step.h.Percentile(50)),
        Ms(step.h.Percentile(99)), Ms(step.h.max()));
    std::printf("result     %s\n",
                ok ? "ok: every session resumed, nothing lost" : "NOT ok: see the lines above");
  }
  if (o.record) Record(o, report);
  return ok ? 0 : 1;
}

}  // namespace parley::load
