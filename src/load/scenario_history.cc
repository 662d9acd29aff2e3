// history: page latency of GET /channels/{id}/messages in before / after /
// around mode with M messages stored in the channel.
//
// The channel: without --channel, one guild is set up and its channel filled
// with --messages M posts through the API (closed loop over --clients
// connections, each post acknowledged before the next; bounded by
// --timeout-s). For millions of messages that is slow: the documented bulk
// path is `parley fill` into the stopped server's data directory (see
// bench/rest.sh history), then restart the server and give --channel ID
// --token T here.
//
// Anchors: the newest page (limit=1) and the oldest (after=0&limit=1) give
// the id range; snowflakes increase with time but are not dense, so anchors
// are drawn uniformly between the two ids (as bench/wrk/history.lua does).
// Per mode: --warmup-s of closed-loop GETs excluded, then --duration seconds
// measured from --conns keep-alive connections; each reply must be 200 and a
// JSON array of at most --limit messages, newest first, on the right side of
// the anchor (anything else counts as a failure).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "load/http_pool.h"
#include "load/report.h"
#include "load/rest.h"
#include "load/scenarios.h"
#include "load/sysinfo.h"

namespace parley::load {

namespace json = boost::json;

namespace {

constexpr double kDrainS = 10;

// The one id of GET ...?<query> (limit=1); throws when the channel has none.
uint64_t OneId(SyncHttp& http, const std::string& channel, const std::string& token,
               const std::string& query) {
  HttpReply r =
      http.Request("GET", "/api/v10/channels/" + channel + "/messages?" + query, token, "");
  std::vector<uint64_t> ids;
  if (r.status != 200 || !json_scan::ArrayIds(r.body, &ids)) {
    throw std::runtime_error("GET /channels/" + channel + "/messages?" + query + " -> " +
                             (r.status ? std::to_string(r.status) + " " + r.body.substr(0, 300)
                                       : "transport error: " + r.error));
  }
  if (ids.empty()) throw std::runtime_error("channel " + channel + " has no messages");
  return ids.front();
}

struct ModeResult {
  std::string mode;
  uint64_t pages = 0, messages = 0, empty = 0, failed = 0, connects = 0;
  std::map<std::string, uint64_t> failures;  // warm-up included
  Histogram h;
  double srv_cores = -1, srv_window_s = 0;
  CpuShare gen;
  bool drained = true;
};

// Why a page is wrong ("" when it is fine); *n: its messages.
const char* CheckPage(const HttpDone& d, const std::string& mode, uint64_t anchor, int limit,
                      std::vector<uint64_t>* ids, size_t* n) {
  if (!d.status) return d.error;
  if (d.status != 200) return nullptr;  // the caller names it http-<status>
  ids->clear();
  if (!json_scan::ArrayIds(d.body, ids)) return "not-a-message-array";
  *n = ids->size();
  if (ids->size() > static_cast<size_t>(limit)) return "over-limit";
  for (size_t i = 1; i < ids->size(); ++i)
    if ((*ids)[i] >= (*ids)[i - 1]) return "not-newest-first";
  if (ids->empty()) return "";
  if (mode == "before" && ids->front() >= anchor) return "wrong-side-of-anchor";
  if (mode == "after" && ids->back() <= anchor) return "wrong-side-of-anchor";
  if (mode == "around") {
    size_t newer = static_cast<size_t>(
        std::count_if(ids->begin(), ids->end(), [&](uint64_t id) { return id > anchor; }));
    if (newer > static_cast<size_t>(limit / 2) ||
        ids->size() - newer > static_cast<size_t>((limit + 1) / 2))
      return "wrong-side-of-anchor";
  }
  return "";
}

ModeResult RunMode(const Options& o, int pid, const std::string& mode, const std::string& channel,
                   const std::string& token, uint64_t lo, uint64_t hi) {
  struct PerThread {
    std::mt19937_64 rng;
    uint64_t pages = 0, messages = 0, empty = 0, failed = 0;
    std::map<std::string, uint64_t> failures;
    Histogram h;
    std::vector<uint64_t> ids;
  };
  const int nt = std::max(1, std::min(o.threads, o.conns));
  std::random_device rd;
  std::vector<std::unique_ptr<PerThread>> per;
  for (int i = 0; i < nt; ++i) {
    per.push_back(std::make_unique<PerThread>());
    per.back()->rng.seed((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(i));
  }
  // The request around its anchor, formatted once: head + anchor + tail.
  const std::string target = "/api/v10/channels/" + channel +
                             "/messages?limit=" + std::to_string(o.page_limit) + "&" + mode + "=";
  const std::string whole = HttpRequestBytes("GET", o.host, o.port, target + "\x01", token, "");
  const size_t cut = whole.find('\x01');
  const std::string head = whole.substr(0, cut), tail = whole.substr(cut + 1);
  std::vector<uint64_t> anchors(static_cast<size_t>(o.conns));  // slot c: only conn c's thread

  const int64_t start = NowNs();
  const int64_t warm_end = start + static_cast<int64_t>(o.warmup_s * 1e9);
  const int64_t stop = warm_end + static_cast<int64_t>(o.duration_s * 1e9);
  auto next = [&](int t, int conn, std::string* req) {
    uint64_t a = lo + per[static_cast<size_t>(t)]->rng() % (hi - lo + 1);
    anchors[static_cast<size_t>(conn)] = a;
    req->assign(head);
    req->append(std::to_string(a));
    req->append(tail);
    return true;
  };
  auto done = [&](int t, int conn, const HttpDone& d) {
    PerThread& p = *per[static_cast<size_t>(t)];
    size_t n = 0;
    const char* why =
        CheckPage(d, mode, anchors[static_cast<size_t>(conn)], o.page_limit, &p.ids, &n);
    if (why && !*why) {
      if (d.done_ns >= warm_end && d.done_ns < stop) {
        ++p.pages;
        p.messages += n;
        if (!n) ++p.empty;
        p.h.Record(static_cast<uint64_t>(std::max<int64_t>(0, d.done_ns - d.sent_ns) / 1000));
      }
      return;
    }
    ++p.failed;
    ++p.failures[why ? std::string(why) : "http-" + std::to_string(d.status)];
  };
  ClosedLoopConfig lc;
  lc.host = o.host;
  lc.port = o.port;
  lc.conns = o.conns;
  lc.threads = nt;
  lc.reply_timeout_ms = 30'000;
  ClosedLoop loop(lc, next, done);

  ProcSample s0, s1;
  double gen0 = 0, gen1 = 0;
  int64_t gen0_ns = 0, gen1_ns = 0, next_progress = start + 1'000'000'000;
  auto tick = [&](int64_t now, uint64_t replies, uint64_t failures) {
    if (!gen0_ns && now >= warm_end) {
      s0 = SampleServer(o, pid);
      gen0 = SelfCpuSeconds();
      gen0_ns = NowNs();
    }
    if (gen0_ns && !gen1_ns && now >= stop) {
      s1 = SampleServer(o, pid);
      gen1 = SelfCpuSeconds();
      gen1_ns = NowNs();
    }
    if (now >= next_progress) {
      next_progress += 1'000'000'000;
      std::fprintf(stderr, "\r  %s: %.0f s%s, %llu replies, %llu transport failures   ",
                   mode.c_str(), (now - start) / 1e9, now < warm_end ? " (warm-up)" : "",
                   static_cast<unsigned long long>(replies),
                   static_cast<unsigned long long>(failures));
    }
  };
  auto run = loop.Run(stop, stop + static_cast<int64_t>(kDrainS * 1e9), tick);
  std::fprintf(stderr, "\n");
  if (!gen1_ns) {
    s1 = SampleServer(o, pid);
    gen1 = SelfCpuSeconds();
    gen1_ns = NowNs();
  }
  ModeResult m;
  m.mode = mode;
  m.connects = run.connects;
  m.drained = run.drained;
  for (auto& p : per) {
    m.pages += p->pages;
    m.messages += p->messages;
    m.empty += p->empty;
    m.failed += p->failed;
    m.h.Add(p->h);
    for (const auto& [k, v] : p->failures) m.failures[k] += v;
  }
  m.srv_window_s = (s1.at_ns - s0.at_ns) / 1e9;
  if (pid && s0.cpu_s >= 0 && s1.cpu_s >= 0 && m.srv_window_s > 0)
    m.srv_cores = (s1.cpu_s - s0.cpu_s) / m.srv_window_s;
  m.gen = Share(o, gen1 - gen0, (gen1_ns - gen0_ns) / 1e9, 1);
  return m;
}

}  // namespace

int RunHistory(const Options& o) {
  if (o.duration_s <= 0 || o.warmup_s < 0 || o.size < 1 || o.size > 2000) {
    std::fprintf(stderr, "parley-load history: --duration > 0, --warmup-s >= 0, --size 1..2000\n");
    return 2;
  }
  if (o.channel_id.empty() != o.token.empty()) {
    std::fprintf(stderr, "parley-load history: --channel and --token go together\n");
    return 2;
  }
  const int64_t run_start = NowNs();
  // What the paging needs of --timeout-s (the global alarm): the fill gets the rest.
  const double paging_s =
      static_cast<double>(o.modes.size()) * (o.warmup_s + o.duration_s + kDrainS) + 30;
  if (paging_s + 10 > o.timeout_s) {
    std::fprintf(stderr, "parley-load history: --timeout-s %d is too short for the %zu modes\n",
                 o.timeout_s, o.modes.size());
    return 2;
  }
  json::object report = Header(o);
  const int pid = ServerPid(o);
  std::string channel = o.channel_id, token = o.token;
  bool ok = true, fill_complete = true;
  json::value fill_json = nullptr;
  PostLoadResult fill;
  double fill_s = 0;
  const int accounts = std::max(1, std::min(o.users, o.clients));
  if (channel.empty()) {
    std::fprintf(stderr, "setup: registering %d accounts, one guild\n", accounts + 1);
    SetupResult setup = SetupGuild(o.host, o.port, 1, accounts);
    channel = setup.channel_id;
    token = setup.user_tokens[0];
    const int64_t fill_deadline = run_start + static_cast<int64_t>((o.timeout_s - paging_s) * 1e9);
    const int64_t fill_start = NowNs();
    if (fill_deadline - fill_start < 15'000'000'000) {
      std::fprintf(stderr, "parley-load history: no time left for the fill: raise --timeout-s\n");
      return 2;
    }
    std::fprintf(stderr,
                 "fill: %lld messages through the API, %d connections, at most %.0f s (use "
                 "`parley fill` + --channel/--token for millions)\n",
                 o.messages, o.clients, (fill_deadline - fill_start) / 1e9 - kDrainS);
    PostLoadConfig pc;
    pc.host = o.host;
    pc.port = o.port;
    pc.conns = o.clients;
    pc.threads = o.threads;
    pc.channels = {channel};
    pc.tokens = setup.publisher_tokens;
    pc.size = o.size;
    pc.max_acked = o.messages;
    pc.keep_ids = false;
    pc.window_start_ns = fill_start;
    pc.stop_ns = fill_deadline - static_cast<int64_t>(kDrainS * 1e9);
    pc.drain_deadline_ns = fill_deadline;
    int64_t next_progress = fill_start + 1'000'000'000;
    auto tick = [&](int64_t now, uint64_t replies, uint64_t failures) {
      if (now < next_progress) return;
      next_progress += 1'000'000'000;
      const double s = (now - fill_start) / 1e9;
      std::fprintf(stderr,
                   "\r  fill: %.0f s, %llu/%lld replies (%.0f/s), %llu transport failures   ", s,
                   static_cast<unsigned long long>(replies), o.messages, s > 0 ? replies / s : 0.0,
                   static_cast<unsigned long long>(failures));
    };
    fill = RunPosts(pc, tick);
    std::fprintf(stderr, "\n");
    fill_s = (fill.run.end_ns - fill_start) / 1e9;
    const bool complete = fill.acked_total >= static_cast<uint64_t>(o.messages);
    fill_complete = complete;
    if (!complete || fill.failed) ok = false;
    fill_json = json::object{
        {"method", "POST /channels/{id}/messages, closed loop (one in flight per connection)"},
        {"connections", o.clients},
        {"accounts", accounts},
        {"size_bytes", o.size},
        {"requested", o.messages},
        {"acked", fill.acked_total},
        {"failed", fill.failed},
        {"failures", CountsJson(fill.failures)},
        {"seconds", std::round(fill_s * 100) / 100},
        {"acked_per_s", fill_s > 0 ? std::round(fill.acked_total / fill_s) : 0.0},
        {"complete", complete}};
    std::fprintf(
        stderr, "fill: %llu/%lld messages acknowledged in %.2f s (%.0f/s), %llu failed%s\n",
        static_cast<unsigned long long>(fill.acked_total), o.messages, fill_s,
        fill_s > 0 ? fill.acked_total / fill_s : 0.0, static_cast<unsigned long long>(fill.failed),
        complete ? "" : ": INCOMPLETE (bounded by --timeout-s), not paging");
    std::fprintf(stderr, "fill: to page this channel again: --channel %s --token %s\n",
                 channel.c_str(), token.c_str());
  }

  json::object res;
  res["channel"] = channel;
  res["messages"] =
      o.channel_id.empty()
          ? json::object{{"count", fill.acked_total},
                         {"source", "filled by this run through the API"}}
          : json::object{{"count", o.messages},
                         {"source",
                          "--channel given: --messages as declared, not checked (bulk path: "
                          "`parley fill` into the stopped server's data dir, see bench/rest.sh "
                          "history)"}};
  res["fill"] = fill_json;
  res["limit"] = o.page_limit;
  res["conns"] = o.conns;
  res["threads"] = std::min(o.threads, o.conns);
  res["warmup_excluded_s_per_mode"] = o.warmup_s;
  res["duration_s_per_mode"] = o.duration_s;
  res["latency_note"] = "request written -> whole reply read; replies read in the measured window";
  res["anchors"] = "uniform random ids between the oldest and the newest message id";
  std::vector<ModeResult> rows;
  uint64_t lo = 0, hi = 0;
  if (fill_complete) {
    SyncHttp http(o.host, o.port);
    hi = OneId(http, channel, token, "limit=1");
    lo = OneId(http, channel, token, "after=0&limit=1");
    if (lo > hi) std::swap(lo, hi);
    res["id_range"] = json::object{{"min", std::to_string(lo)}, {"max", std::to_string(hi)}};
    json::array modes;
    for (const auto& mode : o.modes) {
      ModeResult m = RunMode(o, pid, mode, channel, token, lo, hi);
      if (m.failed || !m.pages || !m.drained) ok = false;
      const double pps = static_cast<double>(m.pages) / o.duration_s;
      json::object e{
          {"mode", m.mode},
          {"pages", m.pages},
          {"pages_per_s", std::round(pps)},
          {"messages", m.messages},
          {"messages_per_page", m.pages ? std::round(100.0 * m.messages / m.pages) / 100 : 0.0},
          {"empty_pages", m.empty},
          {"latency", LatencyJson(m.h)},
          {"failed", m.failed},
          {"failures", CountsJson(m.failures)},
          {"connects", m.connects},
          {"drained", m.drained},
          {"generator_cpu", CpuJson(m.gen)}};
      const GenCpu io = IoThreadLoad(m.gen.cpu_s, m.gen.wall_s, std::min(o.threads, o.conns));
      e["generator_cpu"].as_object()["cores"] = std::round(io.cores * 100) / 100;
      e["generator_cpu"].as_object()["share_per_io_thread"] =
          std::round(io.per_io_thread * 1000) / 1000;
      e["generator_cpu"].as_object()["io_threads_over_80_percent"] = io.io_saturated;
      if (m.srv_cores >= 0) {
        e["server_cpu"] = json::object{{"pid", pid},
                                       {"window_s", std::round(m.srv_window_s * 100) / 100},
                                       {"cores", std::round(m.srv_cores * 100) / 100}};
      } else {
        e["server_cpu"] = nullptr;
      }
      modes.push_back(std::move(e));
      rows.push_back(std::move(m));
    }
    res["modes"] = modes;
  }
  report["results"] = res;
  report["ok"] = ok;

  if (o.json) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("# parley-load history  %s  commit %s  %d cores, %.1f GB RAM\n",
                std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    if (o.channel_id.empty()) {
      std::printf(
          "channel  %s: %llu/%lld messages filled through the API in %.2f s (%.0f/s; %d "
          "connections, %d accounts, %d-byte content; %llu failed: %s)\n",
          channel.c_str(), static_cast<unsigned long long>(fill.acked_total), o.messages, fill_s,
          fill_s > 0 ? fill.acked_total / fill_s : 0.0, o.clients, accounts, o.size,
          static_cast<unsigned long long>(fill.failed), ReasonsText(fill.failures).c_str());
    } else {
      std::printf(
          "channel  %s given (--messages %lld as declared, not checked; bulk fill: `parley fill` "
          "on the stopped server, see bench/rest.sh history)\n",
          channel.c_str(), o.messages);
    }
    if (!rows.empty()) {
      std::printf("ids      %llu .. %llu; anchors uniform in that range\n",
                  static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
      std::printf(
          "paging   limit=%d, %d closed-loop keep-alive connections, %d thread(s); per mode "
          "%g s warm-up (excluded) + %g s measured\n",
          o.page_limit, o.conns, std::min(o.threads, o.conns), o.warmup_s, o.duration_s);
      std::printf("%-7s %8s %8s %9s %7s %7s %7s %7s %8s %5s %8s %8s\n", "mode", "pages/s", "pages",
                  "msgs/page", "p50 ms", "p95 ms", "p99 ms", "p99.9", "max ms", "fail", "srv cpu",
                  "gen cpu");
      for (const auto& m : rows) {
        const GenCpu io = IoThreadLoad(m.gen.cpu_s, m.gen.wall_s, std::min(o.threads, o.conns));
        std::printf(
            "%-7s %8.0f %8llu %9.1f %7.2f %7.2f %7.2f %7.2f %8.2f %5llu %8.2f %7.0f%%%s\n",
            m.mode.c_str(), m.pages / o.duration_s, static_cast<unsigned long long>(m.pages),
            m.pages ? static_cast<double>(m.messages) / m.pages : 0.0, Ms(m.h.Percentile(50)),
            Ms(m.h.Percentile(95)), Ms(m.h.Percentile(99)), Ms(m.h.Percentile(99.9)), Ms(m.h.max()),
            static_cast<unsigned long long>(m.failed), m.srv_cores, 100 * m.gen.share,
            m.gen.saturated || io.io_saturated ? " (generator > 80%: --threads)" : "");
      }
      for (const auto& m : rows) {
        if (m.failed || !m.drained)
          std::printf("failures %s: %s%s\n", m.mode.c_str(), ReasonsText(m.failures).c_str(),
                      m.drained ? "" : " (replies missing at the drain deadline)");
      }
      std::printf(
          "srv cpu: server cores busy in the window (-1: unknown, give --pid); gen cpu: this "
          "tool's share of its %.0f usable cores (flagged when it or one io thread is over "
          "80%%); both share this machine's %d cores\n",
          rows.front().gen.usable_cores, Cores());
    } else {
      std::printf("not paged: the fill did not complete\n");
    }
  }
  if (o.record) Record(o, report);
  return ok ? 0 : 1;
}

}  // namespace parley::load
