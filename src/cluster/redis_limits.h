// RedisLimits: SharedLimits (limits/shared_limits.h) on Redis. Each Take is
// one Lua script (INCR, PEXPIRE on the first hit, DECR when refused) over
// all its windows, run atomically by Redis; keys are
// "parley:limit:<key>" and expire with their window. Commands go through a
// RedisClient of its own, pipelined: a check costs one round trip, never
// a blocked thread.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "cluster/redis_client.h"
#include "limits/shared_limits.h"

namespace parley::cluster {

class RedisLimits : public limits::SharedLimits {
 public:
  RedisLimits(std::string host, int port);

  void Take(std::vector<limits::Window> windows,
            std::function<void(std::optional<std::vector<limits::Count>>)> done) override;
  void Peek(limits::Window window, std::function<void(std::optional<limits::Count>)> done) override;

 private:
  // Runs the script by its SHA (loaded once), or by its text when Redis
  // does not know it (first use, or after a restart).
  void Eval(const std::string& script, std::atomic<bool>* known, std::vector<std::string> rest,
            RedisClient::Callback done);

  RedisClient redis_;
  std::atomic<bool> take_known_{false}, peek_known_{false};
};

}  // namespace parley::cluster
