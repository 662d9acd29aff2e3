// RedisClient: Redis commands with replies, pipelined on one connection and
// one thread of its own (never an event loop), for what the cluster keeps
// in Redis beside the bus (session checkpoints and journals,
// cluster/redis_session_store.h). Commands run in the order issued; each
// callback runs on the client's thread with the reply, or with null when
// the command could not run (Redis down: issued commands fail at once
// instead of waiting; the connection retries with backoff, 100 ms doubling
// to 2 s). Commands that were sent on a connection found broken (Redis
// restarted since) are sent once more on a new one. Callbacks must not
// block.
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/mutex.h"

namespace parley::cluster {

class RedisClient {
 public:
  // Null when the command failed (no connection, or it was lost).
  using Callback = std::function<void(const redisReply* reply)>;

  RedisClient(std::string host, int port);
  ~RedisClient();  // stops the thread; queued commands get null
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Thread-safe; never blocks on Redis.
  void Run(std::vector<std::string> argv, Callback done);
  bool up() const { return up_.load(std::memory_order_relaxed); }

 private:
  struct Command {
    std::vector<std::string> argv;
    Callback done;
    bool retried = false;
  };
  void Loop();
  void FailQueued();

  const std::string host_;
  const int port_;
  Mutex mu_;
  CondVar cv_{&mu_};
  std::deque<Command> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::atomic<bool> up_{false};
  std::thread thread_;
};

}  // namespace parley::cluster
