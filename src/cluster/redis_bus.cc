#include "cluster/redis_bus.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "cluster/bus_codec.h"
#include "cluster/redis_connect.h"
#include "util/clock.h"

namespace parley::cluster {
namespace {

using Context = RedisContext;
struct ReplyFree {
  void operator()(void* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A connected context, or null (logged at most once per outage by the
// caller through `why`).
Context Connect(const RedisBus::Options& o, std::string* why) {
  return ConnectRedis(o.host, o.port, why);
}

// Sleeps `backoff` (interruptible by `stop`), then doubles it up to 2 s.
void Backoff(const std::atomic<bool>& stop, std::chrono::milliseconds* backoff) {
  auto until = std::chrono::steady_clock::now() + *backoff;
  while (!stop.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  *backoff = std::min(*backoff * 2, std::chrono::milliseconds(2000));
}

}  // namespace

Status RedisBus::ParseAddress(const std::string& address, Options* options) {
  std::string a = address;
  if (a.starts_with("redis://")) a = a.substr(8);
  while (!a.empty() && a.back() == '/') a.pop_back();
  auto colon = a.rfind(':');
  std::string host = colon == std::string::npos ? a : a.substr(0, colon);
  int port = 6379;
  if (colon != std::string::npos) {
    try {
      size_t used = 0;
      port = std::stoi(a.substr(colon + 1), &used);
      if (used != a.size() - colon - 1) port = -1;
    } catch (...) {
      port = -1;
    }
  }
  if (host.empty() || port < 1 || port > 65535) {
    return Status::InvalidArgument("Redis address '" + address + "': want redis://HOST:PORT");
  }
  options->host = host;
  options->port = port;
  return Status::OK();
}

RedisBus::RedisBus(Options options, Listener* listener)
    : options_(std::move(options)), listener_(listener), incarnation_(options_.incarnation) {
  if (incarnation_ == 0) {
    std::random_device rd;
    incarnation_ = (static_cast<uint64_t>(rd()) << 32 | rd()) | 1;
  }
  sender_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "parley-bus-out");
    SendLoop();
  });
  receiver_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "parley-bus-in");
    ReceiveLoop();
  });
}

RedisBus::~RedisBus() {
  stop_.store(true);
  {
    MutexLock l(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  sender_.join();
  receiver_.join();
}

void RedisBus::PublishLogEntry(CommitPosition position, int64_t committed_ms,
                               std::string encoded_batches) {
  std::string m;
  m.reserve(encoded_batches.size() + 24);
  EncodeLogEntryMessage(options_.node_id, position, committed_ms, encoded_batches, &m);
  Enqueue(std::move(m));
}

void RedisBus::PublishEvents(const events::EventBatch& events) {
  std::string m;
  EncodeEventsMessage(options_.node_id, events, &m);
  Enqueue(std::move(m));
}

void RedisBus::PublishPresences(const std::vector<PresenceChange>& changes, bool snapshot) {
  std::string m;
  EncodePresencesMessage(options_.node_id, changes, snapshot, &m);
  Enqueue(std::move(m));
}

void RedisBus::PublishHeartbeat(const NodeReport& report) {
  std::string m;
  EncodeHeartbeatMessage(options_.node_id, incarnation_, report, &m);
  Enqueue(std::move(m));
}

void RedisBus::PublishSnapshotRequest() {
  std::string m;
  EncodeSnapshotRequestMessage(options_.node_id, &m);
  Enqueue(std::move(m));
}

void RedisBus::PublishHandoff(int to, uint64_t session_id, uint64_t seq, std::optional<bool> done) {
  std::string m;
  EncodeHandoffMessage(options_.node_id, to, session_id, seq, done, &m);
  Enqueue(std::move(m));
}

void RedisBus::Enqueue(std::string message) {
  published_.fetch_add(1, std::memory_order_relaxed);
  if (!send_up_.load(std::memory_order_relaxed)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  MutexLock l(&mu_);
  if (queue_.size() >= options_.max_queue) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(std::move(message));
  cv_.Signal();
}

void RedisBus::SendLoop() {
  std::chrono::milliseconds backoff{100};
  std::vector<std::string> batch;
  bool warned = false;
  while (!stop_.load()) {
    std::string why;
    Context c = Connect(options_, &why);
    if (!c) {
      if (!warned) spdlog::warn("cluster bus: cannot publish to Redis: {}", why);
      warned = true;
      Backoff(stop_, &backoff);
      continue;
    }
    if (warned) spdlog::info("cluster bus: publishing to Redis again");
    warned = false;
    backoff = std::chrono::milliseconds(100);
    send_up_.store(true);
    for (;;) {
      {
        MutexLock l(&mu_);
        while (!stopping_ && queue_.empty()) cv_.Wait();
        if (stopping_) break;
        batch.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.end()));
        queue_.clear();
      }
      // One write for everything queued, then its replies.
      for (const std::string& m : batch) {
        const char* argv[] = {"PUBLISH", options_.channel.c_str(), m.data()};
        const size_t lens[] = {7, options_.channel.size(), m.size()};
        redisAppendCommandArgv(c.get(), 3, argv, lens);
      }
      bool failed = false;
      for (size_t i = 0; i < batch.size(); ++i) {
        void* r = nullptr;
        if (redisGetReply(c.get(), &r) != REDIS_OK) {
          failed = true;
          dropped_.fetch_add(batch.size() - i, std::memory_order_relaxed);
          break;
        }
        freeReplyObject(r);
      }
      batch.clear();
      if (failed) {
        spdlog::warn("cluster bus: publishing to Redis failed: {}", c->errstr);
        warned = true;
        break;
      }
    }
    send_up_.store(false);
    {
      // What waited for this connection is dropped, as the bus promises.
      MutexLock l(&mu_);
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      queue_.clear();
    }
    if (!stop_.load()) reconnects_.fetch_add(1, std::memory_order_relaxed);
  }
}

void RedisBus::ReceiveLoop() {
  std::chrono::milliseconds backoff{100};
  bool warned = false;
  while (!stop_.load()) {
    std::string why;
    Context c = Connect(options_, &why);
    if (c) {
      Reply r(static_cast<redisReply*>(
          redisCommand(c.get(), "SUBSCRIBE %b", options_.channel.data(), options_.channel.size())));
      if (!r || r->type == REDIS_REPLY_ERROR) {
        why = r ? std::string(r->str, r->len) : std::string(c->errstr);
        c.reset();
      }
    }
    if (!c) {
      if (!warned) spdlog::warn("cluster bus: cannot subscribe on Redis: {}", why);
      warned = true;
      Backoff(stop_, &backoff);
      continue;
    }
    spdlog::info("cluster bus: subscribed to {} on {}:{}", options_.channel, options_.host,
                 options_.port);
    warned = false;
    backoff = std::chrono::milliseconds(100);
    receive_up_.store(true);
    listener_->OnLinkChanged(true);
    int64_t last_heard = SteadyMs();
    int64_t last_ping = last_heard;
    for (;;) {
      if (stop_.load()) break;
      void* raw = nullptr;
      if (redisGetReplyFromReader(c.get(), &raw) != REDIS_OK) break;
      if (raw != nullptr) {
        Reply r(static_cast<redisReply*>(raw));
        last_heard = SteadyMs();
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            std::string_view(r->element[0]->str, r->element[0]->len) == "message") {
          Received(r->element[2]->str, r->element[2]->len);
        }
        continue;  // pong and subscribe confirmations only prove the link
      }
      const int64_t now = SteadyMs();
      if (now - last_heard > 3000) {
        why = "no answer to PING for 3 s";
        break;
      }
      if (now - last_ping >= 1000) {
        redisAppendCommand(c.get(), "PING");
        int done = 0;
        while (!done)
          if (redisBufferWrite(c.get(), &done) != REDIS_OK) break;
        if (c->err) break;
        last_ping = now;
      }
      pollfd p{c->fd, POLLIN, 0};
      const int n = poll(&p, 1, 200);
      if (n < 0) continue;
      if (n > 0 && redisBufferRead(c.get()) != REDIS_OK) break;
    }
    receive_up_.store(false);
    if (stop_.load()) break;
    spdlog::warn("cluster bus: Redis subscription lost: {}", c->err ? c->errstr : why.c_str());
    warned = true;
    listener_->OnLinkChanged(false);
    reconnects_.fetch_add(1, std::memory_order_relaxed);
  }
}

void RedisBus::Received(const char* data, size_t size) {
  BusMessage m;
  Status s = DecodeBusMessage(std::string_view(data, size), &m);
  if (!s.ok()) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (m.node == options_.node_id) {
    // Our own message back; a heartbeat of ours proves the bus carries.
    if (m.kind == BusMessage::Kind::kHeartbeat) {
      if (m.incarnation == incarnation_) {
        own_heard_ms_.store(SteadyMs(), std::memory_order_relaxed);
      } else {
        const int64_t last = duplicate_ms_.exchange(SteadyMs(), std::memory_order_relaxed);
        if (SteadyMs() - last > 10000) {
          spdlog::error("cluster bus: another process publishes as node {}: node ids must differ",
                        options_.node_id);
        }
      }
    }
    return;
  }
  received_.fetch_add(1, std::memory_order_relaxed);
  switch (m.kind) {
    case BusMessage::Kind::kLogEntry:
      return listener_->OnLogEntry(std::move(m.entry));
    case BusMessage::Kind::kEvents:
      return listener_->OnEvents(std::move(m.events));
    case BusMessage::Kind::kPresences:
      return listener_->OnPresences(m.node, m.presences, m.snapshot);
    case BusMessage::Kind::kHeartbeat:
      return listener_->OnHeartbeat(m.node, m.report);
    case BusMessage::Kind::kSnapshotRequest:
      return listener_->OnSnapshotRequest(m.node);
    case BusMessage::Kind::kHandoffRequest:
      return listener_->OnHandoffRequest(m.node, m.to, m.session_id, m.seq);
    case BusMessage::Kind::kHandoffDone:
      return listener_->OnHandoffDone(m.node, m.to, m.session_id, m.ok);
  }
}

Bus::Stats RedisBus::stats() const {
  Stats s;
  s.published = published_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.received = received_.load(std::memory_order_relaxed);
  s.malformed = malformed_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  s.up = send_up_.load(std::memory_order_relaxed) && receive_up_.load(std::memory_order_relaxed);
  s.own_heard_ms = own_heard_ms_.load(std::memory_order_relaxed);
  s.duplicate_ms = duplicate_ms_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace parley::cluster
