// The wire protocols parley-load speaks: Parley's gateway + REST, and the
// peers bench/compare measures Parley against (bench/peers/README.md).
#pragma once

#include <optional>
#include <string_view>

namespace parley::load {

enum class Protocol {
  kParley,    // Gateway v10 sessions; messages posted over REST
  kWs,        // bench/peers/ws-broadcast.mjs: raw WebSocket text frames
  kSocketIo,  // bench/peers/socketio-room.mjs: engine.io v4 / socket.io v5 framing
  kNats,      // nats-server: the NATS text protocol (SUB / PUB / MSG)
  kRedis,     // redis-server pub/sub: RESP (SUBSCRIBE / PUBLISH)
};

inline std::optional<Protocol> ParseProtocol(std::string_view name) {
  if (name == "parley") return Protocol::kParley;
  if (name == "ws") return Protocol::kWs;
  if (name == "socketio") return Protocol::kSocketIo;
  if (name == "nats") return Protocol::kNats;
  if (name == "redis") return Protocol::kRedis;
  return std::nullopt;
}

inline const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kParley:
      return "parley";
    case Protocol::kWs:
      return "ws";
    case Protocol::kSocketIo:
      return "socketio";
    case Protocol::kNats:
      return "nats";
    case Protocol::kRedis:
      return "redis";
  }
  return "?";
}

// The subject / channel / room every peer subscriber joins and every peer
// publisher publishes to.
inline constexpr std::string_view kPeerTopic = "bench";

}  // namespace parley::load
