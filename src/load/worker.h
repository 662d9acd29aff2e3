// parley-load's receiving side: a forked worker process holding many sessions
// (Parley gateway sessions over raw WebSocket, or a peer's subscribers: see
// protocol.h; one io_context per thread), driven by its parent over a
// socketpair with one-line commands and one-line replies:
//   open                 start connecting every session           → ok
//   stats                counters (ready, failed, alive, ...)      → stats k=v ...
//   connect              connect-latency histogram (µs)            → connect <hist>
//   step ID WARM_END_NS  new fan-out step: reset per-step counters → ok
//   drop                 storm: every ready session resets its TCP connection
//                        and queues to reconnect and Resume      → ok
//   resume               drop → RESUMED latency histogram (µs)    → resume <hist>
//   behind ACKED         deliveries still missing on open sessions → behind N
//   report ACKED         the step's result (loss, order, latency)  → report k=v ... h=<hist>
//   quit                 close 1000 on every session, exit         → bye
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "encoding/encoding.h"
#include "load/protocol.h"

namespace parley::load {

struct WorkerConfig {
  std::string host;
  int port = 0;
  Protocol protocol = Protocol::kParley;
  std::vector<std::string> tokens;  // session i identifies with tokens[i % size]
  int first = 0, count = 0;         // this worker's global session indices [first, first+count)
  int threads = 1;
  std::vector<std::string> source_addrs;  // session i binds source_addrs[i % K]; empty: none
  int concurrency = 64;                   // handshakes in flight per thread
  int intents = 1 | (1 << 9);             // GUILDS | GUILD_MESSAGES
  int session_timeout_s = 60;             // TCP connect → GUILD_CREATE
  // A ready session whose connection ends (EOF, reset, close 1001/1006/
  // 4000, op 7) reconnects at once and Resumes, as discord.js does.
  bool resume_on_loss = false;
  int timeout_s = 300;  // the worker exits on its own after this (+60 s)
  // Parley: the gateway's payload encoding and transport compression
  // ("" none, "zlib-stream", "zstd-stream"), both as a client asks for them.
  encoding::Encoding encoding = encoding::Encoding::kJson;
  std::string compress;
};

// In the forked child: serves commands on control_fd until quit or EOF.
int RunWorker(const WorkerConfig& cfg, int control_fd);

// Parent side of a worker's control channel: one line per command and reply.
class LineChannel {
 public:
  explicit LineChannel(int fd) : fd_(fd) {}
  bool Send(const std::string& line);
  std::optional<std::string> Recv(int timeout_ms);
  int fd() const { return fd_; }
  bool eof() const { return eof_; }

 private:
  int fd_;
  bool eof_ = false;
  std::string buf_;
};

// "k=v k2=v2" → value of k ("" when absent).
std::string Field(const std::string& line, const std::string& key);
double NumField(const std::string& line, const std::string& key);

}  // namespace parley::load
