// LoopHub: a loop's connections, sessions and fan-out (see loop_hub.h).
#include "gateway/loop_hub.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>

#include "events/event_builder.h"
#include "events/guild_payloads.h"
#include "metrics/server_metrics.h"
#include "model/permissions.h"
#include "util/clock.h"
#include "util/time_format.h"

namespace parley::gateway {

namespace asio = boost::asio;

std::string Session::IdString() const {
  return fmt::format("{:016x}", id);
}

LoopHub::LoopHub(Gateway* gw, int index, asio::io_context& ctx)
    : gw_(gw),
      index_(index),
      ctx_(ctx),
      rbuf_(std::make_unique<uint8_t[]>(kReadBufferSize)),
      sweep_(ctx),
      flush_timer_(ctx),
      hello_timer_(ctx) {}

LoopHub::~LoopHub() {
  // The list's references (the loops have stopped; pending handlers, which
  // hold their own, go with the io_context).
  for (Conn* c : conns_) intrusive_ptr_release(c);
  conns_.clear();
}

int64_t LoopHub::now_ms() const {
  return SteadyMs();
}

void LoopHub::Add(Conn* c) {
  c->list_index = static_cast<uint32_t>(conns_.size());
  conns_.push_back(c);
  intrusive_ptr_add_ref(c);
  open_count_.fetch_add(1, std::memory_order_relaxed);
  gw_->connections_.fetch_add(1, std::memory_order_relaxed);
}

std::string LoopHub::TakeHost(Conn* c) {
  auto it = hosts_.find(c);
  if (it == hosts_.end()) return {};
  std::string h = std::move(it->second);
  hosts_.erase(it);
  return h;
}

void LoopHub::Remove(Conn* c) {
  uint32_t i = c->list_index;
  if (i >= conns_.size() || conns_[i] != c) return;  // not linked
  conns_[i] = conns_.back();
  conns_[i]->list_index = i;
  conns_.pop_back();
  c->list_index = UINT32_MAX;
  hosts_.erase(c);
  open_count_.fetch_sub(1, std::memory_order_relaxed);
  gw_->connections_.fetch_sub(1, std::memory_order_relaxed);
  intrusive_ptr_release(c);  // may delete c
}

void LoopHub::MarkDirty(boost::intrusive_ptr<Conn> c) {
  dirty_.push_back(std::move(c));
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  if (next_flush_ns_ && SteadyNs() < next_flush_ns_) {
    // Paced: the last pass was long (a big fan-out); what arrives until then
    // joins the same writes.
    flush_timer_.expires_at(
        std::chrono::steady_clock::time_point(std::chrono::nanoseconds(next_flush_ns_)));
    flush_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) FlushDirty();
    });
    return;
  }
  // Runs after the handlers already queued on this loop: everything a socket
  // gets during this iteration leaves in one write (corking).
  asio::post(ctx_, [this] { FlushDirty(); });
}

// Flush pacing, measured on the fan-out benchmark (bench/RESULTS.md,
// "Flush pacing"): a pass over 500 sockets costs ~3 ms of mostly kernel time
// (one send() each, loopback TCP and the reader's wake-up); when passes come
// back to back, waiting as long as the last one took lets the next carry
// every dispatch queued meanwhile, so sockets see fewer, larger writes.
// Short passes (< 200 µs) never delay the next.
void LoopHub::FlushDirty() {
  flush_scheduled_ = false;
  const int64_t start = SteadyNs();
  std::vector<boost::intrusive_ptr<Conn>> batch;
  batch.swap(dirty_);
  for (auto& c : batch) c->Flush();
  metrics::M().gateway_flush_passes->Inc();
  const int64_t end = SteadyNs();
  const double pacing = gw_->options().flush_pacing;
  next_flush_ns_ = end - start >= 200'000 && pacing > 0
                       ? end + static_cast<int64_t>(static_cast<double>(end - start) * pacing)
                       : 0;
  if (!pending_latency_.empty()) {
    auto* h = metrics::M().delivery_latency;
    for (int64_t t : pending_latency_) h->Observe(static_cast<double>(end - t) / 1e9);
    pending_latency_.clear();
  }
  if (dirty_.capacity() < batch.capacity()) {
    batch.clear();
    dirty_.swap(batch);  // keep the larger vector for next time
  }
}

std::unique_ptr<std::string> LoopHub::TakeBuffer() {
  if (buffer_pool_.empty()) return std::make_unique<std::string>();
  auto b = std::move(buffer_pool_.back());
  buffer_pool_.pop_back();
  pool_low_ = std::min(pool_low_, buffer_pool_.size());
  return b;
}

void LoopHub::GiveBuffer(std::unique_ptr<std::string> b) {
  constexpr size_t kMaxPooled = 8192, kMaxCapacity = 256 * 1024;
  if (!b || b->capacity() > kMaxCapacity || buffer_pool_.size() >= kMaxPooled) return;
  b->clear();
  buffer_pool_.push_back(std::move(b));
}

void LoopHub::StartSweep() {
  sweep_.expires_after(std::chrono::milliseconds(250));
  sweep_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    Sweep();
    StartSweep();
  });
}

void LoopHub::Sweep() {
  int64_t now = now_ms();
  // Free the pooled buffers no pass needed since the last sweep.
  buffer_pool_.resize(buffer_pool_.size() - pool_low_);  // pool_low_ <= size()
  pool_low_ = buffer_pool_.size();
  // Backwards: a connection that ends is swapped with the last one, which
  // was checked already.
  for (size_t i = conns_.size(); i-- > 0;) {
    if (i >= conns_.size()) continue;
    boost::intrusive_ptr<Conn> keep(conns_[i]);
    keep->CheckDeadlines(now);
  }
  std::vector<Session*> expired;
  for (auto& [_, s] : sessions_)
    if (!s.conn && s.expires_ms && now >= s.expires_ms) expired.push_back(&s);
  for (Session* s : expired) EndSession(s);
}

void LoopHub::QueueHello(Conn* c) {
  c->hello_pending_ = true;
  hello_queue_.emplace_back(c);
  if (hello_queue_.size() > 1) return;  // the timer is running
  hello_timer_.expires_after(std::chrono::milliseconds(kHelloDelayMs));
  hello_timer_.async_wait([this](boost::system::error_code ec) {
    std::vector<boost::intrusive_ptr<Conn>> due;
    due.swap(hello_queue_);
    if (ec) return;
    for (auto& c : due) SendHello(c.get());
  });
}

void LoopHub::SendHello(Conn* c) {
  if (!c->hello_pending_) return;
  c->hello_pending_ = false;
  if (c->phase() != Conn::Phase::kOpen) return;
  c->SendPayload("{\"op\":10,\"d\":{\"heartbeat_interval\":" +
                 std::to_string(gw_->options().heartbeat_interval_ms) + "},\"s\":null,\"t\":null}");
}

void LoopHub::Shutdown() {
  sweep_.cancel();
  hello_timer_.cancel();
  next_flush_ns_ = 0;
  std::vector<boost::intrusive_ptr<Conn>> all(conns_.begin(), conns_.end());
  for (auto& c : all) {
    c->SendPayload(R"({"op":7,"d":null,"s":null,"t":null})");
    c->Close(close_code::kUnknownError, "server restarting");
  }
}

void LoopHub::Dispatch(Session* s, const FramePtr& f) {
  ++s->seq;
  // While held, everything must stay until it is written.
  s->ring.Push(f, s->holds ? ReplayRing::kMaxBound : gw_->options().replay_buffer);
  if (s->conn && s->holds == 0) {
    s->conn->SendDispatch(*f, s->seq);
    s->sent = s->seq;
  }
}

void LoopHub::CloseZombie(Session* s) {
  Conn* old = s->conn;
  if (old == nullptr) return;
  old->set_session(nullptr);
  s->conn = nullptr;
  old->Close(close_code::kUnknownError, "session resumed elsewhere");
}

void LoopHub::Detach(Session* s) {
  s->conn = nullptr;
  s->expires_ms = now_ms() + gw_->options().resume_window_ms;
}

void LoopHub::EndSession(Session* s, bool quiet) {
  if (s->conn) {
    s->conn->set_session(nullptr);
    s->conn = nullptr;
  }
  for (Snowflake g : s->guilds) {
    auto it = guild_subs_.find(g);
    if (it == guild_subs_.end()) continue;
    it->second.erase(s);
    if (it->second.empty()) guild_subs_.erase(it);
  }
  auto us = user_sessions_.find(s->user_id);
  if (us != user_sessions_.end()) {
    std::erase(us->second, s);
    if (us->second.empty()) user_sessions_.erase(us);
  }
  Snowflake user = s->user_id;
  const int shard_id = s->shard_id, shard_count = s->shard_count;
  sessions_.erase(s->id);  // frees s
  session_count_.fetch_sub(1, std::memory_order_relaxed);
  gw_->CountShardSession(shard_id, shard_count, -1);
  gw_->sessions_.fetch_sub(1, std::memory_order_relaxed);
  if (auto off = gw_->presence().SessionEnded(user); off && !quiet)
    gw_->Publish(events::BuildPresenceEvents(state(), user, *off));
}

void LoopHub::Subscribe(Session* s, Snowflake guild_id) {
  auto it = std::lower_bound(s->guilds.begin(), s->guilds.end(), guild_id);
  if (it != s->guilds.end() && *it == guild_id) return;
  s->guilds.insert(it, guild_id);
  guild_subs_[guild_id].insert(s);
}

void LoopHub::Unsubscribe(Session* s, Snowflake guild_id) {
  auto it = std::lower_bound(s->guilds.begin(), s->guilds.end(), guild_id);
  if (it == s->guilds.end() || *it != guild_id) return;
  s->guilds.erase(it);
  auto g = guild_subs_.find(guild_id);
  if (g == guild_subs_.end()) return;
  g->second.erase(s);
  if (g->second.empty()) guild_subs_.erase(g);
}

void LoopHub::SendGuildCreate(Session* s, Snowflake guild_id) {
  auto g = state().GetGuild(guild_id);
  if (!g) return;
  std::string d;
  {
    ReaderLock lock(&g->mu);
    if (!g->members.count(s->user_id)) return;
    d = events::GuildCreateJson(*g, state(), s->user_id, s->large_threshold, gw_->presence(),
                                (s->intents & intent::kGuildPresences) != 0);
  }
  Dispatch(s, MakeDispatch("GUILD_CREATE", d));
}

const FramePtr& LoopHub::ContentFrame(const Session& s, const Event& ev) {
  if (ev.has_content && s.bot && !(s.intents & intent::kMessageContent) &&
      ev.author_id != s.user_id &&
      std::find(ev.mentions.begin(), ev.mentions.end(), s.user_id) == ev.mentions.end()) {
    stripped_ = ev.StrippedFrame();
    return stripped_;
  }
  return ev.frame;
}

void LoopHub::Deliver(const std::shared_ptr<const EventBatch>& events, uint64_t position,
                      uint64_t journal) {
  if (journal != 0 && !events->empty()) {
    // Kept for Rebuild (session_handoff.cc): the resume window's worth, at
    // most 4096 batches.
    const int64_t now = NowMs();
    recent_ephemeral_.emplace_back(now, events);
    while (!recent_ephemeral_.empty() &&
           (recent_ephemeral_.size() > 4096 ||
            recent_ephemeral_.front().first < now - gw_->options().resume_window_ms)) {
      recent_ephemeral_floor_ms_ = recent_ephemeral_.front().first;
      recent_ephemeral_.pop_front();
    }
  }
  Deliver(*events, position, journal);
}

const Channel* LoopHub::PermissionChannel(const GuildState& g, const Event& ev) {
  auto ch = g.channels.find(ev.channel_id);
  if (ch != g.channels.end()) return &ch->second;
  return ev.deleted_channel != nullptr && ev.deleted_channel->id == ev.channel_id
             ? ev.deleted_channel.get()
             : nullptr;
}

// Fan-out of one batch of events to this loop's sessions, in order.
void LoopHub::Deliver(const EventBatch& events, uint64_t position, uint64_t journal) {
  if (position != 0) {
    if (position == delivered_position_) {
      ++delivered_batches_;
    } else if (position > delivered_position_) {
      delivered_position_ = position;
      delivered_batches_ = 1;
    }
  }
  if (journal > delivered_journal_) delivered_journal_ = journal;
  for (const EventPtr& ev : events) {
    if (ev->target == Event::Target::kUser) {
      auto us = user_sessions_.find(ev->user_id);
      if (us == user_sessions_.end()) continue;
      std::vector<Session*> targets = us->second;
      if (ev->action == Event::Action::kEndSessions) {
        for (Session* s : targets) {
          if (ev->token_tag != 0 && s->token_tag != ev->token_tag) continue;
          if (s->conn != nullptr) {
            s->conn->Close(close_code::kAuthenticationFailed, "authentication failed", true);
          } else {
            EndSession(s);  // detached: its resume would fail anyway
          }
        }
        continue;
      }
      for (Session* s : targets) {
        if (!s->InShard(ev->guild_id)) continue;
        if (ev->action == Event::Action::kJoinGuild) {
          bool had = std::binary_search(s->guilds.begin(), s->guilds.end(), ev->guild_id);
          if (had) continue;
          Subscribe(s, ev->guild_id);
          if (s->intents & intent::kGuilds) SendGuildCreate(s, ev->guild_id);
        } else if (ev->action == Event::Action::kLeaveGuild) {
          bool had = std::binary_search(s->guilds.begin(), s->guilds.end(), ev->guild_id);
          if (!had) continue;
          Unsubscribe(s, ev->guild_id);
          if (ev->frame && (s->intents & ev->intent)) Dispatch(s, ev->frame);
        } else if (ev->frame && (!ev->intent || (s->intents & ev->intent))) {
          // A guild's event for one user (CHANNEL_CREATE / CHANNEL_DELETE
          // of a channel they gained or lost): only where subscribed.
          if (ev->guild_id != 0 &&
              !std::binary_search(s->guilds.begin(), s->guilds.end(), ev->guild_id))
            continue;
          Dispatch(s, ev->frame);
        }
      }
      continue;
    }

    auto subs = guild_subs_.find(ev->guild_id);
    if (subs == guild_subs_.end()) continue;
    scratch_.clear();
    bool check = ev->channel_id != 0 && ev->permission != 0;
    if (check) {
      std::shared_ptr<GuildState> g = state().GetGuild(ev->guild_id);
      if (!g) continue;  // fail closed: no guild, no permissions, nobody sees it
      ReaderLock lock(&g->mu);
      const Channel* ch = PermissionChannel(*g, *ev);
      if (ch == nullptr) continue;  // fail closed, likewise
      const Role* everyone = g->everyone();
      // Fast path: no overwrites and @everyone has the permission, so every
      // member has it (roles only add).
      bool all = ch->overwrites.empty() && everyone &&
                 (everyone->permissions & (ev->permission | perm::kAdministrator));
      for (Session* s : subs->second) {
        if (ev->intent && !(s->intents & ev->intent)) continue;
        if (!all && !(g->ChannelPermissions(*ch, s->user_id) & ev->permission)) continue;
        // Their view of the channel changed: a CHANNEL_CREATE or
        // CHANNEL_DELETE of their own follows instead.
        if (ev->Excepts(s->user_id)) continue;
        scratch_.push_back(s);
      }
    } else {
      for (Session* s : subs->second) {
        if (ev->intent && !(s->intents & ev->intent)) continue;
        if (ev->Excepts(s->user_id)) continue;
        scratch_.push_back(s);
      }
    }
    for (Session* s : scratch_) Dispatch(s, ContentFrame(*s, *ev));
    if (ev->action == Event::Action::kGuildDeleted) {
      auto it = guild_subs_.find(ev->guild_id);
      if (it != guild_subs_.end()) {
        std::vector<Session*> all(it->second.begin(), it->second.end());
        for (Session* s : all) Unsubscribe(s, ev->guild_id);
      }
    }
  }
}

}  // namespace parley::gateway
