// Conn: the RFC 6455 connection of one gateway client over a raw Asio
// socket. Reads wait for readiness (async_wait) and then recv() into the
// loop's shared buffer, so an idle connection holds no read buffer; writes
// are queued in out_ and flushed once per loop iteration (LoopHub::FlushDirty)
// with non-blocking send(), waiting for writability only when the kernel
// buffer is full. Beast's websocket::stream costs ~2.8 KB per connection;
// this layer's Conn is ~250 bytes (docs/gateway.md, bench/RESULTS.md).
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdint>
#include <utility>

#include "gateway/loop_hub.h"
#include "metrics/server_metrics.h"

namespace parley::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Conn::Conn(LoopHub* hub, Socket&& socket, Compression c, Encoding e, uint32_t max_frame)
    : hub_(hub),
      socket_(std::move(socket)),
      parser_(max_frame),
      compressor_(c, hub->gw().options().compression),
      encoding_(static_cast<uint8_t>(e)) {
  const int64_t now = hub_->now_ms();
  deadline_base_ms_ = static_cast<uint32_t>(now);
  opened_ms_ = static_cast<uint32_t>(now);
  window_start_s_ = static_cast<uint32_t>(now / 1000);
}

Conn::~Conn() {
  if (auto* counts = hub_->gw().options().per_address) counts->Release(address_slot_);
}

void Conn::set_session(Session* s) {
  if ((session_ == nullptr) != (s == nullptr))
    hub_->gw().identified_.fetch_add(s ? 1 : -1, std::memory_order_relaxed);
  session_ = s;
}

void Conn::Start(std::string_view leftover) {
  hub_->Add(this);
  if (!leftover.empty()) {
    std::string copy(leftover);
    auto st = parser_.Consume(
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(copy.data()), copy.size()), *this);
    if (phase_ == Phase::kGone) return;
    if (st == net::WsFrameParser::Status::kFailed) Close(parser_.close_code(), "");
    if (st == net::WsFrameParser::Status::kStopped) return;  // migrated
  }
  WaitRead();
}

void Conn::WaitRead() {
  socket_.async_wait(tcp::socket::wait_read,
                     [self = boost::intrusive_ptr<Conn>(this)](boost::system::error_code ec) {
                       self->OnReadable(ec);
                     });
}

void Conn::OnReadable(boost::system::error_code ec) {
  if (phase_ == Phase::kGone) return;
  if (ec) return Gone();
  uint8_t* buf = hub_->read_buffer();
  ssize_t n = ::recv(socket_.native_handle(), buf, LoopHub::kReadBufferSize, MSG_DONTWAIT);
  if (n == 0) return Gone();
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return WaitRead();
    return Gone();
  }
  if (phase_ == Phase::kClosing) return WaitRead();  // discard until the peer closes
  auto st = parser_.Consume(std::span<uint8_t>(buf, static_cast<size_t>(n)), *this);
  if (phase_ == Phase::kGone) return;
  switch (st) {
    case net::WsFrameParser::Status::kOk:
      break;
    case net::WsFrameParser::Status::kFailed:
      Close(parser_.close_code(), "");
      break;
    case net::WsFrameParser::Status::kStopped:
      // A handler stopped parsing: either it closed the connection, or the
      // connection moved to another loop (MigrateTo) and is Gone here.
      if (phase_ == Phase::kGone) return;
      break;
    case net::WsFrameParser::Status::kClosed:
      break;
  }
  WaitRead();
}

bool Conn::OnMessage(net::WsOpcode opcode, std::string_view payload) {
  if (phase_ != Phase::kOpen) return false;
  int64_t now = hub_->now_ms();
  const auto now_s = static_cast<uint32_t>(now / 1000);
  if (now_s - window_start_s_ >= 60) {
    window_start_s_ = now_s;
    window_count_ = 0;
  }
  if (++window_count_ > 120) {
    Close(close_code::kRateLimited, "rate limited");
    return false;
  }
  // JSON comes in text frames, ETF and MessagePack in binary ones.
  if ((opcode == net::WsOpcode::kBinary) != encoding::IsBinary(encoding())) {
    Close(close_code::kDecodeError, opcode == net::WsOpcode::kBinary
                                        ? "binary payloads need encoding=etf or msgpack"
                                        : "text payloads need encoding=json");
    return false;
  }
  std::string_view json = payload;
  static thread_local std::string decoded;
  if (encoding() != Encoding::kJson) {
    // The size limit is on what the client sent; its JSON form may be larger.
    if (payload.size() > kMaxClientPayloadBytes) {
      Close(close_code::kDecodeError, "payload too large");
      return false;
    }
    decoded.clear();
    if (Status s = encoding::ToJson(encoding(), payload, &decoded); !s.ok()) {
      spdlog::debug("gateway: closing 4002 ({}) after a {} payload of {} bytes", s.message(),
                    encoding::EncodingName(encoding()), payload.size());
      Close(close_code::kDecodeError, s.message());
      return false;
    }
    json = decoded;
  }
  ClientPayload p;
  DecodeError err;
  if (!DecodeClientPayload(json, &p, &err,
                           encoding() == Encoding::kJson ? kMaxClientPayloadBytes : SIZE_MAX)) {
    spdlog::debug("gateway: closing {} ({}) after payload {:.200}", err.close_code, err.reason,
                  payload);
    Close(err.close_code, err.reason);
    return false;
  }
  return hub_->HandlePayload(this, p) && phase_ == Phase::kOpen;
}

bool Conn::OnPing(std::string_view payload) {
  if (phase_ != Phase::kOpen) return true;
  net::AppendPongFrame(&Out(), payload);
  // Pongs count against --max-pending-bytes like dispatches: a client that
  // pings and never reads is a slow consumer (closed with 4000).
  Queued();
  return true;
}

std::string& Conn::Out() {
  if (!out_) out_ = hub_->TakeBuffer();
  return *out_;
}

void Conn::OnClose(uint16_t code, std::string_view) {
  // 1000/1001 end the session (the client is leaving); anything else (4200
  // from discord.js, 1006...) keeps it for a resume.
  bool end = code == net::kWsCloseNormal || code == net::kWsCloseGoingAway;
  if (phase_ != Phase::kOpen) return;
  BeginClosing(end);
  net::AppendCloseFrame(&Out(), code == net::kWsCloseNoStatus ? net::kWsCloseNormal : code);
  MarkDirty();
}

void Conn::AppendMessage(std::string_view payload) {
  auto& m = metrics::M();
  const int mode = static_cast<int>(compressor_.mode());
  const size_t before = pending();
  m.bytes_raw[mode]->Inc(payload.size());
  if (compressor_.mode() == Compression::kNone) {
    if (encoding::IsBinary(encoding())) {
      net::AppendBinaryFrame(&Out(), payload);
    } else {
      net::AppendTextFrame(&Out(), payload);
    }
  } else {
    static thread_local std::string packed;
    packed.clear();
    if (Status s = compressor_.Compress(payload, &packed); !s.ok()) {
      spdlog::warn("gateway compression failed: {}", s.ToString());
      Close(close_code::kUnknownError, "compression failed");
      return;
    }
    net::AppendBinaryFrame(&Out(), packed);
  }
  m.bytes_wire[mode]->Inc(pending() - before);
  Queued();
}

void Conn::Queued() {
  if (pending() > hub_->gw().options().max_pending_bytes) {
    // A slow consumer: never let its backlog grow without bound. It may
    // resume and catch up from its replay ring.
    hub_->gw().slow_consumers_.fetch_add(1, std::memory_order_relaxed);
    metrics::M().gateway_slow_consumers->Inc();
    Close(close_code::kUnknownError, "slow consumer");
    return;
  }
  MarkDirty();
}

void Conn::SendDispatch(const Frame& json_frame, uint64_t seq) {
  if (phase_ != Phase::kOpen) return;
  const Frame& f = json_frame.In(encoding());  // re-encoded once per event
  hub_->gw().dispatches_.fetch_add(1, std::memory_order_relaxed);
  metrics::M().dispatches[f.type]->Inc();
  hub_->NoteDelivery(f.created_ns);
  if (compressor_.mode() == Compression::kNone) {
    // Straight into the output buffer: header, then head + seq + tail.
    std::string& out = Out();
    const size_t before = pending();
    const size_t n = f.size_with_seq(seq);
    net::AppendFrameHeader(
        &out, encoding::IsBinary(encoding()) ? net::WsOpcode::kBinary : net::WsOpcode::kText, n);
    AppendPayload(&out, f, seq);
    metrics::M().bytes_raw[0]->Inc(n);
    metrics::M().bytes_wire[0]->Inc(pending() - before);
    Queued();
    return;
  }
  static thread_local std::string text;
  text.clear();
  AppendPayload(&text, f, seq);
  AppendMessage(text);
}

void Conn::SendPayload(std::string_view json) {
  if (phase_ != Phase::kOpen) return;
  if (encoding() == Encoding::kJson) return AppendMessage(json);
  // Per connection, but only the few payloads that are not events (Hello,
  // heartbeat ACKs, op 9, READY's parts are dispatches): cheap next to
  // their round trip.
  static thread_local std::string encoded;
  encoded.clear();
  if (Status s = encoding::FromJson(encoding(), json, &encoded); !s.ok()) {
    spdlog::error("gateway: payload not re-encoded ({}): {:.80}", s.message(), json);
    Close(close_code::kUnknownError, "encoding failed");
    return;
  }
  AppendMessage(encoded);
}

void Conn::BeginClosing(bool end_session) {
  if (session_) {
    Session* s = session_;
    set_session(nullptr);
    s->conn = nullptr;
    if (end_session)
      hub_->EndSession(s);
    else
      hub_->Detach(s);
  }
  phase_ = Phase::kClosing;
  // The peer's close may take this long.
  deadline_base_ms_ = static_cast<uint32_t>(hub_->now_ms() + 2000);
}

void Conn::Close(uint16_t code, std::string_view reason, bool end_session) {
  if (phase_ != Phase::kOpen) return;
  metrics::M().CountClose(code);
  spdlog::debug("gateway: close {} ({})", code, reason);
  BeginClosing(end_session);
  // Close frames are never compressed (they are WebSocket control frames).
  std::string_view r = reason.substr(0, 100);
  if (!net::IsValidUtf8(r)) r = {};
  net::AppendCloseFrame(&Out(), code, r);
  MarkDirty();
}

void Conn::Gone() {
  if (phase_ == Phase::kGone) return;
  boost::intrusive_ptr<Conn> keep(this);  // Unlink drops the list's reference
  phase_ = Phase::kGone;
  if (session_) {
    Session* s = session_;
    set_session(nullptr);
    s->conn = nullptr;
    hub_->Detach(s);
  }
  Unlink();
  boost::system::error_code ec;
  socket_.close(ec);
  out_.reset();
  out_sent_ = 0;
  compressor_.Reset();
}

void Conn::Unlink() {
  hub_->Remove(this);
}

void Conn::MarkDirty() {
  if (dirty_ || write_waiting_ || phase_ == Phase::kGone) return;
  dirty_ = true;
  hub_->MarkDirty(boost::intrusive_ptr<Conn>(this));
}

void Conn::Flush() {
  dirty_ = false;
  if (phase_ == Phase::kGone || write_waiting_) return;
  while (out_ && out_sent_ < out_->size()) {
    ssize_t n = ::send(socket_.native_handle(), out_->data() + out_sent_, out_->size() - out_sent_,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    metrics::M().gateway_socket_writes->Inc();
    if (n > 0) {
      out_sent_ += static_cast<uint32_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return WaitWrite();
    if (n < 0 && errno == EINTR) continue;
    return Gone();
  }
  // Everything written: give the buffer back, so that idle connections hold
  // none (keeping even 1-4 KB per socket would blow the per-session budget).
  hub_->GiveBuffer(std::move(out_));
  out_sent_ = 0;
  if (phase_ == Phase::kClosing && !shut_down_) {
    shut_down_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
  }
}

void Conn::WaitWrite() {
  write_waiting_ = true;
  socket_.async_wait(tcp::socket::wait_write,
                     [self = boost::intrusive_ptr<Conn>(this)](boost::system::error_code ec) {
                       self->write_waiting_ = false;
                       if (self->phase_ == Phase::kGone) return;
                       if (ec) return self->Gone();
                       // Compact before writing on: keep only the unsent bytes.
                       if (self->out_ && self->out_sent_ > 0) {
                         self->out_->erase(0, self->out_sent_);
                         self->out_sent_ = 0;
                       }
                       self->Flush();
                     });
}

void Conn::CheckDeadlines(int64_t now) {
  if (phase_ == Phase::kClosing) {
    if (static_cast<int32_t>(static_cast<uint32_t>(now) - deadline_base_ms_) >= 0) Gone();
    return;
  }
  if (phase_ != Phase::kOpen) return;
  const GatewayOptions& o = hub_->gw().options();
  if (session_ == nullptr && o.identify_timeout_ms > 0 &&
      static_cast<uint32_t>(now) - opened_ms_ >= static_cast<uint32_t>(o.identify_timeout_ms)) {
    Close(close_code::kNotAuthenticated, "identify timeout");
    return;
  }
  const int64_t interval = o.heartbeat_interval_ms;
  const int64_t since = static_cast<int32_t>(static_cast<uint32_t>(now) - deadline_base_ms_);
  if (since >= 2 * interval) {
    Close(close_code::kSessionTimedOut, "heartbeat timeout");
    return;
  }
  if (!asked_beat_ && since >= interval + interval / 4) {
    asked_beat_ = true;
    std::string p = "{\"op\":1,\"d\":";
    p += session_ ? std::to_string(session_->seq) : std::string("null");
    p += ",\"s\":null,\"t\":null}";
    SendPayload(p);
  }
}

void Conn::MigrateTo(int to, std::function<void(Conn*)> then) {
  // Hand the descriptor over; this Conn is done (its pending wait completes
  // with operation_aborted and finds it Gone).
  boost::system::error_code ec;
  auto proto = socket_.local_endpoint(ec).protocol();
  if (ec) return Gone();
  int fd = socket_.release(ec);
  if (ec) return Gone();
  boost::intrusive_ptr<Conn> keep(this);
  struct Moved {
    int fd;
    tcp protocol;
    Compression mode;
    Encoding encoding;
    std::string out;
    uint32_t deadline_base;
    uint32_t address_slot;
    uint32_t window_start;
    uint16_t window_count;
    std::string host;
  };
  auto m = std::make_shared<Moved>(Moved{fd, proto, compressor_.mode(), encoding(),
                                         out_ ? out_->substr(out_sent_) : std::string(),
                                         deadline_base_ms_, std::exchange(address_slot_, 0u),
                                         window_start_s_, window_count_, hub_->TakeHost(this)});
  // The compressed stream cannot move mid-stream without its state: move it.
  auto comp = std::make_shared<TransportCompressor>(std::move(compressor_));
  phase_ = Phase::kGone;
  Unlink();
  out_.reset();
  Gateway* gw = &hub_->gw();
  uint32_t max_frame = parser_.max_message_size();
  gw->loops().Post(to, [gw, to, m, comp, max_frame, then = std::move(then)] {
    LoopHub& hub = gw->hub(to);
    Socket sock(hub.ctx());
    boost::system::error_code ec2;
    sock.assign(m->protocol, m->fd, ec2);
    if (ec2) {
      ::close(m->fd);
      if (auto* counts = gw->options().per_address) counts->Release(m->address_slot);
      return;
    }
    boost::intrusive_ptr<Conn> c(new Conn(&hub, std::move(sock), m->mode, m->encoding, max_frame));
    c->compressor_ = std::move(*comp);
    if (!m->out.empty()) c->out_ = std::make_unique<std::string>(std::move(m->out));
    c->deadline_base_ms_ = m->deadline_base;
    c->address_slot_ = m->address_slot;
    c->window_start_s_ = m->window_start;
    c->window_count_ = m->window_count;
    hub.Add(c.get());
    if (!m->host.empty()) hub.SetHost(c.get(), std::move(m->host));
    then(c.get());
    if (c->phase_ == Phase::kGone) return;
    c->MarkDirty();
    c->WaitRead();
  });
}

}  // namespace parley::gateway

namespace parley::gateway {
// The idle-session budget (<= 1 KB, bench/RESULTS.md) is tight: a Conn must
// stay in jemalloc's 160-byte size class.
static_assert(sizeof(Conn) <= 160, "Conn grew past its size class");
}  // namespace parley::gateway
