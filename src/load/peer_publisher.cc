#include "load/peer_publisher.h"

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <cstring>

#include "load/peer_wire.h"
#include "load/sysinfo.h"
#include "load/ws_client_codec.h"

namespace parley::load {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

PeerPublisher::PeerPublisher(Protocol protocol, std::string host, int port, int size)
    : Publisher(size), protocol_(protocol), host_(std::move(host)), port_(port) {}

PeerPublisher::~PeerPublisher() {
  ErrorCode ec;
  sock_.close(ec);
}

bool PeerPublisher::Connect(std::string* error) {
  ioc_.restart();
  ioc_.poll();
  if (!dead_) return true;
  ErrorCode ec;
  sock_.close(ec);
  sock_ = tcp::socket(ioc_);
  tcp::endpoint ep(asio::ip::make_address(host_, ec), static_cast<unsigned short>(port_));
  if (ec) {
    *error = "bad address " + host_;
    return false;
  }
  sock_.connect(ep, ec);
  if (ec) {
    *error = "connect: " + ec.message();
    return false;
  }
  sock_.set_option(tcp::no_delay(true));
  timeval tv{10, 0};
  setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  in_.clear();
  out_.clear();
  inflight_.clear();
  writing_ = false;
  if (!Handshake(error)) {
    sock_.close(ec);
    return false;
  }
  dead_ = false;
  ++gen_;
  StartRead();
  return true;
}

bool PeerPublisher::ReadSome(std::string* error) {
  ErrorCode ec;
  size_t n = sock_.read_some(asio::buffer(buf_), ec);
  if (ec) {
    *error = "handshake read: " + ec.message();
    return false;
  }
  in_.append(buf_, n);
  return true;
}

bool PeerPublisher::Handshake(std::string* error) {
  ErrorCode ec;
  if (protocol_ == Protocol::kRedis) return true;
  if (protocol_ == Protocol::kNats) {
    // INFO, then CONNECT (verbose: +OK per PUB is the ack) and PING → PONG.
    for (int i = 0; i < 100 && in_.find("\r\n") == std::string::npos; ++i)
      if (!ReadSome(error)) return false;
    if (in_.rfind("INFO", 0) != 0) {
      *error = "nats: no INFO";
      return false;
    }
    asio::write(
        sock_,
        asio::buffer(std::string("CONNECT {\"verbose\":true,\"pedantic\":false}\r\nPING\r\n")), ec);
    for (int i = 0; i < 100 && in_.find("PONG\r\n") == std::string::npos; ++i)
      if (!ReadSome(error)) return false;
    in_.clear();
    return !ec;
  }
  unsigned char key[16];
  for (auto& b : key) {
    rng_ = rng_ * 6364136223846793005ull + 1;  // an LCG is plenty for a handshake nonce
    b = static_cast<unsigned char>(rng_ >> 33);
  }
  const char* target = protocol_ == Protocol::kWs ? "/" : "/socket.io/?EIO=4&transport=websocket";
  asio::write(sock_, asio::buffer(ws::UpgradeRequest(host_, port_, target, key)), ec);
  if (ec) {
    *error = "handshake write: " + ec.message();
    return false;
  }
  size_t used = 0;
  for (int i = 0;; ++i) {
    auto r = ws::ParseHandshake(in_.data(), in_.size(), key, &used, error);
    if (r == ws::HandshakeResult::kError) return false;
    if (r == ws::HandshakeResult::kOk) break;
    if (i == 100 || !ReadSome(error)) return false;
  }
  in_.erase(0, used);
  if (protocol_ == Protocol::kWs) return true;
  // socket.io: engine.io open "0{...}", then "40" → "40{...}".
  bool sent_connect = false;
  for (int i = 0; i < 200; ++i) {
    ws::Frame f;
    auto r = ws::ParseFrame(in_.data(), in_.size(), 1 << 20, &f, error);
    if (r == ws::FrameResult::kError) return false;
    if (r == ws::FrameResult::kNeedMore) {
      if (!ReadSome(error)) return false;
      continue;
    }
    std::string p(f.payload);
    in_.erase(0, f.size);
    if (!sent_connect && !p.empty() && p[0] == '0') {
      std::string frame;
      ws::AppendFrame(&frame, 1, "40", static_cast<uint32_t>(rng_));
      asio::write(sock_, asio::buffer(frame), ec);
      sent_connect = true;
    } else if (p.rfind("40", 0) == 0) {
      return true;
    } else if (p.rfind("44", 0) == 0) {
      *error = "socket.io connect error " + p;
      return false;
    }
  }
  *error = "socket.io: no connect reply";
  return false;
}

void PeerPublisher::Send(uint64_t k) {
  const int64_t now = NoteSend(k);
  ++outstanding_;
  if (dead_) return Failed("no-connection");
  if (!inflight_.empty()) ++st_.pipelined;
  const std::string content = Content(k);
  std::string wire;
  switch (protocol_) {
    case Protocol::kWs:
      ws::AppendFrame(&wire, 1, content, static_cast<uint32_t>(rng_ += 0x9e3779b97f4a7c15ull));
      break;
    case Protocol::kSocketIo:
      ws::AppendFrame(&wire, 1, "42" + std::to_string(k) + "[\"msg\",\"" + content + "\"]",
                      static_cast<uint32_t>(rng_ += 0x9e3779b97f4a7c15ull));
      break;
    case Protocol::kNats:
      wire = "PUB " + std::string(kPeerTopic) + " " + std::to_string(content.size()) + "\r\n" +
             content + "\r\n";
      break;
    case Protocol::kRedis:
      wire = peer::RedisCommand({"PUBLISH", kPeerTopic, content});
      break;
    case Protocol::kParley:
      return Failed("wrong-protocol");
  }
  inflight_.push_back(now);
  ++st_.sent;
  Write(std::move(wire));
}

void PeerPublisher::Write(std::string bytes) {
  out_ += bytes;
  if (!writing_ && !dead_) StartWrite();
}

void PeerPublisher::StartWrite() {
  writing_ = true;
  sending_.swap(out_);
  out_.clear();
  asio::async_write(sock_, asio::buffer(sending_), [this, gen = gen_](ErrorCode ec, size_t) {
    if (gen != gen_ || dead_) return;
    writing_ = false;
    if (ec) return Fail("conn-error");
    if (!out_.empty()) StartWrite();
  });
}

void PeerPublisher::StartRead() {
  sock_.async_read_some(asio::buffer(buf_), [this, gen = gen_](ErrorCode ec, size_t n) {
    if (gen != gen_ || dead_) return;
    if (ec) return Fail(ec == asio::error::eof ? "conn-closed" : "conn-error");
    in_.append(buf_, n);
    OnBytes();
    if (!dead_) StartRead();
  });
}

void PeerPublisher::Reply(bool ok, const std::string& failure) {
  if (inflight_.empty()) return;  // an answer to nothing we sent: ignore
  int64_t sent = inflight_.front();
  inflight_.pop_front();
  if (ok) {
    Acked(sent);
  } else {
    Failed(failure);
  }
}

void PeerPublisher::OnBytes() {
  size_t pos = 0;
  std::string error;
  while (!dead_ && pos < in_.size()) {
    std::string_view rest(in_.data() + pos, in_.size() - pos);
    if (protocol_ == Protocol::kNats) {
      peer::NatsEvent e;
      size_t used = peer::ParseNats(rest, &e);
      if (!used) break;
      pos += used;
      if (e.kind == peer::NatsEvent::kOk) Reply(true, "");
      if (e.kind == peer::NatsEvent::kErr) Reply(false, "nats-err");
      if (e.kind == peer::NatsEvent::kPing) Write("PONG\r\n");
      if (e.kind == peer::NatsEvent::kBad) return Fail("nats-bad-protocol");
    } else if (protocol_ == Protocol::kRedis) {
      peer::RespReply r;
      size_t used = peer::ParseResp(rest, &r);
      if (!used) break;
      pos += used;
      if (r.bad) return Fail("redis-bad-protocol");
      Reply(!r.error, "redis-error");
    } else {
      ws::Frame f;
      auto r = ws::ParseFrame(rest.data(), rest.size(), 1 << 20, &f, &error);
      if (r == ws::FrameResult::kNeedMore) break;
      if (r == ws::FrameResult::kError) return Fail(error);
      pos += f.size;
      if (f.opcode == 9) {
        std::string pong;
        ws::AppendFrame(&pong, 0xA, f.payload.substr(0, 125), static_cast<uint32_t>(rng_));
        Write(std::move(pong));
      } else if (f.opcode == 8) {
        return Fail("closed-by-peer");
      } else if (f.opcode == 1) {
        if (protocol_ == Protocol::kWs) {
          if (f.payload == "ack") Reply(true, "");
        } else if (f.payload == "2") {  // engine.io ping
          std::string pong;
          ws::AppendFrame(&pong, 1, "3", static_cast<uint32_t>(rng_));
          Write(std::move(pong));
        } else if (f.payload.rfind("43", 0) == 0) {
          Reply(true, "");
        }
      }
    }
  }
  in_.erase(0, pos);
}

void PeerPublisher::Fail(const std::string& reason) {
  while (!inflight_.empty()) Reply(false, reason);
  dead_ = true;
  ++gen_;
  ErrorCode ec;
  sock_.close(ec);
}

void PeerPublisher::AbandonOutstanding() {
  if (!inflight_.empty()) Fail("reply-timeout");
}

}  // namespace parley::load
