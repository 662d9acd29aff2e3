// RedisBus: the cluster's Bus (cluster/bus.h) on Redis pub/sub, through
// hiredis 0.14 on two threads of its own (never an event loop): one
// publishes, pipelining whatever is queued into one write; one subscribes
// (once per node, whatever the number of sessions) and hands what it
// receives to the listener. Each reconnects by itself with backoff (100 ms
// doubling to 2 s); while a link is down, publishing drops (and counts) and
// the listener hears OnLinkChanged(false). The receiving link sends a PING
// every second and counts as dead when no answer came for 3 s (a silently
// broken connection, Centrifugo #1189), then reconnects.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/bus.h"
#include "util/mutex.h"
#include "util/status.h"

namespace parley::cluster {

class RedisBus : public Bus {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string channel = "parley:bus";  // one pub/sub channel per cluster
    int node_id = 0;                     // this node (its messages are not heard back)
    size_t max_queue = 65536;            // messages waiting to be published
    // Which process this is (heartbeats carry it, to tell a duplicate node
    // id from one's own canary); 0: a random one.
    uint64_t incarnation = 0;
  };

  // "redis://HOST:PORT" or "HOST:PORT" into options->host/port.
  static Status ParseAddress(const std::string& address, Options* options);

  // Starts both threads; they connect in the background.
  // REQUIRES: `listener` outlives the bus.
  RedisBus(Options options, Listener* listener);
  ~RedisBus() override;  // stops both threads; unsent messages are dropped
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  void PublishLogEntry(CommitPosition position, int64_t committed_ms,
                       std::string encoded_batches) override;
  void PublishEvents(const events::EventBatch& events) override;
  void PublishPresences(const std::vector<PresenceChange>& changes, bool snapshot) override;
  void PublishHeartbeat(const NodeReport& report) override;
  void PublishSnapshotRequest() override;
  void PublishHandoff(int to, uint64_t session_id, uint64_t seq, std::optional<bool> done) override;
  Stats stats() const override;

 private:
  void Enqueue(std::string message);
  void SendLoop();
  void ReceiveLoop();
  void Received(const char* data, size_t size);

  const Options options_;
  Listener* const listener_;
  uint64_t incarnation_;

  Mutex mu_;
  CondVar cv_{&mu_};
  std::deque<std::string> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;

  std::atomic<bool> stop_{false};
  std::atomic<bool> send_up_{false};
  std::atomic<bool> receive_up_{false};
  std::atomic<uint64_t> published_{0}, dropped_{0}, received_{0}, malformed_{0}, reconnects_{0};
  std::atomic<int64_t> own_heard_ms_{0}, duplicate_ms_{0};

  std::thread sender_;
  std::thread receiver_;
};

}  // namespace parley::cluster
