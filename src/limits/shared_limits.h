// SharedLimits: fixed-window counters shared by the nodes of a cluster, so
// that a rate limit or a daily budget holds cluster-wide instead of per
// node (docs/cluster.md, "Limits across nodes"). The REST API counts its
// route and global limits here, the gateway its identifies
// (session_start_limit); cluster/redis_limits.h implements it on Redis
// (one Lua script per check, atomic). Without it, or when it cannot answer
// (Redis down), each node counts alone (api/rate_limiter.h) and says so in
// a metric.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace parley::limits {

struct Window {
  std::string key;  // what is counted (names a bucket cluster-wide)
  int limit = 1;    // hits per window
  int64_t length_ms = 1000;
};

struct Count {
  bool allowed = true;
  int limit = 0;
  int remaining = 0;
  int64_t reset_after_ms = 0;  // until the window ends
};

class SharedLimits {
 public:
  virtual ~SharedLimits() = default;

  // Counts one hit in each window, in order, atomically across the
  // cluster; the first window without room stops it (that hit is not
  // counted; the windows before it keep theirs). `done` runs on any
  // thread with one Count per window checked (the last one refused, if
  // any), or nullopt when the shared counters cannot be reached.
  virtual void Take(std::vector<Window> windows,
                    std::function<void(std::optional<std::vector<Count>>)> done) = 0;
  // The window's count without taking a hit (remaining, reset), or nullopt.
  virtual void Peek(Window window, std::function<void(std::optional<Count>)> done) = 0;
};

}  // namespace parley::limits
