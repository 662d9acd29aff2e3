// A closed-loop HTTP/1.1 load for the REST scenarios (writes, history):
// `conns` keep-alive connections spread over `threads` threads, one
// io_context each. Every connection sends one request, reads its whole reply,
// hands it to Done, and only then asks Next for the following request (no
// pipelining), until the stop time. Next and Done for a connection always run
// on its thread (thread = conn % threads), so callers keep per-thread state
// and merge it afterwards, without locks.
//
// A transport failure (connect refused, reset, the server closing a
// keep-alive connection with the request unanswered, no whole reply within
// reply_timeout_ms) is reported to Done with status 0 and a reason, and the
// connection is reopened after 100 ms. Every wait is bounded: Run returns by
// the drain deadline at the latest; requests still unanswered then are
// reported as "reply-timeout".
//
// Also: minimal JSON scanning of reply bodies (no tree is built), for the
// "id" of a created message and the ids of a history page.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "load/histogram.h"

namespace parley::load {

struct HttpDone {
  int status = 0;          // 0: transport failure, see error
  const char* error = "";  // connect-error, connect-timeout, conn-error, conn-closed, reply-timeout
  std::string_view body;   // valid during the Done call only
  int64_t sent_ns = 0;     // request handed to the socket (0: no request, a failed connect)
  int64_t done_ns = 0;     // whole reply read (or the failure seen)
};

struct ClosedLoopConfig {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 1, threads = 1;
  int64_t reply_timeout_ms = 30'000;  // also bounds a connect
  size_t body_limit = 16u << 20;
};

class ClosedLoop {
 public:
  // Fills *request (raw HTTP/1.1 bytes, see HttpRequestBytes) with the next
  // request of connection `conn`; false: that connection is done.
  using Next = std::function<bool(int thread, int conn, std::string* request)>;
  // The outcome of each request Next made (and of each failed connect).
  using Done = std::function<void(int thread, int conn, const HttpDone& d)>;
  // Called on Run's calling thread about every 100 ms with the replies
  // (any status) and transport failures so far.
  using Tick = std::function<void(int64_t now_ns, uint64_t replies, uint64_t failures)>;

  struct RunStats {
    uint64_t connects = 0;  // successful TCP connects (1 per connection when nothing fails)
    bool drained = true;    // every request sent was answered before the drain deadline
    int64_t end_ns = 0;     // when the last connection stopped
  };

  ClosedLoop(ClosedLoopConfig cfg, Next next, Done done);
  ~ClosedLoop();
  ClosedLoop(const ClosedLoop&) = delete;
  ClosedLoop& operator=(const ClosedLoop&) = delete;

  // Opens every connection and runs the loops; no request is sent at or after
  // stop_ns; waits for outstanding replies until drain_deadline_ns. Once per
  // object. Throws std::runtime_error on a bad address.
  RunStats Run(int64_t stop_ns, int64_t drain_deadline_ns, const Tick& tick);

 private:
  struct Conn;
  struct Thread;
  void Start(Thread& t, Conn* c);
  void SendNext(Thread& t, Conn* c);
  void StartRead(Thread& t, Conn* c);
  void Fail(Thread& t, Conn* c, const char* reason);
  void Stop(Thread& t, Conn* c);
  void ArmSweep(Thread& t);
  void Loop(Thread& t);

  ClosedLoopConfig cfg_;
  Next next_;
  Done done_;
  int64_t stop_ns_ = 0, drain_ns_ = 0;
  std::vector<std::unique_ptr<Thread>> threads_;
  bool ran_ = false;
};

// "METHOD target HTTP/1.1" with Host, Authorization (when token is not
// empty), Content-Type: application/json and Content-Length (when body is not
// empty or the method is POST/PATCH/PUT).
std::string HttpRequestBytes(std::string_view method, std::string_view host, int port,
                             std::string_view target, std::string_view token,
                             std::string_view body);

// Closed-loop message posting, shared by writes and history's fill: each
// connection POSTs /api/v10/channels/{id}/messages, the next one when the
// previous reply arrived. A 2xx reply with the message's "id" acknowledges.
struct PostLoadConfig {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 1, threads = 1;
  std::vector<std::string> channels;  // connection i posts to channels[i % size]
  std::vector<std::string> tokens;    // ... as tokens[i % size]
  int size = 100;                     // content bytes
  long long max_acked = 0;  // > 0: stop once this many are acknowledged (a failed post is retried)
  bool keep_ids = true;     // collect the acknowledged ids per channel
  int64_t window_start_ns = 0;  // replies read in [window_start_ns, stop_ns) are "in the window"
  int64_t stop_ns = 0, drain_deadline_ns = 0;
};

struct PostLoadResult {
  uint64_t acked_total = 0, acked_window = 0, replies = 0;
  Histogram window_us;  // ack latency (request written -> reply read) of the window's replies
  std::map<std::string, uint64_t> failures;  // by reason, over the whole run
  uint64_t failed = 0;
  std::vector<std::vector<uint64_t>> ids;  // acknowledged ids per channel (unsorted)
  ClosedLoop::RunStats run;
};

// The generator's CPU over a window as report.h's CpuJson, plus the cores it
// kept busy and their share of its io threads: one io thread can be saturated
// (the generator is then the limit) while Share() still reads 50% of 2 cores.
struct GenCpu {
  double cores = 0, per_io_thread = 0;
  bool io_saturated = false;  // per_io_thread > 0.8
};
GenCpu IoThreadLoad(double cpu_s, double wall_s, int io_threads);

// The message content of connection `conn`: a prefix naming it, padded with
// 'x' to `size` bytes (JSON-safe).
std::string PostContent(int conn, int size);

PostLoadResult RunPosts(const PostLoadConfig& cfg, const ClosedLoop::Tick& tick);

namespace json_scan {

// The raw text (escapes kept) of the string value of `key` among the members
// of the object `body`, not looking into nested values; "" when body is not an
// object, the key is absent or its value is not a string.
std::string_view TopLevelString(std::string_view body, std::string_view key);

// For a JSON array of objects: appends each element's top-level "id" (a
// decimal string) to *ids. False when body is not a well-formed array of
// objects that each have one (what was appended stays).
bool ArrayIds(std::string_view body, std::vector<uint64_t>* ids);

// A decimal snowflake; 0 when `s` is not one.
uint64_t ParseId(std::string_view s);

}  // namespace json_scan

}  // namespace parley::load
