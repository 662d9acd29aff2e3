// GatewayView: what the REST API reads of the gateway (/gateway,
// /gateway/bot, /admin/status) without depending on it. The gateway
// implements it; a server without one (tools, tests) passes none.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "model/types.h"

namespace parley::events {

struct GatewayStats {
  int64_t connections = 0;  // open WebSocket connections
  int64_t sessions = 0;     // identified sessions (connected or awaiting resume)
  uint64_t slow_consumers = 0;
  uint64_t resumes = 0;
  uint64_t resumes_failed = 0;
  uint64_t dispatches = 0;
};

struct SessionStartLimit {
  int total = 0;
  int remaining = 0;
  int64_t reset_after_ms = 0;
};

class GatewayView {
 public:
  virtual ~GatewayView() = default;

  // ws://HOST:PORT (or the configured public URL) for /gateway and READY's
  // resume_gateway_url. Thread-safe.
  virtual std::string Url(std::string_view host_header) const = 0;
  // /gateway/bot's session_start_limit for `user_id` (takes nothing from
  // the budget); `done` runs on any thread (in a cluster, after asking the
  // shared counters). Thread-safe.
  // `bot`: the bot budget (--identify-limit), else the user one.
  virtual void StartLimit(Snowflake user_id, bool bot,
                          std::function<void(SessionStartLimit)> done) = 0;
  // Counters for /admin/status. Thread-safe.
  virtual GatewayStats stats() const = 0;
};

}  // namespace parley::events
