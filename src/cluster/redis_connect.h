// Connecting to Redis, shared by the bus (cluster/redis_bus.h) and the
// command client (cluster/redis_client.h): a hiredis context owned by a
// unique_ptr, connected with a 1 s timeout.
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

namespace parley::cluster {

struct RedisContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RedisContext = std::unique_ptr<redisContext, RedisContextFree>;

// A connected context, or null with the reason in *why.
inline RedisContext ConnectRedis(const std::string& host, int port, std::string* why) {
  timeval tv{1, 0};
  RedisContext c(redisConnectWithTimeout(host.c_str(), port, tv));
  if (!c) {
    *why = "out of memory";
    return nullptr;
  }
  if (c->err) {
    *why = c->errstr;
    return nullptr;
  }
  return c;
}

}  // namespace parley::cluster
