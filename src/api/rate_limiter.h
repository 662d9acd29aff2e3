// RateLimiter: Discord-style fixed-window buckets per (token, route bucket,
// major parameter), plus a global per-token limit. Sharded; no lock shared by
// all requests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "state/sharded_map.h"

namespace parley {

struct RateLimit {
  int limit = 50;  // requests per window
  double window_s = 1.0;
};

struct RateDecision {
  bool allowed = true;
  bool global = false;  // the global limit refused it
  int limit = 0;
  int remaining = 0;
  double reset_after_s = 0;  // until this bucket's window resets
  double reset_at_s = 0;     // epoch seconds of that reset
  double retry_after_s = 0;  // when refused
};

class RateLimiter {
 public:
  // global_per_second <= 0 disables the global limit.
  explicit RateLimiter(int global_per_second) : global_per_second_(global_per_second) {}

  // Counts one request against `key`'s bucket (and `who`'s global limit) at
  // `now_ms` (Unix ms). A refused request is not counted.
  RateDecision Check(std::string_view who, std::string_view key, RateLimit limit, int64_t now_ms);

  // Drops windows that ended before `now_ms` (call now and then).
  void Sweep(int64_t now_ms);

 private:
  struct Window {
    int64_t start_ms = 0;
    int64_t length_ms = 0;
    int count = 0;
  };
  // Counts one hit if the window has room; fills limit/remaining/reset.
  static bool Take(Window& w, int limit, int64_t length_ms, int64_t now_ms, RateDecision* d);

  int global_per_second_;
  ShardedMap<std::string, Window> buckets_;
  ShardedMap<std::string, Window> globals_;
};

}  // namespace parley
