// Api: the REST API v10. Routes a request, authenticates it, applies rate
// limits, runs its handler. Handlers read State (memory), write through the
// CommitQueue (group commit) and reply only once their write is durable.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "api/rate_limiter.h"
#include "api/read_your_writes.h"
#include "events/commit_applier.h"
#include "events/event_sink.h"
#include "events/gateway_view.h"
#include "events/presence.h"
#include "limits/shared_limits.h"
#include "net/http_server.h"
#include "state/state.h"
#include "store/commit_queue.h"
#include "store/read_pool.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/snowflake.h"

namespace parley {

struct ApiOptions {
  PasswordCost password_cost = PasswordCost::kInteractive;
  int ratelimit_global = 50;     // requests/s per token; 0 = off
  double ratelimit_scale = 1.0;  // multiplies every per-route limit
  // Requests with a token that does not authenticate, per client address
  // per 10 minutes; more are answered 429 (0 = no limit).
  int invalid_request_limit = 10000;
  std::string public_url;  // e.g. "http://127.0.0.1:8080" (gateway URLs later)
  // Writes waiting for the writer beyond this are refused with 503 (and
  // clients retry) rather than queued without bound.
  size_t max_write_queue = 100000;
  // The store has read replicas: remember each user's last write so that
  // their history reads can go to a replica (ReadYourWrites). Off, no
  // bookkeeping happens on the commit path.
  bool read_replicas = false;
  // Addresses of reverse proxies (nginx in front of a cluster): for a
  // request from one of them, the client is the last address in its
  // X-Forwarded-For (what the proxy appended), for the per-address limits
  // of unauthenticated requests. Empty: the peer is the client.
  std::vector<std::string> trusted_proxies;
  // Cluster mode (docs/cluster.md): other nodes commit too; a refusal is
  // made only after this node applied every commit made before it.
  bool cluster = false;
  // Usernames (lowercase) allowed to read /admin/status; empty: the first
  // registered user.
  std::vector<std::string> admins;
  // Adds what the process around the Api knows to the /admin/status object
  // (set by `parley serve`: the HTTP server's connections, the cluster).
  std::function<void(boost::json::object*)> status_extras;
};

class Api;

namespace metrics {
class Counter;
}

// Per-route request counters (created with the route table).
struct RouteMetrics {
  metrics::Counter* by_class[4] = {};  // 2xx, 3xx, 4xx, 5xx
  metrics::Counter* rate_limited = nullptr;
  bool is_create_message = false;  // POST /channels/{id}/messages: message metrics too
};

// What a read-modify-write handler decides on the writer thread (see
// Api::CommitBuilt): a batch to commit alone and the reply, or an error.
struct Built {
  WriteBatch batch;  // empty: nothing to change (still replies)
  std::optional<ApiError> error;
  unsigned status = 204;
  std::string body;  // the reply's JSON (ignored for 204)
  // If set, builds the reply after the batch is applied to State (instead of
  // status/body).
  std::function<void()> reply;

  static Built Fail(ApiError e) {
    Built b;
    b.error = std::move(e);
    return b;
  }
};

// One request in flight. Handlers take it by shared_ptr and may finish it
// from any thread with Reply/Fail, exactly once.
class Api;

struct Call : std::enable_shared_from_this<Call> {
  net::Request req;
  net::Responder respond;
  std::vector<std::string> params;   // the {} segments of the route, in order
  std::string query;                 // raw query string (no '?')
  std::shared_ptr<const User> user;  // authenticated caller, or null
  TokenHash token_hash{};
  RateDecision rate;  // headers to attach (if rate_limited)
  bool rate_limited = false;
  std::string bucket;                     // X-RateLimit-Bucket
  const RouteMetrics* metrics = nullptr;  // the matched route's counters
  int64_t start_ns = 0;                   // steady clock, when dispatched
  // Cluster mode: set once the route matched; a refusal (401, 403, 404) is
  // then answered only after this node caught up with the cluster
  // (Api::RetryAfterSync), `synced` once it has.
  Api* api = nullptr;
  bool synced = false;

  Call(net::Request&& r, net::Responder&& res) : req(std::move(r)), respond(std::move(res)) {}
  void Reply(unsigned status, const boost::json::value& body);
  void Reply(unsigned status, std::string body_json);
  void NoContent();
  void Fail(const ApiError& e);
  // Parses the body as a JSON object; on failure replies 400/50109 and
  // returns false.
  bool ParseBody(boost::json::object* out);
  // The same for a JSON array body (position edits).
  bool ParseArrayBody(boost::json::array* out);
  // A query parameter, or "" when absent.
  std::string QueryParam(std::string_view name) const;
  bool HasQueryParam(std::string_view name) const;

  net::Response MakeResponse(unsigned status, std::string body) const;
  // Sends `res` unless a reply was sent already (a handler bug must not
  // write twice on one connection).
  void Send(net::Response&& res);
  // Request metrics for a reply with `status`.
  void CountReply(unsigned status);

 private:
  std::atomic<bool> replied_{false};
};
using CallPtr = std::shared_ptr<Call>;

class Api {
 public:
  struct Deps {
    State* state;
    ReadPool* reads;  // every store read runs here, never on an event loop
    CommitQueue* writer;
    SnowflakeGenerator* ids;
    boost::asio::thread_pool* blocking;  // argon2id and other slow work
    // Where events go (every commit's, typing); null: no gateway (tools,
    // tests), commits only update State.
    events::EventSink* events = nullptr;
    // The gateway's URL, identify budget and counts; null without one.
    events::GatewayView* gateway = nullptr;
    // Who is online (a joining member's presence); may be null.
    const events::PresenceRegistry* presence = nullptr;
    // Where ephemeral events (typing) go, if not to `events`: in cluster
    // mode a sink that also tells the other nodes (commit events never go
    // there: every node builds those from the log).
    events::EventSink* ephemeral = nullptr;
    // A cluster's shared counters: route and global rate limits hold
    // across nodes (null: this node counts alone, as it does when the
    // shared counters cannot answer).
    limits::SharedLimits* shared_limits = nullptr;
  };
  Api(Deps deps, ApiOptions options);
  ~Api();

  // The HttpServer handler.
  void Handle(net::Request&& req, net::Responder respond);

  // Commits `batch`; on success applies it to State and runs `on_ok` (on the
  // writer thread: keep it short, reply with a prebuilt body), else replies
  // 500.
  void Commit(const CallPtr& call, WriteBatch batch, std::function<void()> on_ok,
              CommitQueue::Prepare prepare = nullptr);
  // Commit, then reply `status` with a body built before the commit (the
  // writer thread only hands it over).
  void CommitAndReply(const CallPtr& call, WriteBatch batch, unsigned status, std::string body);
  // Read-modify-write without lost updates: `build` runs on the writer thread
  // against the State left by every earlier commit (re-checking existence
  // and permissions there), and what it returns is committed alone, applied
  // to State, and replied. Use it for changes to existing records; plain
  // inserts (messages) use Commit.
  void CommitBuilt(const CallPtr& call, std::function<Built()> build);
  // Like Commit, but `done` gets the status (OK after State has the batch).
  void CommitWithStatus(WriteBatch batch, std::function<void(Status)> done);
  // Runs `read` on the reader pool (it must finish `call` itself, from
  // there); replies 503 at once when the pool's queue is full.
  void Read(const CallPtr& call, ReadPool::Read read);
  // The reply for a failed store operation: 503 when the store is
  // unavailable (the client may retry), else 500. Logs it.
  static ApiError StoreError(const Status& s);
  // Cluster mode: instead of refusing `call` with `e` (401 for a token
  // given, 403, 404) on a State that may lag behind another node's
  // acknowledged write, catches this node up with the cluster's log and
  // runs the request again (once; its rate limit is not counted twice).
  // Returns false (the caller replies `e`) outside cluster mode, or when
  // the request already ran after a catch-up.
  bool RetryAfterSync(const CallPtr& call, const ApiError& e);
  // The client's address: the peer's, or behind a trusted proxy the one it
  // forwarded (ApiOptions::trusted_proxies).
  std::string ClientIp(const Call& call) const;
  // Replies 429 with Discord's body and headers for decision `d`.
  void SendRateLimited(const CallPtr& call, const RateDecision& d);
  // A shared window's count as the local limiter's decision (global: the
  // window was the caller's global limit).
  static RateDecision DecisionOf(const limits::Count& c, bool global_window, int64_t now_ms);
  // A token that does not authenticate, counted against its client
  // address (--invalid-request-limit per 10 minutes): on this node alone /
  // across the cluster (SharedLimits; alone when it cannot answer), then
  // 401, or 429 past the budget.
  RateDecision InvalidTokenLocal(const Call& call);
  void RefuseInvalidTokenShared(const CallPtr& call);

  State& state() { return *deps_.state; }
  // Null when the server runs without a gateway (tools, tests).
  events::GatewayView* gateway() { return deps_.gateway; }
  events::EventSink* events() { return deps_.events; }
  // Where typing goes (see Deps::ephemeral).
  events::EventSink* ephemeral_events() { return deps_.ephemeral ? deps_.ephemeral : deps_.events; }
  SnowflakeGenerator& ids() { return *deps_.ids; }
  boost::asio::thread_pool& blocking() { return *deps_.blocking; }
  const ApiOptions& options() const { return options_; }
  RateLimiter& rate_limiter() { return rate_limiter_; }
  CommitQueue& writer() { return *deps_.writer; }
  // Each user's last write, for history reads that replicas may serve.
  ReadYourWrites& read_your_writes() { return read_your_writes_; }
  // REQUIRES: called before requests arrive.
  void set_status_extras(std::function<void(boost::json::object*)> fn) {
    options_.status_extras = std::move(fn);
  }

  struct Route;

 private:
  void Dispatch(const CallPtr& call);
  // After the rate limits: 429, or the route's handler.
  void Run(const CallPtr& call, const Route& route);
  // Rate limits counted by the cluster's shared counters, then Run on the
  // call's loop.
  void CheckSharedLimits(const CallPtr& call, const Route& route, std::string who, std::string key);
  // On the writer thread, in commit order: counts a committed batch and
  // hands it to applier_ (State, then events).
  void ApplyCommitted(const WriteBatch& b);
  // True (after failing `call` with 503) when the write queue is full.
  bool WriteQueueFull(const CallPtr& call);

  Deps deps_;
  ApiOptions options_;
  events::CommitApplier applier_;
  RateLimiter rate_limiter_;
  ReadYourWrites read_your_writes_;
  std::vector<Route> routes_;
};

}  // namespace parley
