// The open-loop message schedule shared by every publisher: message k of a
// step is sent at start + k/rate whatever happened to earlier ones, so a slow
// reply never delays the next send (no coordinated omission). The content
// carries the scheduled send time: "plt:<step>:<send_ns>:<k>:" padded with
// 'x' to `size` bytes. Subclasses put messages on the wire: RestPublisher
// (rest.h, Parley's REST API) and PeerPublisher (peer_publisher.h).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <map>
#include <string>

#include "load/histogram.h"

namespace parley::load {

class Publisher {
 public:
  struct StepStats {
    uint64_t scheduled = 0, sent = 0, acked = 0, failed = 0, pipelined = 0;
    std::map<std::string, uint64_t> failures;  // "http-429", "conn-error", ...
    int64_t max_lag_ns = 0;                    // worst send time behind schedule
    uint64_t late_1ms = 0;                     // sends more than 1 ms behind schedule
    Histogram ack_us;                          // reply latency (send → acknowledged)
    int64_t first_send_ns = 0, last_send_ns = 0;
    bool replies_complete = true;  // every reply arrived before the deadline
  };

  explicit Publisher(int size) : size_(size) {}
  virtual ~Publisher() = default;
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // (Re)opens what is not open. False if nothing could be opened.
  virtual bool Connect(std::string* error) = 0;

  // Sends round(rate * duration_s) messages starting at start_ns and waits for
  // their acknowledgements (at most reply_wait_s after the last send).
  // Progress on stderr every second when `progress` is set.
  StepStats RunStep(int step, double rate, double duration_s, int64_t start_ns, double reply_wait_s,
                    bool progress);

 protected:
  // Puts message k on the wire (or counts it failed); every message sent
  // ends in exactly one Acked() or Failed().
  virtual void Send(uint64_t k) = 0;
  // The deadline passed: every unacknowledged message fails ("reply-timeout").
  virtual void AbandonOutstanding() = 0;

  // Scheduling bookkeeping for message k at its send; returns now.
  int64_t NoteSend(uint64_t k);
  int64_t Scheduled(uint64_t k) const;
  std::string Content(uint64_t k) const;
  void Acked(int64_t sent_ns);
  void Failed(const std::string& reason);

  boost::asio::io_context ioc_;
  StepStats st_;
  uint64_t outstanding_ = 0;  // sent, neither acked nor failed
  int size_;

 private:
  int step_ = 0;
  double rate_ = 0;
  int64_t start_ns_ = 0;
};

}  // namespace parley::load
