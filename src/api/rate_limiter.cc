#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace parley {

bool RateLimiter::Take(Window& w, int limit, int64_t length_ms, int64_t now_ms, RateDecision* d) {
  if (w.length_ms == 0 || now_ms >= w.start_ms + w.length_ms) {
    w.start_ms = now_ms;
    w.length_ms = length_ms;
    w.count = 0;
  }
  int64_t reset_ms = w.start_ms + w.length_ms;
  d->limit = limit;
  d->reset_after_s = static_cast<double>(reset_ms - now_ms) / 1000.0;
  d->reset_at_s = static_cast<double>(reset_ms) / 1000.0;
  if (w.count >= limit) {
    d->remaining = 0;
    d->retry_after_s = d->reset_after_s;
    return false;
  }
  ++w.count;
  d->remaining = limit - w.count;
  return true;
}

RateDecision RateLimiter::Check(std::string_view who, std::string_view key, RateLimit limit,
                                int64_t now_ms) {
  RateDecision d;
  if (global_per_second_ > 0) {
    RateDecision g;
    bool ok = true;
    globals_.Update(std::string(who),
                    [&](Window& w) { ok = Take(w, global_per_second_, 1000, now_ms, &g); });
    if (!ok) {
      g.allowed = false;
      g.global = true;
      return g;
    }
  }
  int64_t length_ms = std::max<int64_t>(1, std::llround(limit.window_s * 1000.0));
  std::string k;
  k.reserve(who.size() + key.size() + 1);
  k.append(who).push_back('|');
  k.append(key);
  bool ok = true;
  buckets_.Update(
      k, [&](Window& w) { ok = Take(w, std::max(1, limit.limit), length_ms, now_ms, &d); });
  d.allowed = ok;
  return d;
}

void RateLimiter::Sweep(int64_t now_ms) {
  auto expired = [&](const std::string&, const Window& w) {
    return now_ms >= w.start_ms + w.length_ms;
  };
  buckets_.EraseIf(expired);
  globals_.EraseIf(expired);
}

}  // namespace parley
