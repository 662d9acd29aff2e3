#include "load/sysinfo.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "util/clock.h"

namespace parley::load {

int64_t NowNs() {
  return SteadyNs();
}

namespace {

// Inodes of sockets listening on `port` (state 0A) in /proc/net/tcp{,6}.
std::vector<std::string> ListeningInodes(int port) {
  std::vector<std::string> out;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    for (int n = 0; n < 1'000'000 && std::getline(in, line); ++n) {
      std::istringstream ls(line);
      std::string sl, local, remote, st, txrx, trtm, retr, uid, timeout, inode;
      if (!(ls >> sl >> local >> remote >> st >> txrx >> trtm >> retr >> uid >> timeout >> inode))
        continue;
      size_t colon = local.rfind(':');
      if (colon == std::string::npos || st != "0A") continue;
      if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) out.push_back(inode);
    }
  }
  return out;
}

std::string RunCommand(const char* cmd) {
  std::string out;
  FILE* p = popen(cmd, "r");
  if (!p) return out;
  char buf[512];
  while (out.size() < 4096 && fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

std::optional<int> FindListenerPid(int port) {
  auto inodes = ListeningInodes(port);
  if (inodes.empty()) return std::nullopt;
  DIR* proc = opendir("/proc");
  if (!proc) return std::nullopt;
  std::optional<int> found;
  int scanned = 0;
  while (dirent* e = readdir(proc)) {
    if (++scanned > 100'000 || found) break;
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    std::string fd_dir = "/proc/" + std::string(e->d_name) + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;
    int n = 0;
    while (dirent* f = readdir(fds)) {
      if (++n > 200'000) break;
      char target[128];
      std::string path = fd_dir + "/" + f->d_name;
      ssize_t len = readlink(path.c_str(), target, sizeof target - 1);
      if (len <= 0) continue;
      target[len] = 0;
      std::string t(target);
      for (const auto& ino : inodes) {
        if (t == "socket:[" + ino + "]") found = static_cast<int>(pid);
      }
      if (found) break;
    }
    closedir(fds);
  }
  closedir(proc);
  return found;
}

ProcSample SampleProc(int pid) {
  ProcSample s;
  s.at_ns = NowNs();
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_bytes = std::stoll(line.substr(6)) * 1024;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t paren = all.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream ss(all.substr(paren + 2));
    std::string f;
    // Fields after the command: state(3) ... utime(14) stime(15).
    std::vector<std::string> fields;
    while (fields.size() < 13 && ss >> f) fields.push_back(f);
    if (fields.size() == 13) {
      double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
      s.cpu_s = (std::stod(fields[11]) + std::stod(fields[12])) / hz;
    }
  }
  return s;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

int Cores() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int64_t RamBytes() {
  return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
}

std::string KernelRelease() {
  utsname u{};
  return uname(&u) == 0 ? std::string(u.release) : std::string();
}

std::string GitCommit() {
  return RunCommand("git rev-parse --short HEAD 2>/dev/null");
}
std::string GitTopLevel() {
  return RunCommand("git rev-parse --show-toplevel 2>/dev/null");
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace parley::load
