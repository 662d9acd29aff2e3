#include "load/worker_pool.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "load/sysinfo.h"

namespace parley::load {

namespace {
int g_children[64];
int g_nchildren = 0;
}  // namespace

void KillWorkers() {
  for (int i = 0; i < g_nchildren; ++i) kill(g_children[i], SIGKILL);
}

void OnAlarm(int) {
  const char msg[] = "\nparley-load: global timeout (--timeout-s) reached, aborting\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  for (int i = 0; i < g_nchildren; ++i) kill(g_children[i], SIGKILL);
  _exit(3);
}

std::vector<Worker> SpawnWorkers(const Options& o, const std::vector<std::string>& tokens,
                                 int total, int procs, int addrs) {
  std::vector<Worker> ws;
  std::vector<int> parent_fds;
  std::fflush(stdout);
  std::fflush(stderr);
  for (int k = 0; k < procs; ++k) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::runtime_error("socketpair failed");
    WorkerConfig cfg;
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.protocol = o.protocol;
    cfg.tokens = tokens;
    cfg.first = static_cast<int>(static_cast<int64_t>(total) * k / procs);
    cfg.count = static_cast<int>(static_cast<int64_t>(total) * (k + 1) / procs) - cfg.first;
    cfg.threads = o.threads;
    for (int a = 0; a < addrs; ++a) cfg.source_addrs.push_back("127.0.0." + std::to_string(2 + a));
    cfg.concurrency = o.concurrency;
    cfg.intents = o.intents;
    cfg.encoding = o.encoding;
    cfg.compress = o.compress;
    cfg.session_timeout_s = o.session_timeout_s;
    cfg.resume_on_loss = o.kill_pid != 0;
    cfg.timeout_s = o.timeout_s;
    int pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      close(sv[0]);
      for (int fd : parent_fds) close(fd);
      signal(SIGALRM, SIG_DFL);
      _exit(RunWorker(cfg, sv[1]));
    }
    close(sv[1]);
    parent_fds.push_back(sv[0]);
    g_children[g_nchildren++] = pid;
    ws.push_back(Worker{pid, std::make_unique<LineChannel>(sv[0]), cfg.count});
  }
  return ws;
}

std::vector<std::string> Ask(std::vector<Worker>& ws, const std::string& cmd, int timeout_ms) {
  for (auto& w : ws) w.ch->Send(cmd);
  std::vector<std::string> out;
  for (auto& w : ws) {
    auto r = w.ch->Recv(timeout_ms);
    if (!r) throw std::runtime_error("worker " + std::to_string(w.pid) + " did not answer " + cmd);
    out.push_back(" " + *r);  // leading space: Field() looks for " key="
  }
  return out;
}

double Sum(const std::vector<std::string>& replies, const std::string& key) {
  double s = 0;
  for (const auto& r : replies) s += NumField(r, key);
  return s;
}

std::map<std::string, uint64_t> Reasons(const std::vector<std::string>& replies,
                                        const std::string& prefix) {
  std::map<std::string, uint64_t> m;
  for (const auto& r : replies) {
    for (size_t p = r.find(" " + prefix); p != std::string::npos; p = r.find(" " + prefix, p + 1)) {
      size_t eq = r.find('=', p);
      size_t end = r.find(' ', eq);
      m[r.substr(p + 1 + prefix.size(), eq - p - 1 - prefix.size())] +=
          std::stoull(r.substr(eq + 1, end == std::string::npos ? end : end - eq - 1));
    }
  }
  return m;
}

void StopWorkers(std::vector<Worker>& ws) {
  for (auto& w : ws) w.ch->Send("quit");
  for (auto& w : ws) w.ch->Recv(15000);  // "bye"
  for (auto& w : ws) {
    int status = 0;
    for (int i = 0; i < 50 && waitpid(w.pid, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waitpid(w.pid, &status, WNOHANG) == 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, &status, 0);
    }
    close(w.ch->fd());
  }
  g_nchildren = 0;
}

OpenResult OpenAll(std::vector<Worker>& ws, int total, const Options& o, const char* label) {
  double cpu0 = SelfCpuSeconds() + Sum(Ask(ws, "stats", 20000), "cpu");
  int64_t t0 = NowNs();
  Ask(ws, "open", 20000);
  const int64_t deadline = t0 + (static_cast<int64_t>(o.session_timeout_s) + 30 +
                                 total / std::max(1, o.concurrency * o.threads) / 10) *
                                    1'000'000'000;
  std::vector<std::string> st;
  for (int i = 0; i < 100'000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    st = Ask(ws, "stats", 20000);
    uint64_t ready = static_cast<uint64_t>(Sum(st, "ready"));
    uint64_t failed = static_cast<uint64_t>(Sum(st, "failed"));
    if (i % 10 == 0 || ready + failed >= static_cast<uint64_t>(total))
      std::fprintf(stderr, "\r%s: %llu ready, %llu failed of %d (%.0f s)   ", label,
                   static_cast<unsigned long long>(ready), static_cast<unsigned long long>(failed),
                   total, (NowNs() - t0) / 1e9);
    if (ready + failed >= static_cast<uint64_t>(total) || NowNs() > deadline) break;
  }
  std::fprintf(stderr, "\n");
  OpenResult r;
  r.ready = static_cast<uint64_t>(Sum(st, "ready"));
  r.failed = static_cast<uint64_t>(Sum(st, "failed"));
  r.failures = Reasons(st, "f.");
  if (r.ready + r.failed < static_cast<uint64_t>(total))
    r.failures["not-done-in-time"] += total - r.ready - r.failed;
  double first = 0, last = 0;
  for (const auto& s : st) {
    double f = NumField(s, "first_start");
    if (f > 0 && (first == 0 || f < first)) first = f;
    last = std::max(last, NumField(s, "last_ready"));
  }
  r.wall_s = last > first ? (last - first) / 1e9 : 0;
  r.generator_cpu_s = SelfCpuSeconds() + Sum(st, "cpu") - cpu0;
  for (const auto& c : Ask(ws, "connect", 20000)) {
    r.connect_us.Decode(c.substr(c.find("connect ") + 8));
  }
  return r;
}

}  // namespace parley::load
