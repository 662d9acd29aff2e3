// Gateway: Discord Gateway v10 over WebSocket on the HTTP port. The HTTP
// server hands upgraded sockets to it (OnUpgrade); the commit path, typing
// and presence hand it events (Publish), which it fans out to every session
// allowed to see them. See docs/gateway.md (the contract) and
// docs/architecture.md (how a message flows).
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <deque>
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
#include "events/session_store.h"
#include "gateway/transport_compression.h"
#include "limits/shared_limits.h"
#include "net/event_loops.h"
#include "net/http_server.h"
#include "state/state.h"
#include "util/mutex.h"

namespace parley::gateway {

// The event layer's names, used throughout the gateway.
using encoding::Encoding;
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
  // Cluster resume: the recent log kept to rebuild sessions from other
  // nodes (older positions, or more bytes: their sessions get op 9).
  size_t recent_log_bytes = 64 * 1024 * 1024;
  // --max-connections-per-ip: the HTTP server's count, whose slot each
  // upgraded connection keeps until its socket closes (null: none).
  net::ConnectionsPerAddress* per_address = nullptr;
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

  // Cluster mode with Redis: sessions resume exactly on any node
  // (docs/cluster.md, "Sessions and resume on any node"): checkpoints and
  // this node's journal of ephemeral events go to `store`, and a Resume of
  // another node's session is rebuilt from them and the log.
  // REQUIRES: called before the loops run; `store` outlives the gateway.
  void SetSessionStore(events::SessionStore* store);
  events::SessionStore* session_store() const { return session_store_; }

  // The HTTP server's upgrade hook: runs on loop `loop`'s thread with the
  // request and the socket; `leftover` are bytes read past the request;
  // `address_slot` (options().per_address) is released when the socket
  // closes.
  void OnUpgrade(int loop, net::Request&& req, boost::asio::ip::tcp::socket&& socket,
                 std::string_view leftover, uint32_t address_slot);

  // Fans `events` out to every loop (one hop per loop, whatever the number of
  // sessions). Thread-safe; events published from one thread keep their order.
  // With a session store, an ephemeral batch is delivered only once it is
  // journaled (dropped, and counted, when the journal cannot be written).
  void Publish(EventBatch events) override;
  // Also kept by position (the recent log) while a session store is set.
  void PublishCommitted(EventBatch events, uint64_t position) override;

  // The recent log (with a session store): calls fn(position, events) for
  // every batch after the first `after_batches` of position `after`, up to
  // the first `upto_batches` of position `upto`, in order (the order the
  // loops get them), and returns true; or returns false (calling nothing)
  // when some of them are no longer held.
  bool ForEachRecent(uint64_t after, uint32_t after_batches, uint64_t upto, uint32_t upto_batches,
                     const std::function<void(uint64_t, const EventBatch&)>& fn) const;
  // The position this node's State was loaded at: the stream starts after
  // it. REQUIRES: before the loops run.
  void SetStartPosition(uint64_t position);
  // Something that decides who sees what (a channel, role, member or the
  // guild; a user's joins, leaves and tokens) changed at a point of the
  // recent log. Changes before it began are not known: ForEachRecent
  // fails for those positions anyway.
  // True if that happened in one of `guilds` or to `user_id` after the
  // first `batches` batches of log position `position`.
  bool VisibilityChangedAfter(const std::vector<Snowflake>& guilds, Snowflake user_id,
                              uint64_t position, uint32_t batches) const;

  // Sends op 7 Reconnect and close 4000 to every connection, and waits (up
  // to `deadline`) until they are written.
  void Shutdown(std::chrono::milliseconds deadline);

  // ws://HOST:PORT for /gateway and READY's resume_gateway_url.
  std::string Url(std::string_view host_header) const override;
  // /gateway/bot's session_start_limit for `user_id`.
  void StartLimit(Snowflake user_id, bool bot,
                  std::function<void(SessionStartLimit)> done) override;
  // Takes one identify from the user's daily budget (--identify-limit for
  // bots, --user-identify-limit for users): done(false) when exhausted.
  // With shared limits (a cluster), counted across the nodes; `done` then
  // runs on the shared counters' thread.
  void TakeIdentify(Snowflake user_id, bool bot, std::function<void(bool)> done);

  // A cluster's shared counters (session_start_limit across nodes); null:
  // this node counts alone. REQUIRES: before the loops run.
  void SetSharedLimits(limits::SharedLimits* shared) { shared_limits_ = shared; }
  bool has_shared_limits() const { return shared_limits_ != nullptr; }

  GatewayStats stats() const override;
  // Identified sessions by shard ([id, count] -> sessions), for metrics.
  void CountShardSession(int shard_id, int shard_count, int delta);
  std::vector<std::pair<std::string, double>> ShardSessions() const;
  // Open WebSocket connections, all loops (any thread; one relaxed load).
  int64_t connections() const { return connections_.load(std::memory_order_relaxed); }
  // Of those, the ones with an identified (or resumed) session.
  int64_t identified() const { return identified_.load(std::memory_order_relaxed); }
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
  std::atomic<int64_t> identified_{0};  // Conn::set_session
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
  events::SessionStore* session_store_ = nullptr;  // set before the loops run
  limits::SharedLimits* shared_limits_ = nullptr;  // set before the loops run
  SessionStartLimit LocalStartLimit(Snowflake user_id, bool bot);
  bool TakeLocalIdentify(Snowflake user_id, bool bot);

  // What the loops are handed, in one order for all of them (with a
  // session store: a checkpoint's position and journal index mean the
  // same on every loop).
  // An ephemeral batch waiting for its journal entry, or a log batch
  // (index 0) that came after one: log batches wait behind pending journal
  // entries, so that an entry's place in the stream (the log point it
  // records) is exactly where the loops get it.
  struct Journaled {
    uint64_t index = 0;     // journal index; 0: a log batch
    uint64_t position = 0;  // a log batch's position
    std::shared_ptr<const EventBatch> events;
    bool stored = false, failed = false;  // a log batch is stored
  };
  struct Recent {
    uint64_t position = 0;
    int64_t at_ms = 0;
    size_t bytes = 0;
    std::vector<std::shared_ptr<const EventBatch>> batches;
  };
  void PostToLoops(std::shared_ptr<const EventBatch> events, uint64_t position, uint64_t journal);
  void JournalStored(uint64_t index, bool ok);
  // A point in the stream: the `batch`-th (1-based) batch of `position`.
  struct StreamPoint {
    uint64_t position = 0;
    uint32_t batch = 0;
  };
  void NoteVisibility(const EventBatch& events, StreamPoint at) REQUIRES(stream_mu_);
  Mutex journal_mu_ ACQUIRED_BEFORE(stream_mu_);  // held while appending to the journal
  mutable Mutex stream_mu_;
  // The last log batch handed on (the position and how many non-empty
  // batches of it): where a journal entry made now falls.
  uint64_t published_position_ GUARDED_BY(stream_mu_) = 0;
  uint32_t published_batches_ GUARDED_BY(stream_mu_) = 0;
  uint64_t journal_next_ GUARDED_BY(stream_mu_) = 0;
  std::deque<Journaled> journal_queue_ GUARDED_BY(stream_mu_);  // not yet handed to the loops
  std::deque<Recent> recent_ GUARDED_BY(stream_mu_);            // the recent log
  size_t recent_bytes_ GUARDED_BY(stream_mu_) = 0;
  uint64_t recent_floor_ GUARDED_BY(stream_mu_) = 0;  // positions <= this are not held
  std::unordered_map<Snowflake, StreamPoint> guild_visibility_ GUARDED_BY(stream_mu_);
  std::unordered_map<Snowflake, StreamPoint> user_visibility_ GUARDED_BY(stream_mu_);

  struct IdentifyBudget {
    int64_t window_start_ms = 0;
    int used = 0;
  };
  mutable Mutex shard_mu_;  // identify and session end only
  std::map<std::pair<int, int>, int64_t> shard_sessions_ GUARDED_BY(shard_mu_);
  Mutex identify_mu_;
  std::unordered_map<Snowflake, IdentifyBudget> identifies_ GUARDED_BY(identify_mu_);
};

}  // namespace parley::gateway
