// Publishes to a peer (bench/peers/) over one connection in its own
// protocol, on the open-loop schedule of Publisher:
//   ws        a masked text frame; the peer answers the sender "ack"
//   socketio  42<id>["msg","<content>"]; the ack is 43<id>[]
//   nats      PUB bench <n>; with verbose on, +OK acknowledges each PUB
//   redis     PUBLISH bench <content>; the :<receivers> reply acknowledges
// One connection keeps the peer's per-connection order, which is what the
// receivers check (order key: k).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <string>

#include "load/protocol.h"
#include "load/publisher.h"

namespace parley::load {

class PeerPublisher final : public Publisher {
 public:
  // REQUIRES: protocol != Protocol::kParley.
  PeerPublisher(Protocol protocol, std::string host, int port, int size);
  ~PeerPublisher() override;
  bool Connect(std::string* error) override;

 private:
  void Send(uint64_t k) override;
  void AbandonOutstanding() override;
  // Blocking handshake on a fresh connection (≤ 10 s).
  bool Handshake(std::string* error);
  bool ReadSome(std::string* error);  // blocking, into in_
  void StartRead();
  void OnBytes();
  void Reply(bool ok, const std::string& failure);
  void Write(std::string bytes);
  void StartWrite();
  void Fail(const std::string& reason);

  Protocol protocol_;
  std::string host_;
  int port_;
  boost::asio::ip::tcp::socket sock_{ioc_};
  bool dead_ = true, writing_ = false;
  uint64_t gen_ = 0;
  std::string in_, out_, sending_;
  std::deque<int64_t> inflight_;  // send time of each message awaiting its ack
  char buf_[64 * 1024];
  uint64_t rng_ = 0x2545f4914f6cdd1dull;
};

}  // namespace parley::load
