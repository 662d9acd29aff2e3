#include "load/worker.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string_view>
#include <thread>

#include "encoding/encoding.h"
#include "encoding/etf.h"
#include "encoding/msgpack.h"
#include "load/decompressor.h"
#include "load/histogram.h"
#include "load/peer_wire.h"
#include "load/sysinfo.h"
#include "load/ws_client_codec.h"

namespace parley::load {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using ErrorCode = boost::system::error_code;

namespace {

constexpr size_t kReadBuffer = 256 * 1024;  // shared by every session of a thread
constexpr size_t kMaxFrame = 64 * 1024 * 1024;

std::string Sanitize(std::string s) {
  for (char& c : s) {
    if (c == ' ' || c == '=' || c == '\n' || c == ',' || c == ';') c = '-';
  }
  return s.substr(0, 60);
}

// kHandshake: WebSocket upgrade sent. kHello: waiting for the first payload
// (Parley: Hello; socket.io: engine.io open; NATS: INFO). kIdentified: asked
// to join (Identify, Resume, "40", SUB + PING, SUBSCRIBE), waiting for the
// answer (GUILD_CREATE, RESUMED, "40", PONG, the subscribe reply).
enum State : uint8_t { kIdle, kConnecting, kHandshake, kHello, kIdentified, kReady, kClosing };

struct Loop;

struct Session {
  Session(Loop* l, asio::io_context& ioc) : loop(l), sock(ioc.get_executor()) {}
  Loop* loop;
  Socket sock;
  std::unique_ptr<std::string> in;          // partial frame (or handshake) between reads
  std::unique_ptr<std::string> out;         // bytes the socket did not take yet
  std::unique_ptr<std::string> session_id;  // Parley: from READY, for Resume
  std::unique_ptr<Decompressor> inflate;    // Parley with --compress: this connection's stream
  int64_t t0 = 0, next_beat = 0;
  uint64_t last_id = 0;  // order key of the last delivery (message id; peers: k + 1)
  int64_t last_s = 0;
  uint32_t index = 0;                         // global session index
  uint32_t recv = 0, dups = 0, reorders = 0;  // current step
  State state = kIdle;
  bool ready = false, closed = false, write_armed = false, resuming = false;
  uint8_t gen = 0;  // bumped when the socket is replaced: older completions are stale
  unsigned char key[16];
};

struct Loop {
  explicit Loop(const WorkerConfig& c) : cfg(c), buf(kReadBuffer) {}
  const WorkerConfig& cfg;
  asio::io_context ioc{1};
  asio::steady_timer sweep{ioc};
  tcp::endpoint server;
  std::deque<Session> sessions;
  std::vector<char> buf;
  std::string scratch;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  size_t next_to_start = 0;
  int inflight = 0;
  std::deque<Session*> to_resume;  // storm: dropped sessions waiting for a connect slot
  int64_t interval_ms = 0;
  bool quitting = false;
  // Totals.
  uint64_t ready = 0, failed = 0, beats = 0, acks = 0, asks = 0, other = 0, messages = 0;
  uint64_t seq_gaps = 0, other_step = 0;
  uint64_t dropped_for_storm = 0, resumed = 0;
  std::map<std::string, uint64_t> failures, drops;
  int64_t first_start = 0, last_ready = 0, drop_ns = 0, last_resumed = 0;
  Histogram connect_us, resume_us;
  // Current fan-out step.
  int64_t step = -1, warm_end = 0;
  uint64_t measured = 0;
  // MESSAGE_CREATEs of this step: how many, their bytes on the wire (frame
  // headers included, compressed if the connection is) and their payload
  // bytes in the encoding (decompressed).
  uint64_t step_messages = 0, step_wire_bytes = 0, step_payload_bytes = 0;
  size_t frame_wire = 0, frame_payload = 0;  // of the message being handled
  std::string inflated, decoded;             // scratch for binary messages
  Histogram latency_us;

  uint64_t Rand() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }
  bool Parley() const { return cfg.protocol == Protocol::kParley; }
  bool OverWebSocket() const {
    return cfg.protocol == Protocol::kParley || cfg.protocol == Protocol::kWs ||
           cfg.protocol == Protocol::kSocketIo;
  }

  void StartMore();
  void Start(Session* s);
  void OnConnected(Session* s, ErrorCode ec);
  void ArmRead(Session* s);
  void OnReadable(Session* s, ErrorCode ec);
  void Process(Session* s, const char* p, size_t n);
  size_t Consume(Session* s, const char* p, size_t n);
  size_t ConsumeFrames(Session* s, const char* p, size_t n);
  size_t ConsumeNats(Session* s, const char* p, size_t n);
  size_t ConsumeRedis(Session* s, const char* p, size_t n);
  void OnText(Session* s, std::string_view p);
  // Parley: a binary message (compressed, or ETF / MessagePack).
  void OnBinary(Session* s, std::string_view p);
  // Parley: sends one gateway payload, given as JSON, in cfg.encoding.
  void SendGateway(Session* s, std::string_view json);
  void OnGatewayPayload(Session* s, std::string_view p);
  void OnSocketIoPacket(Session* s, std::string_view p);
  void OnMessage(Session* s, std::string_view p);
  void OnDelivery(Session* s, std::string_view content, uint64_t order_key, int64_t step_id,
                  int64_t sent);
  void OnReady(Session* s);
  void OnResumed(Session* s);
  void SendFrame(Session* s, uint8_t opcode, std::string_view payload);
  void WriteRaw(Session* s, std::string_view data);
  void ArmWrite(Session* s);
  void Beat(Session* s);
  void Drop(Session* s);
  // Closes the session's socket and queues it to reconnect and Resume.
  void QueueResume(Session* s);
  void End(Session* s, const std::string& reason);
  void Sweep();
  void Quit(std::promise<void>* done);
};

void Loop::StartMore() {
  while (!quitting && inflight < cfg.concurrency && !to_resume.empty()) {
    Session* s = to_resume.front();
    to_resume.pop_front();
    if (s->closed) continue;
    ++inflight;
    Start(s);
  }
  while (!quitting && inflight < cfg.concurrency && next_to_start < sessions.size()) {
    ++inflight;
    Start(&sessions[next_to_start++]);
  }
}

void Loop::Start(Session* s) {
  if (!s->resuming) s->t0 = NowNs();
  if (!first_start) first_start = s->t0;
  s->state = kConnecting;
  s->inflate.reset();  // a new connection: a new stream
  Decompressor::Kind kind;
  if (Parley() && Decompressor::Parse(cfg.compress, &kind)) s->inflate = Decompressor::Make(kind);
  ErrorCode ec;
  s->sock.open(tcp::v4(), ec);
  if (ec) return End(s, "socket-" + ec.message());
  if (!cfg.source_addrs.empty()) {
    int one = 1;  // choose the port at connect time: (source, destination) pairs
    setsockopt(s->sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const std::string& a = cfg.source_addrs[s->index % cfg.source_addrs.size()];
    s->sock.bind(tcp::endpoint(asio::ip::make_address(a, ec), 0), ec);
    if (ec) return End(s, "bind-" + ec.message());
  }
  s->sock.async_connect(server, [this, s, gen = s->gen](ErrorCode e) {
    if (gen == s->gen) OnConnected(s, e);
  });
}

void Loop::OnConnected(Session* s, ErrorCode ec) {
  if (s->closed) return;
  if (ec) return End(s, "connect-" + ec.message());
  s->sock.set_option(tcp::no_delay(true), ec);
  s->sock.non_blocking(true, ec);
  switch (cfg.protocol) {
    case Protocol::kParley:
    case Protocol::kWs:
    case Protocol::kSocketIo: {
      for (auto& b : s->key) b = static_cast<unsigned char>(Rand());
      std::string target =
          cfg.protocol == Protocol::kParley
              ? "/?v=10&encoding=" + std::string(encoding::EncodingName(cfg.encoding))
          : cfg.protocol == Protocol::kWs ? "/"
                                          : "/socket.io/?EIO=4&transport=websocket";
      if (Parley() && !cfg.compress.empty()) target += "&compress=" + cfg.compress;
      s->state = kHandshake;
      WriteRaw(s, ws::UpgradeRequest(cfg.host, cfg.port, target, s->key));
      break;
    }
    case Protocol::kNats:
      s->state = kHello;  // the server speaks first (INFO)
      break;
    case Protocol::kRedis:
      s->state = kIdentified;
      WriteRaw(s, peer::RedisCommand({"SUBSCRIBE", kPeerTopic}));
      break;
  }
  if (!s->closed) ArmRead(s);
}

void Loop::ArmRead(Session* s) {
  s->sock.async_wait(Socket::wait_read, [this, s, gen = s->gen](ErrorCode ec) {
    if (gen == s->gen) OnReadable(s, ec);  // else: the socket was replaced (storm)
  });
}

void Loop::OnReadable(Session* s, ErrorCode ec) {
  if (s->closed) return;
  if (ec) return End(s, "wait-" + ec.message());
  // A handler may end the connection and start a new one (resume on
  // loss): then nothing more of the old one is read or handled.
  const uint8_t gen = s->gen;
  for (int i = 0; i < 4 && !s->closed && s->gen == gen; ++i) {
    size_t n = s->sock.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      if (s->state == kClosing) return End(s, "closed");
      return End(s, ec == asio::error::eof ? "eof" : "read-" + ec.message());
    }
    Process(s, buf.data(), n);
    if (n < buf.size()) break;
  }
  if (!s->closed && s->gen == gen) ArmRead(s);
}

void Loop::Process(Session* s, const char* p, size_t n) {
  const uint8_t gen = s->gen;
  if (s->in && !s->in->empty()) {
    s->in->append(p, n);
    size_t used = Consume(s, s->in->data(), s->in->size());
    if (s->closed || s->gen != gen) return;
    if (used == s->in->size()) {
      s->in.reset();
    } else {
      s->in->erase(0, used);
    }
    return;
  }
  size_t used = Consume(s, p, n);
  if (s->closed || s->gen != gen || used == n) return;
  if (!s->in) s->in = std::make_unique<std::string>();
  s->in->assign(p + used, n - used);
}

// Handles every whole frame, line or reply in p; returns the bytes used.
size_t Loop::Consume(Session* s, const char* p, size_t n) {
  switch (cfg.protocol) {
    case Protocol::kNats:
      return ConsumeNats(s, p, n);
    case Protocol::kRedis:
      return ConsumeRedis(s, p, n);
    default:
      return ConsumeFrames(s, p, n);
  }
}

size_t Loop::ConsumeFrames(Session* s, const char* p, size_t n) {
  size_t pos = 0;
  std::string error;
  if (s->state == kHandshake) {
    switch (ws::ParseHandshake(p, n, s->key, &pos, &error)) {
      case ws::HandshakeResult::kNeedMore:
        return 0;
      case ws::HandshakeResult::kError:
        End(s, error);
        return 0;
      case ws::HandshakeResult::kOk:
        s->state = kHello;
        if (cfg.protocol == Protocol::kWs) OnReady(s);  // subscribed once upgraded
        break;
    }
  }
  const uint8_t gen = s->gen;  // a handler may replace the connection (resume)
  while (!s->closed && s->gen == gen && pos < n) {
    ws::Frame f;
    auto r = ws::ParseFrame(p + pos, n - pos, kMaxFrame, &f, &error);
    if (r == ws::FrameResult::kNeedMore) break;
    if (r == ws::FrameResult::kError) {
      End(s, error);
      return pos;
    }
    pos += f.size;
    frame_wire = f.size;
    frame_payload = f.payload.size();
    switch (f.opcode) {
      case 1:
        OnText(s, f.payload);
        break;
      case 2:
        if (!Parley()) {
          End(s, "unexpected-opcode-2");
          return pos;
        }
        OnBinary(s, f.payload);
        break;
      case 8: {
        int code = f.payload.size() >= 2 ? (static_cast<uint8_t>(f.payload[0]) << 8) |
                                               static_cast<uint8_t>(f.payload[1])
                                         : 1005;
        End(s, s->state == kClosing ? "closed" : "close-" + std::to_string(code));
        return pos;
      }
      case 9:
        SendFrame(s, 0xA, f.payload.substr(0, 125));
        break;
      case 10:
        break;
      default:
        End(s, "unexpected-opcode-" + std::to_string(f.opcode));
        return pos;
    }
  }
  return pos;
}

// NATS: INFO → CONNECT, SUB, PING; the PONG confirms the subscription.
size_t Loop::ConsumeNats(Session* s, const char* p, size_t n) {
  size_t pos = 0;
  while (!s->closed && pos < n) {
    peer::NatsEvent e;
    size_t used = peer::ParseNats(std::string_view(p + pos, n - pos), &e);
    if (used == 0) break;
    pos += used;
    switch (e.kind) {
      case peer::NatsEvent::kInfo:
        if (s->state == kHello) {
          s->state = kIdentified;
          WriteRaw(s, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB " +
                          std::string(kPeerTopic) + " 1\r\nPING\r\n");
        }
        break;
      case peer::NatsEvent::kPing:
        ++asks;
        WriteRaw(s, "PONG\r\n");
        break;
      case peer::NatsEvent::kPong:
        if (!s->ready) OnReady(s);
        break;
      case peer::NatsEvent::kMsg:
        OnText(s, e.payload);
        break;
      case peer::NatsEvent::kOk:
        break;
      case peer::NatsEvent::kErr:
        End(s, "nats-" + std::string(e.payload.substr(0, 40)));
        return pos;
      case peer::NatsEvent::kBad:
        End(s, "nats-bad-protocol");
        return pos;
    }
  }
  return pos;
}

// Redis: ["subscribe", topic, n] confirms; ["message", topic, payload] delivers.
size_t Loop::ConsumeRedis(Session* s, const char* p, size_t n) {
  size_t pos = 0;
  while (!s->closed && pos < n) {
    peer::RespReply r;
    size_t used = peer::ParseResp(std::string_view(p + pos, n - pos), &r);
    if (used == 0) break;
    pos += used;
    if (r.bad) {
      End(s, "redis-bad-protocol");
      return pos;
    }
    if (r.error) {
      End(s, "redis-" + std::string(r.items.empty() ? "" : r.items[0].substr(0, 40)));
      return pos;
    }
    if (r.items.size() == 3 && r.items[0] == "message") {
      OnText(s, r.items[2]);
    } else if (r.items.size() >= 2 && r.items[0] == "subscribe" && !s->ready) {
      OnReady(s);
    } else {
      ++other;
    }
  }
  return pos;
}

void Loop::OnText(Session* s, std::string_view p) {
  switch (cfg.protocol) {
    case Protocol::kParley:
      return OnGatewayPayload(s, p);
    case Protocol::kSocketIo:
      return OnSocketIoPacket(s, p);
    default:
      return OnMessage(s, p);
  }
}

// engine.io v4 packets over WebSocket: "0{...}" open, "2" ping, "4" + a
// socket.io packet: "0{...}" connected, "2[event, data]" an event.
void Loop::OnSocketIoPacket(Session* s, std::string_view p) {
  if (p.empty()) return;
  switch (p[0]) {
    case '0':
      if (s->state == kHello) {
        s->state = kIdentified;
        SendFrame(s, 1, "40");
      }
      return;
    case '2':
      ++asks;
      return SendFrame(s, 1, "3");
    case '1':
      return End(s, "engineio-close");
    case '4':
      if (p.size() >= 2 && p[1] == '0') {
        if (!s->ready) OnReady(s);
        return;
      }
      if (p.size() >= 2 && p[1] == '2') return OnMessage(s, p);
      if (p.size() >= 2 && p[1] == '4') return End(s, "socketio-connect-error");
      ++other;
      return;
    default:
      ++other;
  }
}

void Loop::OnBinary(Session* s, std::string_view p) {
  std::string error;
  if (s->inflate) {
    if (!s->inflate->Message(p, &inflated, &error)) return End(s, error);
    p = inflated;
    frame_payload = p.size();
  }
  if (cfg.encoding == encoding::Encoding::kJson) return OnGatewayPayload(s, p);
  // Decoded in full, as a client library does (erlpack, a MessagePack
  // decoder), into the JSON text the rest of this tool reads.
  decoded.clear();
  Status st = cfg.encoding == encoding::Encoding::kEtf
                  ? encoding::etf::ToJson(p, &decoded, /*atom_keys=*/true)
                  : encoding::msgpack::ToJson(p, &decoded);
  if (!st.ok()) return End(s, "decode-" + Sanitize(st.message()));
  OnGatewayPayload(s, decoded);
}

void Loop::SendGateway(Session* s, std::string_view json) {
  if (cfg.encoding == encoding::Encoding::kJson) return SendFrame(s, 1, json);
  std::string packed;
  Status st = cfg.encoding == encoding::Encoding::kEtf
                  ? encoding::etf::FromJson(json, &packed, encoding::etf::Keys::kBinaries)
                  : encoding::msgpack::FromJson(json, &packed);
  if (!st.ok()) return End(s, "encode-" + Sanitize(st.message()));
  SendFrame(s, 2, packed);
}

void Loop::OnGatewayPayload(Session* s, std::string_view p) {
  int64_t op = peer::IntAfter(p, "\"op\":");
  switch (op) {
    case 0: {
      int64_t seq = peer::IntAfter(p, "\"s\":");
      if (seq > 0) {
        if (s->last_s && seq != s->last_s + 1) ++seq_gaps;
        s->last_s = seq;
      }
      size_t t = p.find("\"t\":\"");
      std::string_view type;
      if (t != std::string_view::npos) {
        size_t e = p.find('"', t + 5);
        if (e != std::string_view::npos) type = p.substr(t + 5, e - t - 5);
      }
      if (type == "MESSAGE_CREATE") {
        ++step_messages;
        step_wire_bytes += frame_wire;
        step_payload_bytes += frame_payload;
        return OnMessage(s, p);
      }
      if (type == "GUILD_CREATE" && !s->ready) return OnReady(s);
      if (type == "RESUMED" && s->resuming) return OnResumed(s);
      if (type == "READY") {
        size_t k = p.find("\"session_id\":\"");
        if (k != std::string_view::npos) {
          size_t b = k + 14, e = p.find('"', b);
          if (e != std::string_view::npos)
            s->session_id = std::make_unique<std::string>(p.substr(b, e - b));
        }
        return;
      }
      ++other;
      return;
    }
    case 10: {
      int64_t iv = peer::IntAfter(p, "\"heartbeat_interval\":");
      if (iv > 0) interval_ms = iv;
      s->state = kIdentified;
      const std::string& token = cfg.tokens[s->index % cfg.tokens.size()];
      if (s->resuming && s->session_id) {
        return SendGateway(s, "{\"op\":6,\"d\":{\"token\":\"" + token + "\",\"session_id\":\"" +
                                  *s->session_id + "\",\"seq\":" + std::to_string(s->last_s) +
                                  "}}");
      }
      std::string id = "{\"op\":2,\"d\":{\"token\":\"" + token +
                       "\",\"intents\":" + std::to_string(cfg.intents) +
                       ",\"properties\":{\"os\":\"linux\",\"browser\":\"parley-load\","
                       "\"device\":\"parley-load\"}}}";
      return SendGateway(s, id);
    }
    case 11:
      ++acks;
      return;
    case 1:
      ++asks;
      return Beat(s);
    case 9:
      return End(s, s->resuming ? "resume-invalid-session" : "invalid-session");
    case 7:
      return End(s, "reconnect-requested");
    default:
      ++other;
  }
}

// A delivery: the content "plt:<step>:<send_ns>:<k>:..." somewhere in p
// (Parley: MESSAGE_CREATE JSON, ordered by the message id, the first "id"
// after the content; peers: the raw payload, ordered by k).
void Loop::OnMessage(Session* s, std::string_view p) {
  ++messages;
  int64_t now = NowNs();
  size_t c = p.find("plt:");
  if (c == std::string_view::npos) {
    ++other;
    return;
  }
  size_t e = 0;
  int64_t step_id = peer::IntAfter(p, "plt:", c, &e);
  int64_t sent = peer::IntAfter(p, ":", e, &e);
  int64_t k = peer::IntAfter(p, ":", e, &e);
  int64_t key = Parley() ? peer::IntAfter(p, "\"id\":\"", e) : k + 1;
  if (key < 0 || sent < 0 || step_id < 0) {
    ++other;
    return;
  }
  if (step_id != step) {
    ++other_step;
    return;
  }
  auto uid = static_cast<uint64_t>(key);
  bool dup = uid == s->last_id, reorder = uid < s->last_id;
  if (uid > s->last_id) s->last_id = uid;
  ++s->recv;
  if (dup) ++s->dups;
  if (reorder) ++s->reorders;
  if (sent >= warm_end && !dup) {
    ++measured;
    latency_us.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - sent) / 1000));
  }
}

void Loop::OnReady(Session* s) {
  int64_t now = NowNs();
  s->ready = true;
  s->state = kReady;
  ++ready;
  last_ready = std::max(last_ready, now);
  connect_us.Record(static_cast<uint64_t>((now - s->t0) / 1000));
  --inflight;
  if (Parley()) {
    // One heartbeat at once (acknowledges READY and GUILD_CREATE so the server
    // may drop them from its replay buffer), then every interval, the first
    // at a random point of it.
    Beat(s);
    int64_t iv = std::max<int64_t>(interval_ms, 1000);
    s->next_beat = now + static_cast<int64_t>(Rand() % static_cast<uint64_t>(iv)) * 1'000'000;
  }
  StartMore();
}

void Loop::OnResumed(Session* s) {
  int64_t now = NowNs();
  s->resuming = false;
  s->state = kReady;
  ++resumed;
  last_resumed = std::max(last_resumed, now);
  resume_us.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - drop_ns) / 1000));
  --inflight;
  Beat(s);
  StartMore();
}

void Loop::Beat(Session* s) {
  if (s->closed || !Parley()) return;
  std::string hb = s->last_s ? "{\"op\":1,\"d\":" + std::to_string(s->last_s) + "}"
                             : std::string("{\"op\":1,\"d\":null}");
  ++beats;
  s->next_beat = NowNs() + std::max<int64_t>(interval_ms, 1000) * 1'000'000;
  SendGateway(s, hb);
}

void Loop::SendFrame(Session* s, uint8_t opcode, std::string_view payload) {
  scratch.clear();
  ws::AppendFrame(&scratch, opcode, payload, static_cast<uint32_t>(Rand()));
  WriteRaw(s, scratch);
}

void Loop::WriteRaw(Session* s, std::string_view data) {
  if (s->closed) return;
  if (s->out && !s->out->empty()) {
    s->out->append(data);
    return;
  }
  ErrorCode ec;
  size_t n = s->sock.write_some(asio::buffer(data.data(), data.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    n = 0;
  } else if (ec) {
    return End(s, "write-" + ec.message());
  }
  if (n == data.size()) return;
  if (!s->out) s->out = std::make_unique<std::string>();
  s->out->assign(data.substr(n));
  ArmWrite(s);
}

void Loop::ArmWrite(Session* s) {
  if (s->write_armed) return;
  s->write_armed = true;
  s->sock.async_wait(Socket::wait_write, [this, s, gen = s->gen](ErrorCode ec) {
    if (gen != s->gen) return;  // the socket was replaced (storm)
    s->write_armed = false;
    if (s->closed) return;
    if (ec) return End(s, "wait-write-" + ec.message());
    if (!s->out) return;
    size_t n = s->sock.write_some(asio::buffer(*s->out), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again)
      return End(s, "write-" + ec.message());
    if (ec) n = 0;
    s->out->erase(0, n);
    if (s->out->empty()) {
      s->out.reset();
    } else {
      ArmWrite(s);
    }
  });
}

// Storm: the connection ends with a TCP reset (SO_LINGER 0), as when a
// network path dies, and the session queues to reconnect and Resume.
void Loop::Drop(Session* s) {
  if (s->closed || !s->ready || s->resuming || !s->session_id) return;
  linger lg{1, 0};
  setsockopt(s->sock.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  QueueResume(s);
}

void Loop::QueueResume(Session* s) {
  ErrorCode ec;
  s->sock.close(ec);
  s->in.reset();
  s->out.reset();
  s->write_armed = false;
  ++s->gen;
  s->resuming = true;
  s->state = kIdle;
  ++dropped_for_storm;
  to_resume.push_back(s);
}

namespace {
// Whether a client resumes after a connection that ended for `reason`
// (discord.js: not after 4004, 4010-4014 or op 9, which need a new Identify).
bool Resumable(const std::string& reason) {
  if (reason == "invalid-session" || reason == "closed") return false;
  // This tool's own decoding failed: a bug to report, not a loss to resume.
  for (const char* own : {"decode-", "encode-", "zlib-", "zstd-"}) {
    if (reason.rfind(own, 0) == 0) return false;
  }
  if (reason.rfind("close-", 0) == 0) {
    const int code = std::atoi(reason.c_str() + 6);
    return code != 1000 && code != 4004 && !(code >= 4010 && code <= 4014);
  }
  return true;
}
}  // namespace

void Loop::End(Session* s, const std::string& reason) {
  if (s->closed) return;
  if (cfg.resume_on_loss && s->ready && !s->resuming && !quitting && s->session_id &&
      Resumable(reason)) {
    // As a real client: reconnect and Resume (counted as a storm drop).
    if (drop_ns == 0) drop_ns = NowNs();
    QueueResume(s);
    StartMore();
    return;
  }
  s->closed = true;
  ErrorCode ec;
  s->sock.close(ec);
  s->in.reset();
  s->out.reset();
  if (!s->ready || s->resuming) {
    if (s->ready) {
      ++drops["resume-" + Sanitize(reason)];
    } else {
      ++failed;
      ++failures[Sanitize(reason)];
    }
    if (s->state != kIdle) --inflight;  // kIdle: still queued, no slot taken
    StartMore();
  } else if (!quitting) {
    ++drops[Sanitize(reason)];
  }
}

void Loop::Sweep() {
  int64_t now = NowNs();
  const int64_t timeout = static_cast<int64_t>(cfg.session_timeout_s) * 1'000'000'000;
  for (auto& s : sessions) {
    if (s.closed || s.state == kIdle) continue;
    if (!s.ready) {
      if (now - s.t0 > timeout) End(&s, "timeout-before-ready");
      continue;
    }
    if (s.resuming) {
      if (now - drop_ns > timeout) End(&s, "timeout-before-resumed");
      continue;
    }
    if (s.state == kReady && now >= s.next_beat) Beat(&s);
  }
  sweep.expires_after(std::chrono::milliseconds(250));
  sweep.async_wait([this](ErrorCode ec) {
    if (!ec) Sweep();
  });
}

// Close 1000 on every open session (the server then ends the session at once
// instead of keeping it resumable), wait up to 2 s for the server's close,
// then close what is left and stop. NATS and Redis have no close handshake.
void Loop::Quit(std::promise<void>* done) {
  quitting = true;
  for (auto& s : sessions) {
    if (s.closed) continue;
    if (s.state == kIdle) {
      s.closed = true;
      continue;
    }
    if (s.state >= kHello && OverWebSocket()) {
      SendFrame(&s, 8, std::string_view("\x03\xe8", 2));
      s.state = kClosing;
    } else {
      End(&s, "quit");
    }
  }
  auto t = std::make_shared<asio::steady_timer>(ioc);
  auto deadline = NowNs() + 2'000'000'000;
  auto check = std::make_shared<std::function<void()>>();
  *check = [this, t, deadline, check, done] {
    bool open = std::any_of(sessions.begin(), sessions.end(), [](auto& s) { return !s.closed; });
    if (open && NowNs() < deadline) {
      t->expires_after(std::chrono::milliseconds(50));
      t->async_wait([check](ErrorCode) { (*check)(); });
      return;
    }
    for (auto& s : sessions) End(&s, "quit");
    sweep.cancel();
    done->set_value();
    *check = nullptr;  // break the cycle
  };
  (*check)();
}

// Runs fn on every loop's thread and waits (bounded) for all of them.
template <typename Fn>
bool OnEachLoop(std::vector<std::unique_ptr<Loop>>& loops, Fn fn) {
  std::vector<std::future<void>> fs;
  for (auto& l : loops) {
    auto p = std::make_shared<std::promise<void>>();
    fs.push_back(p->get_future());
    asio::post(l->ioc, [p, fn, lp = l.get()] {
      fn(*lp);
      p->set_value();
    });
  }
  for (auto& f : fs) {
    if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) return false;
  }
  return true;
}

std::string Counts(const std::string& prefix, const std::map<std::string, uint64_t>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += " " + prefix + k + "=" + std::to_string(v);
  return s;
}

}  // namespace

int RunWorker(const WorkerConfig& cfg, int fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(static_cast<unsigned>(cfg.timeout_s + 60));
  LineChannel ch(fd);
  ErrorCode ec;
  tcp::endpoint server(asio::ip::make_address(cfg.host, ec), static_cast<unsigned short>(cfg.port));
  if (ec) return 2;
  std::vector<std::unique_ptr<Loop>> loops;
  for (int t = 0; t < cfg.threads; ++t) {
    loops.push_back(std::make_unique<Loop>(cfg));
    loops.back()->server = server;
    loops.back()->rng ^= static_cast<uint64_t>(NowNs()) * (2 * t + 1) + getpid();
  }
  for (int i = 0; i < cfg.count; ++i) {
    Loop* l = loops[i % cfg.threads].get();
    l->sessions.emplace_back(l, l->ioc);
    l->sessions.back().index = static_cast<uint32_t>(cfg.first + i);
  }
  std::vector<std::thread> threads;
  for (auto& l : loops) {
    l->Sweep();
    threads.emplace_back([lp = l.get()] {
      auto guard = asio::make_work_guard(lp->ioc);
      lp->ioc.run();
    });
  }
  int rc = 0;
  for (int n = 0; n < 10'000'000; ++n) {
    auto line = ch.Recv(1000);
    if (!line) {
      if (ch.eof() || getppid() == 1) break;  // parent gone
      continue;
    }
    std::string cmd = line->substr(0, line->find(' '));
    std::string arg = line->find(' ') == std::string::npos ? "" : line->substr(line->find(' ') + 1);
    if (cmd == "open") {
      OnEachLoop(loops, [](Loop& l) { l.StartMore(); });
      ch.Send("ok");
    } else if (cmd == "stats") {
      uint64_t ready = 0, failed = 0, alive = 0, beats = 0, acks = 0, asks = 0, other = 0;
      uint64_t messages = 0, gaps = 0, other_step = 0, dropped = 0, resumed = 0, resuming = 0;
      int64_t last_resumed = 0;
      int64_t first = 0, last = 0;
      std::map<std::string, uint64_t> failures, drops;
      OnEachLoop(loops, [&](Loop& l) {
        ready += l.ready;
        failed += l.failed;
        beats += l.beats;
        acks += l.acks;
        asks += l.asks;
        other += l.other;
        messages += l.messages;
        gaps += l.seq_gaps;
        other_step += l.other_step;
        dropped += l.dropped_for_storm;
        resumed += l.resumed;
        last_resumed = std::max(last_resumed, l.last_resumed);
        if (l.first_start && (!first || l.first_start < first)) first = l.first_start;
        last = std::max(last, l.last_ready);
        for (auto& s : l.sessions) {
          alive += s.ready && !s.closed && !s.resuming;
          resuming += s.resuming && !s.closed;
        }
        for (auto& [k, v] : l.failures) failures[k] += v;
        for (auto& [k, v] : l.drops) drops[k] += v;
      });
      ch.Send("stats ready=" + std::to_string(ready) + " failed=" + std::to_string(failed) +
              " alive=" + std::to_string(alive) + " beats=" + std::to_string(beats) +
              " acks=" + std::to_string(acks) + " asks=" + std::to_string(asks) +
              " other=" + std::to_string(other) + " messages=" + std::to_string(messages) +
              " seq_gaps=" + std::to_string(gaps) + " other_step=" + std::to_string(other_step) +
              " first_start=" + std::to_string(first) + " last_ready=" + std::to_string(last) +
              " storm_dropped=" + std::to_string(dropped) + " resumed=" + std::to_string(resumed) +
              " resuming=" + std::to_string(resuming) + " last_resumed=" +
              std::to_string(last_resumed) + " cpu=" + std::to_string(SelfCpuSeconds()) +
              Counts("f.", failures) + Counts("d.", drops));
    } else if (cmd == "mark") {
      // Storm with a killed node: resume latency counts from now.
      const int64_t now = NowNs();
      OnEachLoop(loops, [now](Loop& l) {
        l.drop_ns = now;
        l.resume_us.Reset();
      });
      ch.Send("ok");
    } else if (cmd == "drop") {
      // Storm: every ready session drops at once and queues to resume.
      const int64_t now = NowNs();
      OnEachLoop(loops, [now](Loop& l) {
        l.drop_ns = now;
        l.resume_us.Reset();
        for (auto& s : l.sessions) l.Drop(&s);
        l.StartMore();
      });
      ch.Send("ok");
    } else if (cmd == "resume") {
      Histogram h;
      OnEachLoop(loops, [&](Loop& l) { h.Add(l.resume_us); });
      ch.Send("resume " + h.Encode());
    } else if (cmd == "connect") {
      Histogram h;
      OnEachLoop(loops, [&](Loop& l) { h.Add(l.connect_us); });
      ch.Send("connect " + h.Encode());
    } else if (cmd == "step") {
      int64_t id = std::stoll(arg.substr(0, arg.find(' ')));
      int64_t warm_end = std::stoll(arg.substr(arg.find(' ') + 1));
      OnEachLoop(loops, [&](Loop& l) {
        l.step = id;
        l.warm_end = warm_end;
        l.measured = 0;
        l.step_messages = l.step_wire_bytes = l.step_payload_bytes = 0;
        l.latency_us.Reset();
        for (auto& s : l.sessions) {
          s.recv = s.dups = s.reorders = 0;
          s.last_id = 0;  // peers' order keys start again at 1 each step
        }
      });
      ch.Send("ok");
    } else if (cmd == "behind" || cmd == "report") {
      const uint64_t acked = std::stoull(arg);
      uint64_t behind = 0, loss_open = 0, loss_dropped = 0, lossy = 0, extra = 0, dups = 0;
      uint64_t reorders = 0, measured = 0, delivered = 0, messages = 0, wire = 0, payload = 0;
      Histogram h;
      const bool full = cmd == "report";
      OnEachLoop(loops, [&](Loop& l) {
        for (auto& s : l.sessions) {
          if (!s.ready) continue;  // never identified: counted as a failed session
          uint64_t uniq = s.recv - s.dups;
          delivered += uniq;
          if (uniq < acked) {
            (s.closed ? loss_dropped : loss_open) += acked - uniq;
            ++lossy;
            if (!s.closed) behind += acked - uniq;
          } else {
            extra += uniq - acked;
          }
          dups += s.dups;
          reorders += s.reorders;
        }
        if (full) {
          h.Add(l.latency_us);
          measured += l.measured;
          messages += l.step_messages;
          wire += l.step_wire_bytes;
          payload += l.step_payload_bytes;
        }
      });
      if (!full) {
        ch.Send("behind behind=" + std::to_string(behind));
      } else {
        ch.Send("report delivered=" + std::to_string(delivered) + " loss_open=" +
                std::to_string(loss_open) + " loss_dropped=" + std::to_string(loss_dropped) +
                " lossy_sessions=" + std::to_string(lossy) + " extra=" + std::to_string(extra) +
                " dups=" + std::to_string(dups) + " reorders=" + std::to_string(reorders) +
                " measured=" + std::to_string(measured) + " messages=" + std::to_string(messages) +
                " wire_bytes=" + std::to_string(wire) +
                " payload_bytes=" + std::to_string(payload) +
                " cpu=" + std::to_string(SelfCpuSeconds()) + " h=" + h.Encode());
      }
    } else if (cmd == "quit") {
      break;
    } else {
      ch.Send("error unknown-command");
    }
  }
  std::vector<std::promise<void>> dones(loops.size());
  std::vector<std::future<void>> fs;
  for (size_t i = 0; i < loops.size(); ++i) {
    fs.push_back(dones[i].get_future());
    asio::post(loops[i]->ioc, [l = loops[i].get(), d = &dones[i]] { l->Quit(d); });
  }
  for (auto& f : fs) {
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) rc = 3;
  }
  for (auto& l : loops) l->ioc.stop();
  for (auto& t : threads) t.join();
  ch.Send("bye");
  return rc;
}

// ------------------------------------------------------------- LineChannel

bool LineChannel::Send(const std::string& line) {
  std::string s = line + "\n";
  size_t off = 0;
  for (int i = 0; off < s.size() && i < 100'000; ++i) {
    ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return off == s.size();
}

std::optional<std::string> LineChannel::Recv(int timeout_ms) {
  const int64_t deadline = NowNs() + static_cast<int64_t>(timeout_ms) * 1'000'000;
  for (int i = 0; i < 1'000'000; ++i) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    int64_t left = (deadline - NowNs()) / 1'000'000;
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char tmp[65536];
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      return std::nullopt;
    }
    buf_.append(tmp, static_cast<size_t>(n));
  }
  return std::nullopt;
}

std::string Field(const std::string& line, const std::string& key) {
  std::string k = " " + key + "=";
  size_t p = line.find(k);
  if (p == std::string::npos) return "";
  p += k.size();
  size_t e = line.find(' ', p);
  return line.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

double NumField(const std::string& line, const std::string& key) {
  std::string v = Field(line, key);
  return v.empty() ? 0.0 : std::stod(v);
}

}  // namespace parley::load
