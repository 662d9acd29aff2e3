// The gateway's per-event-loop parts: connections (Conn), sessions
// (Session) and the loop's fan-out state (LoopHub). Everything here is
// touched only on its loop's thread; other threads reach a loop through
// EventLoops::Post.
//
// Memory per idle identified session is the budget that shapes this file
// (<= 1 KB, docs/gateway.md): one receive buffer per loop instead of one per
// socket, no timer per socket (LoopHub's sweep checks deadlines), output
// buffers and replay storage allocated only while they hold something.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "events/event.h"
#include "events/presence.h"
#include "gateway/gateway.h"
#include "gateway/payload.h"
#include "gateway/replay_ring.h"
#include "gateway/transport_compression.h"
#include "net/websocket_frames.h"

namespace parley::gateway {

class Conn;

// A TCP socket bound to an io_context's own executor type: 40 bytes instead
// of 88 for tcp::socket (whose any_io_executor is type-erased), and its
// pending async_wait shrinks from 144 to 96 bytes. Measured: this took idle
// sessions from 1164 to under 1 KB (bench/RESULTS.md).
using Socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// An identified session. Lives on the loop that created it (its id says
// which) until it ends or its resume window passes; a Resume arriving on
// another loop moves the connection here, never the session.
struct Session {
  uint64_t id = 0;  // top byte: loop index
  Snowflake user_id = 0;
  uint64_t seq = 0;        // last sequence number sent
  uint64_t token_tag = 0;  // events::TokenTag of the token it identified with
  ReplayRing ring;
  std::vector<Snowflake> guilds;  // subscribed guilds (this shard's), sorted
  Conn* conn = nullptr;           // null while awaiting resume
  int64_t expires_ms = 0;         // while detached: end of the resume window
  uint32_t intents = 0;           // every defined intent fits in 26 bits
  uint16_t shard_id = 0, shard_count = 1;
  uint8_t large_threshold = 50;
  bool bot = false;
  // Cluster resume (session_handoff.cc). Dispatches are not written to the
  // connection while `holds` > 0 (a checkpoint counting a dispatch only
  // this node could send is being stored); `sent` is the last one written.
  uint8_t holds = 0;
  // A checkpoint of it was stored (the store may hold an older one).
  bool checkpointed = false;
  uint64_t sent = 0;
  // Where the session stood at its previous heartbeat (a checkpoint for a
  // client whose acknowledged seq lags the last one sent).
  uint64_t mark_seq = 0, mark_position = 0, mark_journal = 0;
  uint32_t mark_batches = 0;
  int64_t mark_ms = 0;  // wall clock

  bool InShard(Snowflake guild_id) const {
    return shard_count <= 1 || (guild_id >> 22) % shard_count == shard_id;
  }
  std::string IdString() const;
};

// One WebSocket connection.
// Reference-counted intrusively (4 bytes, no control block): the loop's
// list, the dirty list and pending socket waits hold references.
class Conn : public net::WsFrameParser::Handler,
             public boost::intrusive_ref_counter<Conn, boost::thread_unsafe_counter> {
 public:
  enum class Phase : uint8_t { kOpen, kClosing, kGone };

  // `e`: the encoding of its payloads, both ways (json, etf, msgpack).
  Conn(LoopHub* hub, Socket&& socket, Compression c, Encoding e, uint32_t max_frame);
  ~Conn() override;

  // Starts reading; `leftover` bytes (read with the HTTP request) first.
  void Start(std::string_view leftover);
  // Queues one dispatch (sequence spliced in) / one non-dispatch payload,
  // in the connection's encoding. REQUIRES: f is a JSON frame; json is
  // JSON text.
  void SendDispatch(const Frame& f, uint64_t seq);
  void SendPayload(std::string_view json);
  // Sends a Close frame with `code`, then ends the connection once it is
  // written (or after a grace period). The session, if any, is detached
  // (resumable) unless `end_session`.
  void Close(uint16_t code, std::string_view reason, bool end_session = false);
  // Drops the TCP connection now (no Close frame). The session is detached.
  void Gone();
  // Writes what is queued (the loop calls it once per iteration).
  void Flush();
  // Queues bytes as they are (the 101 response).
  void QueueRaw(std::string_view bytes) { Out().append(bytes); }

  Phase phase() const { return phase_; }
  Session* session() const { return session_; }
  // Also counts the gateway's identified connections (Gateway::identified).
  void set_session(Session* s);
  // Schedules a flush at the end of this loop iteration.
  void MarkDirty();
  void Beat(int64_t now_ms) {
    deadline_base_ms_ = static_cast<uint32_t>(now_ms);
    asked_beat_ = false;
  }
  // Called by the sweep.
  void CheckDeadlines(int64_t now_ms);
  // Moves this connection to loop `to` (Resume of a session that lives
  // there); `then` runs there with the new connection.
  void MigrateTo(int to, std::function<void(Conn*)> then);

  // Intrusive list of the loop's connections (for the sweep).
  uint32_t list_index = UINT32_MAX;  // in LoopHub's connection list

 private:
  // WsFrameParser::Handler
  bool OnMessage(net::WsOpcode opcode, std::string_view payload) override;
  bool OnPing(std::string_view payload) override;
  void OnClose(uint16_t code, std::string_view reason) override;

  void WaitRead();
  void OnReadable(boost::system::error_code ec);
  void WaitWrite();
  // Frames one payload already in the connection's encoding (compressed
  // if the connection is).
  void AppendMessage(std::string_view payload);
  Encoding encoding() const { return static_cast<Encoding>(encoding_); }
  // The output buffer, taken from the loop's pool on first use and given
  // back once written (idle connections hold none).
  std::string& Out();
  size_t pending() const { return out_ ? out_->size() - out_sent_ : 0; }
  void Unlink();
  // Leaves the open phase: the session ends (`end_session`) or is kept for
  // a resume, and the peer gets 2 s to answer our close.
  void BeginClosing(bool end_session);
  // After output was queued: closes a slow consumer (4000) whose unsent
  // bytes passed --max-pending-bytes, else schedules the flush.
  void Queued();

  LoopHub* hub_;
  Socket socket_;
  net::WsFrameParser parser_;
  TransportCompressor compressor_;
  Session* session_ = nullptr;
  std::unique_ptr<std::string> out_;  // bytes queued, not yet written (null: none)
  // Open: the last heartbeat (or Hello). Closing: when to give up on the
  // peer's close.
  // now_ms() modulo 2^32 (compared by signed 32-bit difference: right
  // for spans under 24 days), as opened_ms_.
  uint32_t deadline_base_ms_ = 0;
  // Its slot in the gateway's ConnectionsPerAddress (released by ~Conn).
  uint32_t address_slot_ = 0;
  uint32_t out_sent_ = 0;        // prefix of *out_ already written
  uint32_t window_start_s_ = 0;  // client payload rate-limit window (seconds)
  // When Hello was sent (the identify deadline), now_ms() modulo 2^32:
  // compared by unsigned difference, right for spans under 49 days.
  uint32_t opened_ms_ = 0;
  uint16_t window_count_ : 14 = 0;  // payloads in the window (at most 121)
  uint16_t encoding_ : 2 = 0;       // Encoding (sharing the bytes: Conn's size class)
  Phase phase_ = Phase::kOpen;
  // One byte for all the flags: Conn stays in its 160-byte size class.
  bool asked_beat_ : 1 = false;
  bool write_waiting_ : 1 = false;
  bool dirty_ : 1 = false;
  bool shut_down_ : 1 = false;
  bool auth_synced_ : 1 = false;    // cluster mode: a refused identify waited once
  bool identifying_ : 1 = false;    // cluster mode: its identify asks the shared counters
  bool hello_pending_ : 1 = false;  // upgraded; Hello not sent yet (LoopHub::QueueHello)

  friend class LoopHub;
  friend class Gateway;  // sets address_slot_ at the upgrade
};

class LoopHub {
 public:
  static constexpr std::string_view kHeartbeatAck = R"({"op":11,"d":null,"s":null,"t":null})";
  LoopHub(Gateway* gw, int index, boost::asio::io_context& ctx);
  ~LoopHub();

  Gateway& gw() { return *gw_; }
  const State& state() const { return gw_->state(); }
  int index() const { return index_; }
  boost::asio::io_context& ctx() { return ctx_; }
  uint8_t* read_buffer() { return rbuf_.get(); }
  static constexpr size_t kReadBufferSize = 64 * 1024;
  int64_t now_ms() const;

  void Add(Conn* c);
  void Remove(Conn* c);
  void MarkDirty(boost::intrusive_ptr<Conn> c);
  // The Host header of a connection that has not identified yet (for
  // READY's resume_gateway_url); kept here, not in every Conn.
  void SetHost(Conn* c, std::string host) { hosts_[c] = std::move(host); }
  std::string TakeHost(Conn* c);

  // Client payloads of an open connection (session_ops.cc).
  // Returns false to stop parsing the connection's input.
  bool HandlePayload(Conn* c, const ClientPayload& p);

  // Fan-out of the gateway's stream: `events` of log position `position`
  // or of journal index `journal` (0: neither).
  void Deliver(const EventBatch& events, uint64_t position = 0, uint64_t journal = 0);
  // The channel whose permissions decide who sees `ev`: State's, or the
  // deleted one a CHANNEL_DELETE carries; null when neither (then nobody
  // sees it: fail closed). REQUIRES: g.mu held.
  static const Channel* PermissionChannel(const GuildState& g, const Event& ev)
      REQUIRES_SHARED(g.mu);
  void Deliver(const std::shared_ptr<const EventBatch>& events, uint64_t position,
               uint64_t journal);
  // Sends a dispatch to a session: next sequence number, replay ring,
  // connection (if attached).
  void Dispatch(Session* s, const FramePtr& f);
  // A session's connection went away: keep it for the resume window.
  void Detach(Session* s);
  // The session is resumed on another connection (or node): its old one,
  // if any, is a zombie the client gave up on; it is closed.
  void CloseZombie(Session* s);
  // Ends a session now (presence, subscriptions). `quiet`: the user's
  // presence here is dropped without PRESENCE_UPDATEs (the session moves
  // to another node, the user stays online).
  void EndSession(Session* s, bool quiet = false);
  void Subscribe(Session* s, Snowflake guild_id);
  void Unsubscribe(Session* s, Snowflake guild_id);

  // A dispatch created at `created_ns` (steady clock) was queued on a socket
  // of this loop: its latency is observed when the loop flushes.
  void NoteDelivery(int64_t created_ns) { pending_latency_.push_back(created_ns); }

  // Output buffers, reused across flushes so that a big fan-out does not
  // pay malloc, growth copies and fresh-page faults per socket per pass
  // (profiled: 27% of a loop's time at 300 messages/s to 1,000 sessions,
  // bench/RESULTS.md "Output buffer pool"). Buffers unused for a whole sweep
  // interval are freed, so an idle server holds none.
  std::unique_ptr<std::string> TakeBuffer();
  void GiveBuffer(std::unique_ptr<std::string> b);

  // Cluster resume (session_handoff.cc): another node asks for session
  // `session_id` (its client's seq is `seq`): a final checkpoint at or
  // before `seq` is stored (or, when the client is behind every point
  // known here, the one stored last stands), the session ends here, then
  // answer(ok); a session of this node's earlier process (restarted since)
  // is answered ok, its checkpoint being final.
  void HandOff(uint64_t session_id, uint64_t seq, std::function<void(bool)> answer);
  // Drain: stores a final checkpoint of every attached session; `done`
  // runs on this loop when all are answered.
  void SaveFinalCheckpoints(std::function<void()> done);

  // The log position this loop's stream starts after (before it runs).
  void set_start_position(uint64_t position) { delivered_position_ = position; }

  void StartSweep();
  void Shutdown();  // op 7 + close 4000 to every connection
  // Sends `c` its Hello kHelloDelay from now, in a write apart from the
  // 101: seyfert 5 (and any client that reads the upgrade with Node's
  // http 'upgrade' event and drops its `head`) loses bytes that arrive in
  // the same read as the 101, which two back-to-back writes on loopback
  // often do. One timer per loop for every connection waiting; a payload
  // from the client before then gets its Hello first (SendHello).
  static constexpr int kHelloDelayMs = 15;
  void QueueHello(Conn* c);
  // Sends Hello now if `c` still waits for it.
  void SendHello(Conn* c);
  // Readable from any thread (metrics).
  int64_t connection_count() const { return open_count_.load(std::memory_order_relaxed); }
  int64_t session_count() const { return session_count_.load(std::memory_order_relaxed); }

 private:
  // `budget_taken`: the identify was counted already (a second run after
  // asking the cluster's shared counters).
  bool Identify(Conn* c, const Identify& id, bool budget_taken = false);
  // Cluster mode, for a token unknown here: runs `again` on this loop once
  // the node caught up with the cluster (if the connection is still open,
  // unidentified and on this loop), and returns true; false (refuse now)
  // outside cluster mode or when the connection waited once already.
  bool RetryAfterClusterSync(Conn* c, std::function<void(Conn*)> again);
  bool Resume(Conn* c, const Resume& r);
  void FinishResume(Conn* c, Snowflake user_id, uint64_t token_tag, uint64_t session_id,
                    uint64_t seq);
  // Cluster resume (session_handoff.cc).
  events::SessionCheckpoint CheckpointOf(const Session& s, bool at_mark, bool handed_off) const;
  void BeginPrivate(Session* s);  // before a dispatch only this node can send
  void EndPrivate(Session* s);    // after it: stores a checkpoint, then writes
  void ReleaseHeld(uint64_t session_id, events::SessionStore::Saved result);
  void SendHeld(Session* s);
  // Stores a checkpoint at the point the client acknowledged; true if it
  // then sends the heartbeat's ACK itself (once stored, or failed).
  bool CheckpointAtHeartbeat(Conn* c, Session* s, uint64_t acked);
  // A Resume of a session this node does not hold: rebuilt from its
  // checkpoint, the journal and the recent log, or op 9.
  void TakeOver(Conn* c, Snowflake user_id, uint64_t token_tag, uint64_t session_id, uint64_t seq);
  void TakeOverStep(boost::intrusive_ptr<Conn> c, uint64_t seq, events::SessionCheckpoint cp,
                    int attempt);
  void Rebuild(boost::intrusive_ptr<Conn> c, uint64_t seq, const events::SessionCheckpoint& cp,
               std::vector<events::JournalEntry> journal, int attempt);
  // Answers a takeover with op 9, and says why (log, metric).
  void RefuseTakeOver(Conn* c, uint64_t session_id, std::string_view why);
  // The frame session `s` gets for `ev` (null: none); *unsure when `ev`
  // changes the session's subscriptions (a rebuild cannot follow that).
  FramePtr FrameFor(const Session& s, const Event& ev, bool* unsure);
  // `ev`'s frame as session `s` gets it (MESSAGE_CONTENT rule: a bot
  // without the intent gets it without content unless it wrote or is
  // mentioned in the message). Valid until the next call.
  const FramePtr& ContentFrame(const Session& s, const Event& ev);
  // Runs fn on this loop with the connection if it is still open, not
  // identified and here.
  void OnLoop(boost::intrusive_ptr<Conn> c, std::function<void(boost::intrusive_ptr<Conn>)> fn);
  // The same, `delay_ms` from now. REQUIRES: on this loop.
  void OnLoopAfter(boost::intrusive_ptr<Conn> c, int delay_ms,
                   std::function<void(boost::intrusive_ptr<Conn>)> fn);
  Session* NewSession(uint64_t sid);
  void AttachSession(Session* s, Conn* c, const std::vector<Snowflake>& guilds);
  void InvalidSession(Conn* c);
  void RequestMembers(Conn* c, const RequestGuildMembers& r);
  void UpdatePresence(Conn* c, const PresenceUpdate& p);
  void SendGuildCreate(Session* s, Snowflake guild_id);
  void Sweep();
  void FlushDirty();

  Gateway* gw_;
  int index_;
  boost::asio::io_context& ctx_;
  std::unique_ptr<uint8_t[]> rbuf_;
  std::vector<Conn*> conns_;                        // every open connection (Conn::list_index)
  std::unordered_map<uint64_t, Session> sessions_;  // nodes: Session* stay valid
  std::unordered_map<Snowflake, std::unordered_set<Session*>> guild_subs_;
  std::unordered_map<Snowflake, std::vector<Session*>> user_sessions_;
  std::vector<boost::intrusive_ptr<Conn>> dirty_;
  std::vector<int64_t> pending_latency_;
  std::atomic<int64_t> open_count_{0};
  std::atomic<int64_t> session_count_{0};  // created_ns of dispatches not yet flushed
  std::unordered_map<Conn*, std::string> hosts_;
  std::vector<std::unique_ptr<std::string>> buffer_pool_;
  size_t pool_low_ = 0;  // fewest pooled buffers since the last sweep
  bool flush_scheduled_ = false;
  int64_t next_flush_ns_ = 0;  // flush pacing: no pass before this (steady clock)
  boost::asio::steady_timer sweep_;
  boost::asio::steady_timer flush_timer_;
  boost::asio::steady_timer hello_timer_;
  std::vector<boost::intrusive_ptr<Conn>> hello_queue_;  // waiting for hello_timer_
  std::vector<Session*> scratch_;
  FramePtr stripped_;  // ContentFrame's
  uint64_t session_counter_ = 0;
  // The stream's last log position (and how many of its batches) and
  // journal index this loop delivered; the position starts at the
  // gateway's (Gateway::SetStartPosition).
  uint64_t delivered_position_ = 0, delivered_journal_ = 0;
  uint32_t delivered_batches_ = 0;
  // With a session store: the ephemeral batches this loop delivered lately
  // (wall-clock ms), for Rebuild; older ones are dropped, and
  // recent_ephemeral_floor_ms_ says up to when.
  std::deque<std::pair<int64_t, std::shared_ptr<const EventBatch>>> recent_ephemeral_;
  int64_t recent_ephemeral_floor_ms_ = 0;
};

}  // namespace parley::gateway
