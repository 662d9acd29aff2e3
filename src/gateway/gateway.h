// Gateway: Discord Gateway v10 over WebSocket on the HTTP port. The HTTP
// server hands upgraded sockets to it (OnUpgrade); the commit path, typing
// and presence hand it events (Publish), which it fans out to every session
// allowed to see them. See docs/gateway.md (the contract) and
// docs/architecture.md (how a message flows).
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events/event.h"
#include "events/event_sink.h"
#include "events/gateway_view.h"
#include "events/presence.h"
#include "gateway/transport_compression.h"
#include "net/event_loops.h"
#include "net/http_server.h"
#include "state/state.h"

namespace parley::gateway {

// The event layer's names, used throughout the gateway.
using events::AppendPayload;
using events::Event;
using events::EventBatch;
using events::EventPtr;
using events::Frame;
using events::FramePtr;
using events::GatewayStats;
using events::MakeDispatch;
using events::Presence;
using events::PresenceRegistry;
using events::SessionStartLimit;

struct GatewayOptions {
  int heartbeat_interval_ms = 41250;
  int resume_window_ms = 180000;
  // A connection that has not identified (or resumed) this long after
  // Hello is closed with 4003 (0 = never).
  int identify_timeout_ms = 30000;
  uint32_t replay_buffer = 1024;               // dispatches kept per session for Resume
  size_t max_pending_bytes = 4 * 1024 * 1024;  // per socket; over it: close 4000
  int identify_limit = 1000;                   // identifies per bot per 24 h (0 = no limit)
  int user_identify_limit = 1000;              // identifies per user token per 24 h (0 = none)
  int max_guilds_per_shard = 2500;             // more: close 4011
  bool allow_privileged_intents = false;       // for every bot
  std::string public_url;                      // "" = from the Host header
  uint32_t max_frame_bytes = 16 * 1024;        // larger WebSocket messages: close 1009
  // Flush pacing (loop_hub.cc, FlushDirty): after a flush pass of a loop that
  // took d, the next pass starts no sooner than d * flush_pacing later, so
  // that under heavy fan-out each socket write carries several dispatches.
  // 0 = flush every loop iteration (lowest latency, most syscalls).
  double flush_pacing = 1.0;
  CompressionOptions compression;
};

class LoopHub;

// True for a GET asking to upgrade to WebSocket (the gateway's handshake).
bool IsWebSocketUpgrade(const net::Request& req);

class Gateway final : public events::EventSink, public events::GatewayView {
 public:
  // REQUIRES: loops and state outlive the gateway.
  Gateway(net::EventLoops* loops, const State* state, GatewayOptions options);
  ~Gateway() override;

  // Starts the per-loop deadline sweeps. Call once, before the loops run.
  void Start();

  // Cluster mode: `sync(then)` runs `then` (on any thread) once this node
  // has applied every commit made anywhere before the call. An identify
  // whose token is unknown here is refused only after that (the token may
  // have been made on another node a moment ago). Empty: refuse at once.
  // REQUIRES: called before the loops run.
  using ClusterSync = std::function<void(std::function<void()> then)>;
  void SetClusterSync(ClusterSync sync) { cluster_sync_ = std::move(sync); }
  const ClusterSync& cluster_sync() const { return cluster_sync_; }

  // The HTTP server's upgrade hook: runs on loop `loop`'s thread with the
  // request and the socket; `leftover` are bytes read past the request.
  void OnUpgrade(int loop, net::Request&& req, boost::asio::ip::tcp::socket&& socket,
                 std::string_view leftover);

  // Fans `events` out to every loop (one hop per loop, whatever the number of
  // sessions). Thread-safe; events published from one thread keep their order.
  void Publish(EventBatch events) override;

  // Sends op 7 Reconnect and close 4000 to every connection, and waits (up
  // to `deadline`) until they are written.
  void Shutdown(std::chrono::milliseconds deadline);

  // ws://HOST:PORT for /gateway and READY's resume_gateway_url.
  std::string Url(std::string_view host_header) const override;
  // /gateway/bot's session_start_limit for `user_id`.
  SessionStartLimit StartLimit(Snowflake user_id, bool bot) override;
  // Takes one identify from the user's daily budget (--identify-limit for
  // bots, --user-identify-limit for users); false when exhausted.
  bool TakeIdentify(Snowflake user_id, bool bot);

  GatewayStats stats() const override;
  // Identified sessions by shard ([id, count] -> sessions), for metrics.
  void CountShardSession(int shard_id, int shard_count, int delta);
  std::vector<std::pair<std::string, double>> ShardSessions() const;
  // Open connections / identified sessions of loop `i` (any thread).
  int64_t loop_connections(int i) const;
  int64_t loop_sessions(int i) const;
  PresenceRegistry& presence() { return presence_; }
  const State& state() const { return *state_; }
  const GatewayOptions& options() const { return options_; }
  net::EventLoops& loops() { return *loops_; }
  LoopHub& hub(int i) { return *hubs_[i]; }
  int hub_count() const { return static_cast<int>(hubs_.size()); }

  // Counters updated by the loops (relaxed).
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> sessions_{0};
  std::atomic<uint64_t> slow_consumers_{0};
  std::atomic<uint64_t> resumes_{0};
  std::atomic<uint64_t> resumes_failed_{0};
  std::atomic<uint64_t> dispatches_{0};

 private:
  net::EventLoops* loops_;
  const State* state_;
  GatewayOptions options_;
  ClusterSync cluster_sync_;  // set before the loops run, then read-only
  PresenceRegistry presence_;
  std::vector<std::unique_ptr<LoopHub>> hubs_;
  std::atomic<bool> stopping_{false};

  struct IdentifyBudget {
    int64_t window_start_ms = 0;
    int used = 0;
  };
  mutable std::mutex shard_mu_;  // identify and session end only
  std::map<std::pair<int, int>, int64_t> shard_sessions_;
  std::mutex identify_mu_;
  std::unordered_map<Snowflake, IdentifyBudget> identifies_;
};

}  // namespace parley::gateway
