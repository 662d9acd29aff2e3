#include "metrics/server_metrics.h"

#include <fmt/format.h>

namespace parley::metrics {

uint8_t EventTypeIndex(std::string_view type) {
  for (size_t i = 0; i + 1 < kEventTypes.size(); ++i)
    if (kEventTypes[i] == type) return static_cast<uint8_t>(i);
  return static_cast<uint8_t>(kEventTypes.size() - 1);
}

ServerMetrics::ServerMetrics() {
  Registry& r = registry;
  for (size_t i = 0; i < kCloseCodes.size(); ++i)
    gateway_closes[i] = &r.NewCounter("parley_gateway_closes_total",
                                      "Gateway connections closed by the server, by close code",
                                      fmt::format("code=\"{}\"", kCloseCodes[i]));
  gateway_closes.back() =
      &r.NewCounter("parley_gateway_closes_total",
                    "Gateway connections closed by the server, by close code", "code=\"other\"");
  gateway_resumes_ok =
      &r.NewCounter("parley_gateway_resumes_total", "Resume attempts, by result", "result=\"ok\"");
  gateway_resumes_failed = &r.NewCounter("parley_gateway_resumes_total",
                                         "Resume attempts, by result", "result=\"failed\"");
  gateway_slow_consumers =
      &r.NewCounter("parley_gateway_slow_consumers_total",
                    "Gateway connections closed because their unsent output passed the cap");
  gateway_identifies =
      &r.NewCounter("parley_gateway_identifies_total", "Successful gateway identifies");
  gateway_connections_refused_shutdown =
      &r.NewCounter("parley_gateway_connections_refused_total",
                    "WebSocket upgrades refused, by reason", "reason=\"shutting_down\"");
  gateway_connections_refused_handshake =
      &r.NewCounter("parley_gateway_connections_refused_total",
                    "WebSocket upgrades refused, by reason", "reason=\"bad_handshake\"");
  connections_refused_max = &r.NewCounter("parley_connections_refused_total",
                                          "New connections answered 503 and closed, by reason",
                                          "reason=\"max_connections\"");
  connections_refused_per_ip = &r.NewCounter("parley_connections_refused_total",
                                             "New connections answered 503 and closed, by reason",
                                             "reason=\"max_connections_per_ip\"");
  http_body_budget_refusals = &r.NewCounter(
      "parley_http_body_budget_refusals_total",
      "Requests answered 503 because the bodies being read already held --body-budget bytes");
  accept_errors = &r.NewCounter(
      "parley_accept_errors_total",
      "Connection attempts refused because accept() failed (e.g. out of file descriptors)");
  for (size_t i = 0; i < kEventTypes.size(); ++i)
    dispatches[i] = &r.NewCounter("parley_gateway_dispatches_total",
                                  "Dispatches written to gateway sockets, by event type",
                                  fmt::format("event=\"{}\"", kEventTypes[i]));
  const char* modes[] = {"none", "zlib-stream", "zstd-stream"};
  for (int i = 0; i < 3; ++i) {
    bytes_raw[i] = &r.NewCounter("parley_gateway_payload_bytes_total",
                                 "Gateway payload bytes before compression, by compression",
                                 fmt::format("compression=\"{}\"", modes[i]));
    bytes_wire[i] = &r.NewCounter("parley_gateway_wire_bytes_total",
                                  "Gateway bytes queued on sockets (frames), by compression",
                                  fmt::format("compression=\"{}\"", modes[i]));
  }
  const char* encodings[] = {"etf", "msgpack"};
  for (int i = 0; i < 2; ++i)
    frames_encoded[i] = &r.NewCounter(
        "parley_gateway_frames_encoded_total",
        "Dispatch frames re-encoded from JSON, by encoding (once per event and encoding)",
        fmt::format("encoding=\"{}\"", encodings[i]));
  gateway_socket_writes =
      &r.NewCounter("parley_gateway_socket_writes_total",
                    "send() calls on gateway sockets (several dispatches may share one)");
  gateway_flush_passes = &r.NewCounter(
      "parley_gateway_flush_passes_total",
      "Passes of an event loop over its connections with output (see --flush-pacing)");
  delivery_latency = &r.NewHistogram(
      "parley_delivery_latency_seconds",
      "From a commit to its dispatch being written to a gateway socket", LatencyBuckets());

  messages_posted =
      &r.NewCounter("parley_messages_posted_total", "Messages accepted (2xx) over REST");
  messages_persisted = &r.NewCounter("parley_messages_persisted_total",
                                     "Messages inserted by committed transactions");
  cluster_refusal_syncs = &r.NewCounter(
      "parley_cluster_refusal_syncs_total",
      "Cluster mode: requests refused (401/403/404) that ran again after catching up with the log");
  cluster_takeovers =
      &r.NewCounter("parley_cluster_takeovers_total",
                    "Resumes of sessions another node served, rebuilt here exactly");
  cluster_takeovers_refused = &r.NewCounter(
      "parley_cluster_takeovers_refused_total",
      "Resumes of other nodes' sessions answered with op 9 (not rebuildable exactly)");
  cluster_handoffs_given = &r.NewCounter("parley_cluster_handoffs_given_total",
                                         "Sessions this node let go to another node");
  cluster_checkpoints_failed =
      &r.NewCounter("parley_cluster_checkpoints_failed_total",
                    "Session checkpoints that could not be stored in Redis");
  cluster_log_trimmed =
      &r.NewCounter("parley_cluster_log_trimmed_total",
                    "Entries of the log of commits deleted by this node (--log-retention-minutes)");
  cluster_ephemeral_dropped = &r.NewCounter(
      "parley_cluster_ephemeral_dropped_total",
      "Ephemeral event batches (typing, presence) not delivered: the journal in Redis could not "
      "be written");
  cluster_limit_fallbacks = &r.NewCounter(
      "parley_cluster_limit_fallbacks_total",
      "Rate limit and identify checks counted by this node alone (the shared counters in Redis "
      "did not answer)");
  const char* reasons[] = {"invalid", "forbidden", "rate_limited", "overloaded", "error"};
  for (int i = 0; i < 5; ++i)
    messages_failed[i] =
        &r.NewCounter("parley_messages_failed_total", "Message posts refused, by reason",
                      fmt::format("reason=\"{}\"", reasons[i]));
  commit_batches = &r.NewHistogram("parley_store_commit_batches", "Write batches per group commit",
                                   {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  commit_seconds = &r.NewHistogram("parley_store_commit_seconds",
                                   "Group commit (transaction) latency", LatencyBuckets());
  http_request_seconds =
      &r.NewHistogram("parley_http_request_seconds",
                      "REST request latency (parsed to reply handed over)", LatencyBuckets());
  http_static_requests =
      &r.NewCounter("parley_http_requests_total", "HTTP requests, by route and status class",
                    "route=\"web client\",status=\"any\"");
  http_unmatched_requests =
      &r.NewCounter("parley_http_requests_total", "HTTP requests, by route and status class",
                    "route=\"unmatched\",status=\"4xx\"");
}

void ServerMetrics::CountClose(uint16_t code) {
  for (size_t i = 0; i < kCloseCodes.size(); ++i)
    if (kCloseCodes[i] == code) return gateway_closes[i]->Inc();
  gateway_closes.back()->Inc();
}

ServerMetrics& M() {
  static ServerMetrics* m = new ServerMetrics();  // never destroyed: used until exit
  return *m;
}

}  // namespace parley::metrics
