// The server's metrics (names and labels follow Prometheus conventions:
// parley_ prefix, _total, _seconds, _bytes). One instance per process,
// created on first use; every label set is a fixed list.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "metrics/metrics.h"

namespace parley::metrics {

// Gateway event types with their own label value; anything else is "other".
inline constexpr std::array<std::string_view, 25> kEventTypes = {"READY",
                                                                 "RESUMED",
                                                                 "GUILD_CREATE",
                                                                 "GUILD_UPDATE",
                                                                 "GUILD_DELETE",
                                                                 "GUILD_MEMBER_ADD",
                                                                 "GUILD_MEMBER_UPDATE",
                                                                 "GUILD_MEMBER_REMOVE",
                                                                 "GUILD_MEMBERS_CHUNK",
                                                                 "GUILD_ROLE_CREATE",
                                                                 "GUILD_ROLE_UPDATE",
                                                                 "GUILD_ROLE_DELETE",
                                                                 "CHANNEL_CREATE",
                                                                 "CHANNEL_UPDATE",
                                                                 "CHANNEL_DELETE",
                                                                 "INVITE_CREATE",
                                                                 "INVITE_DELETE",
                                                                 "MESSAGE_CREATE",
                                                                 "MESSAGE_UPDATE",
                                                                 "MESSAGE_DELETE",
                                                                 "MESSAGE_DELETE_BULK",
                                                                 "TYPING_START",
                                                                 "PRESENCE_UPDATE",
                                                                 "USER_UPDATE",
                                                                 "other"};
// Index into kEventTypes (the last one for unknown types).
uint8_t EventTypeIndex(std::string_view type);

// Close codes with their own label value; anything else is "other".
inline constexpr std::array<uint16_t, 22> kCloseCodes = {
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 4000, 4001, 4002,
    4003, 4004, 4005, 4007, 4008, 4009, 4010, 4011, 4012, 4013, 4014};

struct ServerMetrics {
  ServerMetrics();
  Registry registry;

  // Gateway.
  std::array<Counter*, kCloseCodes.size() + 1> gateway_closes{};  // last: other
  Counter* gateway_resumes_ok;
  Counter* gateway_resumes_failed;
  Counter* gateway_slow_consumers;
  Counter* gateway_identifies;
  Counter* gateway_connections_refused_shutdown;
  Counter* gateway_connections_refused_handshake;
  Counter* accept_errors;               // accept() failed (e.g. out of file descriptors)
  Counter* connections_refused_max;     // 503: --max-connections reached
  Counter* connections_refused_per_ip;  // 503: --max-connections-per-ip reached
  Counter* http_body_budget_refusals;   // 503: --body-budget spent
  std::array<Counter*, kEventTypes.size()> dispatches{};
  // Bytes out by compression (none, zlib-stream, zstd-stream): JSON before
  // compression, and frames on the wire.
  std::array<Counter*, 3> bytes_raw{};
  std::array<Counter*, 3> bytes_wire{};
  // Dispatch frames re-encoded from JSON (events::Frame::In), by encoding
  // (etf, msgpack): once per event and encoding, whatever the sessions.
  std::array<Counter*, 2> frames_encoded{};
  Histogram* delivery_latency;     // commit -> written to the socket
  Counter* gateway_socket_writes;  // send() calls on gateway sockets
  Counter* gateway_flush_passes;   // FlushDirty passes (one per loop iteration with output)

  // Messages and the store.
  Counter* messages_posted;                   // acknowledged (2xx) POST /channels/{id}/messages
  Counter* messages_persisted;                // inserted by committed transactions
  Counter* cluster_refusal_syncs;             // refusals that waited for the log first
  Counter* cluster_takeovers;                 // sessions of other nodes resumed here
  Counter* cluster_takeovers_refused;         // ... answered op 9 instead
  Counter* cluster_handoffs_given;            // sessions let go to another node
  Counter* cluster_checkpoints_failed;        // session checkpoints not stored
  Counter* cluster_ephemeral_dropped;         // ephemeral batches not journaled, not delivered
  Counter* cluster_log_trimmed;               // log entries deleted (retention)
  Counter* cluster_limit_fallbacks;           // limits counted per node (Redis unreachable)
  std::array<Counter*, 5> messages_failed{};  // invalid, forbidden, rate_limited, overloaded, error
  Histogram* commit_batches;                  // batches per transaction
  Histogram* commit_seconds;                  // transaction latency

  // REST (per-route counters live with the routes, see Api).
  Histogram* http_request_seconds;
  Counter* http_static_requests;
  Counter* http_unmatched_requests;

  void CountClose(uint16_t code);
};

ServerMetrics& M();

}  // namespace parley::metrics
