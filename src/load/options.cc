#include "load/options.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>

namespace parley::load {
namespace {

constexpr const char* kUsage =
    "usage: parley-load idle --sessions N --url http://127.0.0.1:PORT [options]\n"
    "       parley-load fanout --receivers K --rate R[,R2,...] --url URL [options]\n"
    "       parley-load storm --receivers N --rate R --url URL [options]\n"
    "       parley-load writes --clients N --channels C --url URL [options]\n"
    "       parley-load history --messages M --url URL [options]\n"
    "common: --protocol parley|ws|socketio|nats|redis [parley] (idle, fanout)\n"
    "        --pid PID[,PID...] (a cluster: CPU summed over every process given)\n"
    "        --threads T [1]  --procs P [1]  --source-addrs K [auto]\n"
    "        --users U [100]  --concurrency C [64 handshakes per thread]\n"
    "        --session-timeout-s S [60]  --intents N [513]  --timeout-s S [300]\n"
    "        --encoding json|etf|msgpack [json]  --compress zlib-stream|zstd-stream\n"
    "          (Parley's gateway sessions: the payload encoding, transport compression)\n"
    "        --json  --results-dir DIR [<repo>/bench/results]  --no-record\n"
    "idle:   --warmup N [500]  --settle-s S [10]  --idle-s S [30]\n"
    "fanout: --duration S [10]  --size B [100]  --publishers P [4]\n"
    "        --conns-per-publisher C [8]  --warmup-s S [2]  --drain-s S [10]\n"
    "        --p99-ms MS [50]  --keep-going\n"
    "storm:  fanout's options (one --rate) + --drop-at-s S [3] --resume-limit-s S [5]\n"
    "        --kill-pid P (kill -9 P at --drop-at-s instead; sessions it ends resume)\n"
    "writes: --clients N [64] --channels C [8] --duration S [10] --warmup-s S [2] --size B\n"
    "history: --messages M [1000000] --conns C [16] --limit L [50]\n"
    "        --clients N --size B (the fill through the API)\n"
    "        --modes before,after,around  --duration S [10 per mode] --warmup-s S\n"
    "        --channel ID --token T (page an already filled channel)\n"
    "The server must run with --ratelimit-global 0 --ratelimit-scale 1000000\n"
    "(and --password-cost min for a quick set-up).\n";

// --help / -h: the usage on stdout, exit 0.
[[noreturn]] void Help() {
  std::fputs(kUsage, stdout);
  std::exit(0);
}

// A wrong command line: one line on stderr saying what was wrong, exit 2
// (with no arguments at all: the usage on stderr, exit 2).
[[noreturn]] void Usage(const std::string& error) {
  if (error.empty()) {
    std::fputs(kUsage, stderr);
  } else {
    std::fprintf(stderr, "parley-load: %s (parley-load --help for usage)\n", error.c_str());
  }
  std::exit(2);
}

}  // namespace

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i) o.command += " ";
    o.command += a.find(' ') == std::string::npos ? a : "'" + a + "'";
  }
  if (argc < 2) Usage("");
  o.scenario = argv[1];
  if (o.scenario == "--help" || o.scenario == "-h") Help();
  static const char* kScenarios[] = {"idle", "fanout", "storm", "writes", "history"};
  if (std::find(std::begin(kScenarios), std::end(kScenarios), o.scenario) == std::end(kScenarios))
    Usage("unknown scenario " + o.scenario + " (idle, fanout, storm, writes or history)");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    auto num = [&]() -> double {
      std::string v = val();
      try {
        return std::stod(v);
      } catch (...) {
        Usage(a + " wants a number, got " + v);
      }
    };
    if (a == "--url") {
      std::string u = val();
      if (u.rfind("http://", 0) == 0) u = u.substr(7);
      u = u.substr(0, u.find('/'));
      size_t c = u.rfind(':');
      if (c == std::string::npos) Usage("--url wants http://HOST:PORT");
      o.host = u.substr(0, c);
      if (o.host == "localhost") o.host = "127.0.0.1";
      o.port = std::atoi(u.substr(c + 1).c_str());
    } else if (a == "--protocol") {
      std::string v = val();
      auto p = ParseProtocol(v);
      if (!p) Usage("--protocol: parley, ws, socketio, nats or redis, not " + v);
      o.protocol = *p;
    } else if (a == "--encoding") {
      std::string v = val();
      if (!encoding::ParseEncoding(v, &o.encoding))
        Usage("--encoding: json, etf or msgpack, not " + v);
    } else if (a == "--compress") {
      o.compress = val();
      if (o.compress != "zlib-stream" && o.compress != "zstd-stream")
        Usage("--compress: zlib-stream or zstd-stream, not " + o.compress);
    } else if (a == "--drop-at-s") {
      o.drop_at_s = num();
    } else if (a == "--resume-limit-s") {
      o.resume_limit_s = num();
    } else if (a == "--kill-pid") {
      o.kill_pid = static_cast<int>(num());
      if (o.kill_pid <= 0) Usage("--kill-pid wants a process id");
    } else if (a == "--clients") {
      o.clients = static_cast<int>(num());
    } else if (a == "--channels") {
      o.channels = static_cast<int>(num());
    } else if (a == "--messages") {
      o.messages = static_cast<long long>(num());
    } else if (a == "--conns") {
      o.conns = static_cast<int>(num());
    } else if (a == "--limit") {
      o.page_limit = static_cast<int>(num());
    } else if (a == "--modes") {
      std::string v = val();
      o.modes.clear();
      for (size_t p = 0; p <= v.size();) {
        size_t c = std::min(v.find(',', p), v.size());
        std::string m = v.substr(p, c - p);
        if (m != "before" && m != "after" && m != "around") Usage("--modes: before,after,around");
        o.modes.push_back(m);
        p = c + 1;
      }
    } else if (a == "--channel") {
      o.channel_id = val();
    } else if (a == "--token") {
      o.token = val();
    } else if (a == "--pid") {
      std::string v = val();
      for (size_t p = 0; p <= v.size();) {
        size_t c = std::min(v.find(',', p), v.size());
        int pid = std::atoi(v.substr(p, c - p).c_str());
        if (pid <= 0) Usage("--pid wants PID[,PID...], not " + v);
        if (o.pid) {
          o.more_pids.push_back(pid);
        } else {
          o.pid = pid;
        }
        p = c + 1;
      }
    } else if (a == "--threads") {
      o.threads = static_cast<int>(num());
    } else if (a == "--procs") {
      o.procs = static_cast<int>(num());
    } else if (a == "--source-addrs") {
      o.source_addrs = static_cast<int>(num());
    } else if (a == "--users") {
      o.users = static_cast<int>(num());
    } else if (a == "--timeout-s") {
      o.timeout_s = static_cast<int>(num());
    } else if (a == "--concurrency") {
      o.concurrency = static_cast<int>(num());
    } else if (a == "--session-timeout-s") {
      o.session_timeout_s = static_cast<int>(num());
    } else if (a == "--intents") {
      o.intents = static_cast<int>(num());
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--no-record") {
      o.record = false;
    } else if (a == "--results-dir") {
      o.results_dir = val();
    } else if (a == "--sessions") {
      o.sessions = static_cast<int>(num());
    } else if (a == "--warmup") {
      o.warmup = static_cast<int>(num());
    } else if (a == "--settle-s") {
      o.settle_s = num();
    } else if (a == "--idle-s") {
      o.idle_s = num();
    } else if (a == "--receivers") {
      o.receivers = static_cast<int>(num());
    } else if (a == "--rate") {
      std::string v = val();
      for (size_t p = 0; p <= v.size();) {
        size_t c = std::min(v.find(',', p), v.size());
        try {
          o.rates.push_back(std::stod(v.substr(p, c - p)));
        } catch (...) {
          Usage("--rate wants R[,R2,...]");
        }
        p = c + 1;
      }
    } else if (a == "--duration") {
      o.duration_s = num();
    } else if (a == "--size") {
      o.size = static_cast<int>(num());
    } else if (a == "--publishers") {
      o.publishers = static_cast<int>(num());
    } else if (a == "--conns-per-publisher") {
      o.conns_per_publisher = static_cast<int>(num());
    } else if (a == "--warmup-s") {
      o.warmup_s = num();
    } else if (a == "--drain-s") {
      o.drain_s = num();
    } else if (a == "--p99-ms") {
      o.p99_ms = num();
    } else if (a == "--keep-going") {
      o.keep_going = true;
    } else if (a == "--help" || a == "-h") {
      Help();
    } else {
      Usage("unknown option " + a);
    }
  }
  if (!o.port) Usage("--url http://HOST:PORT is required");
  if (o.threads < 1 || o.threads > 64 || o.procs < 1 || o.procs > 64)
    Usage("--threads and --procs: 1..64");
  if (o.scenario == "idle" && o.sessions < 1) Usage("idle needs --sessions N");
  if (o.protocol != Protocol::kParley && o.scenario != "idle" && o.scenario != "fanout")
    Usage("--protocol other than parley: only idle and fanout");
  if (o.scenario == "storm") {
    if (o.rates.empty()) o.rates.push_back(20);
    if (o.rates.size() != 1) Usage("storm takes one --rate");
    if (o.drop_at_s >= o.duration_s) Usage("--drop-at-s must be inside --duration");
    o.warmup_s = 0;  // every message of a storm counts
  }
  if (o.scenario == "writes" && (o.clients < 1 || o.channels < 1))
    Usage("writes needs --clients N >= 1 and --channels C >= 1");
  if (o.scenario == "history" &&
      (o.messages < 1 || o.conns < 1 || o.page_limit < 1 || o.page_limit > 100 || o.modes.empty()))
    Usage("history needs --messages M >= 1, --conns C >= 1, --limit 1..100");
  if (o.scenario == "fanout" || o.scenario == "storm") {
    if (o.receivers < 1) Usage(o.scenario + " needs --receivers K");
    if (o.rates.empty() ||
        std::any_of(o.rates.begin(), o.rates.end(), [](double r) { return !(r > 0 && r <= 1e6); }))
      Usage("fanout needs --rate R[,R2,...] (messages/s, > 0)");
    if (o.duration_s <= o.warmup_s) Usage("--duration must exceed --warmup-s");
    if (o.publishers < 1 || o.conns_per_publisher < 1 || o.size < 1 || o.size > 2000)
      Usage("--publishers, --conns-per-publisher >= 1; --size 1..2000");
  }
  if (o.concurrency < 1 || o.users < 1 || o.timeout_s < 1) Usage("bad option value");
  return o;
}

}  // namespace parley::load
