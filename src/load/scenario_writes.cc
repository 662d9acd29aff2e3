// writes: acknowledged posts per second from N keep-alive HTTP/1.1 clients
// over C channels of one guild. Closed loop per client: client i POSTs
// /api/v10/channels/{channel i % C}/messages (--size bytes of content) as
// account i % A, the next one as soon as the previous reply is read. The first
// --warmup-s seconds are excluded; the window counts the replies read in the
// --duration seconds after it. Afterwards a durability check reads the newest
// page of every channel back (see CheckDurability).
#include <algorithm>
#include <cmath>
#include <cstdio>
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

struct Durability {
  uint64_t channels_read = 0, checked = 0, missing = 0, duplicates = 0, unacked_on_pages = 0;
  std::vector<std::string> errors;
  bool ok() const { return errors.empty() && missing == 0 && duplicates == 0; }
};

// For each channel: GET ?limit=100 (the newest page) and check that every
// acknowledged id at or above the page's oldest id is on it (when the page
// holds fewer than 100 messages, the channel has no others: then every
// acknowledged id is checked). So per channel the newest acknowledged ids,
// up to 100, are checked, and it is also checked that no id was acknowledged
// twice. Ids on the page that were never acknowledged (a post whose reply was
// lost) are counted, not failed.
Durability CheckDurability(const Options& o, const std::string& token,
                           const std::vector<std::string>& channels,
                           std::vector<std::vector<uint64_t>>& acked) {
  Durability d;
  SyncHttp http(o.host, o.port);
  for (size_t c = 0; c < channels.size(); ++c) {
    auto& ids = acked[c];
    std::sort(ids.begin(), ids.end());
    d.duplicates += static_cast<uint64_t>(ids.end() - std::unique(ids.begin(), ids.end()));
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    HttpReply r =
        http.Request("GET", "/api/v10/channels/" + channels[c] + "/messages?limit=100", token, "");
    std::vector<uint64_t> page;
    if (r.status != 200 || !json_scan::ArrayIds(r.body, &page)) {
      d.errors.push_back("channel " + channels[c] + ": " +
                         (r.status ? "status " + std::to_string(r.status) : r.error) +
                         (r.status == 200 ? " (not an array of messages)" : ""));
      continue;
    }
    ++d.channels_read;
    std::sort(page.begin(), page.end());
    const bool whole = page.size() < 100;
    const uint64_t oldest = page.empty() ? 0 : page.front();
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
      if (!whole && *it < oldest) break;
      ++d.checked;
      if (!std::binary_search(page.begin(), page.end(), *it)) ++d.missing;
    }
    for (uint64_t id : page)
      if (!std::binary_search(ids.begin(), ids.end(), id)) ++d.unacked_on_pages;
  }
  return d;
}

}  // namespace

int RunWrites(const Options& o) {
  if (o.size < 1 || o.size > 2000) {
    std::fprintf(stderr, "parley-load writes: --size 1..2000 (the API's content limit)\n");
    return 2;
  }
  if (o.duration_s <= 0 || o.warmup_s < 0) {
    std::fprintf(stderr, "parley-load writes: --duration > 0, --warmup-s >= 0\n");
    return 2;
  }
  const double drain_s = 10;
  if (o.warmup_s + o.duration_s + drain_s + 30 > o.timeout_s) {
    std::fprintf(stderr, "parley-load writes: --timeout-s %d is too short for %g + %g s (+40 s)\n",
                 o.timeout_s, o.warmup_s, o.duration_s);
    return 2;
  }
  json::object report = Header(o);
  const int pid = ServerPid(o);
  const int accounts = std::max(1, std::min(o.users, o.clients));
  std::fprintf(stderr, "setup: registering %d accounts, one guild, %d channels\n", accounts + 1,
               o.channels);
  // The guild's owner (user_tokens[0]) creates the channels; the clients post
  // as the other accounts.
  SetupResult setup = SetupGuild(o.host, o.port, 1, accounts);
  const std::string& owner = setup.user_tokens[0];
  std::vector<std::string> channels{setup.channel_id};
  {
    SyncHttp http(o.host, o.port);
    for (int i = 1; i < o.channels; ++i) {
      HttpReply r = http.Request("POST", "/api/v10/guilds/" + setup.guild_id + "/channels", owner,
                                 "{\"name\":\"w" + std::to_string(i) + "\",\"type\":0}");
      std::string id(json_scan::TopLevelString(r.body, "id"));
      if (r.status < 200 || r.status >= 300 || id.empty()) {
        throw std::runtime_error("POST /guilds/" + setup.guild_id + "/channels -> " +
                                 (r.status ? std::to_string(r.status) + " " + r.body.substr(0, 300)
                                           : "transport error: " + r.error));
      }
      channels.push_back(id);
    }
  }

  PostLoadConfig pc;
  pc.host = o.host;
  pc.port = o.port;
  pc.conns = o.clients;
  pc.threads = o.threads;
  pc.channels = channels;
  pc.tokens = setup.publisher_tokens;
  pc.size = o.size;
  const int64_t start = NowNs();
  pc.window_start_ns = start + static_cast<int64_t>(o.warmup_s * 1e9);
  pc.stop_ns = pc.window_start_ns + static_cast<int64_t>(o.duration_s * 1e9);
  pc.drain_deadline_ns = pc.stop_ns + static_cast<int64_t>(drain_s * 1e9);
  std::fprintf(stderr, "writes: %d clients, %zu channels, %g s warm-up + %g s measured\n",
               o.clients, channels.size(), o.warmup_s, o.duration_s);

  // Server and generator CPU over the window, sampled from the tick (<= 100 ms late).
  ProcSample s0, s1;
  double gen0 = 0, gen1 = 0;
  int64_t gen0_ns = 0, gen1_ns = 0, next_progress = start + 1'000'000'000;
  auto tick = [&](int64_t now, uint64_t replies, uint64_t failures) {
    if (!gen0_ns && now >= pc.window_start_ns) {
      s0 = SampleServer(o, pid);
      gen0 = SelfCpuSeconds();
      gen0_ns = NowNs();
    }
    if (gen0_ns && !gen1_ns && now >= pc.stop_ns) {
      s1 = SampleServer(o, pid);
      gen1 = SelfCpuSeconds();
      gen1_ns = NowNs();
    }
    if (now >= next_progress) {
      next_progress += 1'000'000'000;
      std::fprintf(stderr, "\r  %.0f s%s: %llu replies, %llu transport failures   ",
                   (now - start) / 1e9, now < pc.window_start_ns ? " (warm-up)" : "",
                   static_cast<unsigned long long>(replies),
                   static_cast<unsigned long long>(failures));
    }
  };
  PostLoadResult r = RunPosts(pc, tick);
  std::fprintf(stderr, "\n");
  if (!gen1_ns) {  // the run ended early (cannot happen: Run waits for stop_ns)
    gen1 = SelfCpuSeconds();
    gen1_ns = NowNs();
    s1 = SampleServer(o, pid);
  }

  std::fprintf(stderr, "durability: reading the newest page of %zu channels\n", channels.size());
  Durability dur = CheckDurability(o, owner, channels, r.ids);

  const double window_s = o.duration_s;
  const double acked_per_s = static_cast<double>(r.acked_window) / window_s;
  const double srv_window = (s1.at_ns - s0.at_ns) / 1e9;
  const double srv_cores = pid && s0.cpu_s >= 0 && s1.cpu_s >= 0 && srv_window > 0
                               ? (s1.cpu_s - s0.cpu_s) / srv_window
                               : -1;
  const CpuShare gen = Share(o, gen1 - gen0, (gen1_ns - gen0_ns) / 1e9, 1);

  json::object res;
  res["clients"] = o.clients;
  res["channels"] = static_cast<int64_t>(channels.size());
  res["accounts"] = accounts;
  res["threads"] = std::min(o.threads, o.clients);
  res["size_bytes"] = o.size;
  res["loop"] = "closed: one request in flight per keep-alive connection";
  res["warmup_excluded_s"] = o.warmup_s;
  res["measured_window_s"] = window_s;
  res["acked_per_s"] = std::round(acked_per_s);
  res["acked_in_window"] = r.acked_window;
  res["acked_total"] = r.acked_total;
  res["replies_total"] = r.replies;
  res["failed_total"] = r.failed;
  res["failures"] = CountsJson(r.failures);
  res["ack_latency"] = LatencyJson(r.window_us);
  res["ack_latency_note"] = "request written -> whole reply read, replies read in the window";
  if (srv_cores >= 0) {
    res["server_cpu"] = json::object{{"pid", pid},
                                     {"window_s", std::round(srv_window * 100) / 100},
                                     {"cores", std::round(srv_cores * 100) / 100}};
  } else {
    res["server_cpu"] = nullptr;
  }
  const GenCpu io = IoThreadLoad(gen.cpu_s, gen.wall_s, std::min(o.threads, o.clients));
  {
    json::object g = CpuJson(gen);
    g["cores"] = std::round(io.cores * 100) / 100;
    g["share_per_io_thread"] = std::round(io.per_io_thread * 1000) / 1000;
    g["io_threads_over_80_percent"] = io.io_saturated;
    res["generator_cpu"] = g;
  }
  res["connects"] = r.run.connects;
  res["drained"] = r.run.drained;
  json::array errs;
  for (const auto& e : dur.errors) errs.push_back(json::value(e));
  res["durability"] = json::object{
      {"method",
       "after the run, GET /channels/{id}/messages?limit=100 per channel on the running server; "
       "every acknowledged id >= the page's oldest id (all of them when the page is not full) "
       "must be on it; ids acknowledged twice are counted"},
      {"acked_total", r.acked_total},
      {"channels_read", dur.channels_read},
      {"acked_ids_checked", dur.checked},
      {"missing", dur.missing},
      {"acked_twice", dur.duplicates},
      {"unacknowledged_on_pages", dur.unacked_on_pages},
      {"errors", errs},
      {"ok", dur.ok()}};
  report["results"] = res;
  const bool ok = r.failed == 0 && r.acked_window > 0 && dur.ok() && r.run.drained;
  report["ok"] = ok;

  if (o.json) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("# parley-load writes  %s  commit %s  %d cores, %.1f GB RAM\n",
                std::string(report["date"].as_string()).c_str(),
                std::string(report["commit"].as_string()).c_str(), Cores(), RamBytes() / 1e9);
    std::printf(
        "setup        %d closed-loop keep-alive clients over %zu channels of one guild, %d "
        "accounts, %d-byte content, %d generator thread(s)\n",
        o.clients, channels.size(), accounts, o.size, std::min(o.threads, o.clients));
    std::printf("window       %g s measured after %g s of warm-up (excluded)\n", window_s,
                o.warmup_s);
    std::printf("acked        %.0f posts/s (%llu in the window; %llu in the whole run)\n",
                acked_per_s, static_cast<unsigned long long>(r.acked_window),
                static_cast<unsigned long long>(r.acked_total));
    std::printf("ack latency  p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
                Ms(r.window_us.Percentile(50)), Ms(r.window_us.Percentile(95)),
                Ms(r.window_us.Percentile(99)), Ms(r.window_us.Percentile(99.9)),
                Ms(r.window_us.max()));
    std::printf("failures     %llu: %s%s\n", static_cast<unsigned long long>(r.failed),
                ReasonsText(r.failures).c_str(),
                r.run.drained ? "" : " (replies missing at the drain deadline)");
    if (srv_cores >= 0) {
      std::printf("server CPU   %.2f cores busy (pid %d, over %.1f s)\n", srv_cores, pid,
                  srv_window);
    } else {
      std::printf("server CPU   unknown (%s)\n",
                  pid ? "its /proc/PID/stat was not readable" : "no pid: give --pid");
    }
    std::printf(
        "generator    %.0f%% of its %.0f usable cores (%.2f cores, %.0f%% per io thread)%s\n",
        100 * gen.share, gen.usable_cores, io.cores, 100 * io.per_io_thread,
        gen.saturated || io.io_saturated
            ? "  ** over 80%: the generator may be the bottleneck (--threads) **"
            : "");
    std::printf(
        "durability   %s: %llu newest acknowledged ids of %llu/%zu channels read back "
        "(?limit=100), %llu missing, %llu acknowledged twice, %llu unacknowledged on the "
        "pages%s%s\n",
        dur.ok() ? "ok" : "FAILED", static_cast<unsigned long long>(dur.checked),
        static_cast<unsigned long long>(dur.channels_read), channels.size(),
        static_cast<unsigned long long>(dur.missing),
        static_cast<unsigned long long>(dur.duplicates),
        static_cast<unsigned long long>(dur.unacked_on_pages), dur.errors.empty() ? "" : "; ",
        dur.errors.empty() ? "" : dur.errors.front().c_str());
    std::printf("note         server and generator share this machine's %d cores\n", Cores());
  }
  if (o.record) Record(o, report);
  return ok ? 0 : 1;
}

}  // namespace parley::load
