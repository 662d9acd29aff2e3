// Sessions that move between nodes (docs/cluster.md, "Sessions and resume
// on any node"): checkpoints, holds on dispatches only this node could
// send, handing a session to another node, and taking one over from the
// checkpoint, the owner's journal and the recent log. Without a session
// store (one node, or a cluster without Redis) all of this is a no-op.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>
#include <unordered_map>

#include "events/event_builder.h"
#include "gateway/loop_hub.h"
#include "metrics/server_metrics.h"
#include "util/clock.h"
#include "util/time_format.h"

namespace parley::gateway {

using events::SessionCheckpoint;
using events::SessionStore;
using Saved = events::SessionStore::Saved;

namespace {
// Who the session is and what it asked for (not where it stands).
void TakeIdentity(Session* s, const SessionCheckpoint& cp) {
  s->user_id = cp.user_id;
  s->token_tag = cp.token_tag;
  s->intents = cp.intents;
  s->shard_id = cp.shard_id;
  s->shard_count = cp.shard_count;
  s->large_threshold = cp.large_threshold;
  s->bot = cp.bot;
}
}  // namespace

Session* LoopHub::NewSession(uint64_t sid) {
  Session* s = &sessions_.try_emplace(sid).first->second;
  s->id = sid;
  return s;
}

void LoopHub::AttachSession(Session* s, Conn* c, const std::vector<Snowflake>& guilds) {
  s->conn = c;
  c->set_session(s);
  session_count_.fetch_add(1, std::memory_order_relaxed);
  gw_->CountShardSession(s->shard_id, s->shard_count, +1);
  gw_->sessions_.fetch_add(1, std::memory_order_relaxed);
  user_sessions_[s->user_id].push_back(s);
  for (Snowflake g : guilds) Subscribe(s, g);
}

SessionCheckpoint LoopHub::CheckpointOf(const Session& s, bool at_mark, bool handed_off) const {
  SessionStore* store = gw_->session_store();
  SessionCheckpoint c;
  c.session_id = s.id;
  c.node = store->node_id();
  c.incarnation = store->incarnation();
  c.user_id = s.user_id;
  c.token_tag = s.token_tag;
  c.intents = s.intents;
  c.shard_id = s.shard_id;
  c.shard_count = s.shard_count;
  c.large_threshold = s.large_threshold;
  c.bot = s.bot;
  if (at_mark) {
    c.seq = s.mark_seq;
    c.position = s.mark_position;
    c.position_batches = s.mark_batches;
    c.journal = s.mark_journal;
  } else {
    c.seq = s.seq;
    c.position = delivered_position_;
    c.position_batches = delivered_batches_;
    c.journal = delivered_journal_;
  }
  c.handed_off = handed_off;
  c.guilds = s.guilds;
  c.saved_ms = at_mark ? s.mark_ms : NowMs();
  return c;
}

void LoopHub::BeginPrivate(Session* s) {
  if (gw_->session_store() == nullptr) return;
  ++s->holds;
}

void LoopHub::EndPrivate(Session* s) {
  SessionStore* store = gw_->session_store();
  if (store == nullptr) return;
  const uint64_t sid = s->id;
  store->Save(
      CheckpointOf(*s, false, false), gw_->options().resume_window_ms, nullptr,
      [this, sid](Saved r) { boost::asio::post(ctx_, [this, sid, r] { ReleaseHeld(sid, r); }); });
  // A known point for a handoff or the next heartbeat (the client has it
  // once the hold is released).
  s->mark_seq = s->seq;
  s->mark_position = delivered_position_;
  s->mark_batches = delivered_batches_;
  s->mark_journal = delivered_journal_;
  s->mark_ms = NowMs();
}

void LoopHub::ReleaseHeld(uint64_t session_id, Saved result) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  Session* s = &it->second;
  if (s->holds > 0) --s->holds;
  if (result == Saved::kStored) s->checkpointed = true;
  if (result == Saved::kFailed) {
    metrics::M().cluster_checkpoints_failed->Inc();
    // The dispatch held is one only this node could send, and the store
    // could not be told. If it holds an older checkpoint of this session
    // (Redis unreachable from here only, say), another node resuming from
    // it would number the rest wrongly after this node's death: a gap. So
    // op 9 instead (the client identifies again). With no checkpoint
    // stored yet, a resume elsewhere finds none and gets op 9 anyway.
    if (s->checkpointed) result = Saved::kNotOurs;
  }
  if (result == Saved::kNotOurs) {
    // Another node resumed this session (it had been given up here), or
    // no checkpoint can count what is held (above): this copy must not
    // send anything more.
    Conn* c = s->conn;
    EndSession(s);
    if (c != nullptr) {
      InvalidSession(c);
      c->MarkDirty();
    }
    return;
  }
  SendHeld(s);
}

void LoopHub::SendHeld(Session* s) {
  if (s->holds > 0 || s->conn == nullptr || s->sent >= s->seq) return;
  if (!s->ring.CanReplayAfter(s->sent, s->seq)) {
    s->conn->Close(close_code::kUnknownError, "too much to send");
    return;
  }
  Conn* c = s->conn;
  s->ring.ForEachAfter(s->sent, s->seq, [&](uint64_t n, const Frame& f) { c->SendDispatch(f, n); });
  s->sent = s->seq;
}

bool LoopHub::CheckpointAtHeartbeat(Conn* conn, Session* s, uint64_t acked) {
  SessionStore* store = gw_->session_store();
  if (store == nullptr || s->holds > 0) return false;
  // The newest point the client has (acked) whose position and journal
  // index are known: now, if it has everything; else the previous mark.
  std::optional<SessionCheckpoint> c;
  if (acked >= s->seq) {
    c = CheckpointOf(*s, false, false);
  } else if (s->mark_seq != 0 && acked >= s->mark_seq) {
    c = CheckpointOf(*s, true, false);
  }
  s->mark_seq = s->seq;
  s->mark_position = delivered_position_;
  s->mark_batches = delivered_batches_;
  s->mark_journal = delivered_journal_;
  s->mark_ms = NowMs();
  if (!c) return false;
  const uint64_t sid = s->id;
  auto holder = std::make_shared<boost::intrusive_ptr<Conn>>(conn);
  store->Save(*c, gw_->options().resume_window_ms, nullptr, [this, sid, holder](Saved r) {
    if (r == Saved::kFailed) metrics::M().cluster_checkpoints_failed->Inc();
    boost::asio::post(ctx_, [this, sid, holder, r] {
      boost::intrusive_ptr<Conn> c = std::move(*holder);
      auto it = sessions_.find(sid);
      if (r == Saved::kStored && it != sessions_.end()) it->second.checkpointed = true;
      if (r == Saved::kNotOurs) {
        if (it == sessions_.end()) return;
        ++it->second.holds;  // ReleaseHeld's to take back
        return ReleaseHeld(sid, Saved::kNotOurs);
      }
      if (c->phase() == Conn::Phase::kOpen && c->hub_ == this && it != sessions_.end() &&
          c->session() == &it->second)
        c->SendPayload(kHeartbeatAck);
    });
  });
  return true;
}

void LoopHub::HandOff(uint64_t session_id, uint64_t seq, std::function<void(bool)> answer) {
  SessionStore* store = gw_->session_store();
  if (store == nullptr) return answer(false);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    // Not here. If this node's earlier process held it (this one was
    // restarted since: a kill -9, a crash), that process is gone and its
    // stored checkpoint is final; if this process held it, it ended here.
    return store->Load(session_id, [store, answer = std::move(answer)](
                                       bool ok, std::optional<SessionCheckpoint> cp) {
      answer(ok && cp && cp->node == store->node_id() && cp->incarnation != store->incarnation());
    });
  }
  Session* s = &it->second;
  // The newest point the client has: now, or the previous mark.
  const bool at_mark = seq < s->seq && s->mark_seq != 0 && seq >= s->mark_seq;
  const bool behind = seq < s->seq && !at_mark;
  SessionCheckpoint c = CheckpointOf(*s, at_mark, true);
  CloseZombie(s);
  // Quietly: the user is not going offline, the session moves (an offline
  // PRESENCE_UPDATE here would be journaled inside its window).
  EndSession(s, /*quiet=*/true);
  metrics::M().cluster_handoffs_given->Inc();
  // The client is behind both points known here (dispatches were in flight
  // when its connection ended, past the last mark): the checkpoint stored
  // last stands, final as this copy sends nothing more. A heartbeat's is at
  // or before what the client had acknowledged; one stored for a private
  // dispatch the client never got is past its seq, and the taker answers
  // op 9 (measured: a storm through nginx at 100k deliveries/s gave 51 of
  // 10,000 op 9 when a checkpoint at the present was stored instead).
  if (behind) return answer(true);
  store->Save(c, gw_->options().resume_window_ms, nullptr,
              [answer = std::move(answer)](Saved r) { answer(r == Saved::kStored); });
}

void LoopHub::SaveFinalCheckpoints(std::function<void()> done) {
  SessionStore* store = gw_->session_store();
  auto left = std::make_shared<size_t>(1);
  auto finish = [this, left, done](bool) {
    boost::asio::post(ctx_, [left, done] {
      if (--*left == 0) done();
    });
  };
  if (store != nullptr) {
    for (auto& [_, s] : sessions_) {
      if (s.conn == nullptr || s.holds > 0) continue;
      ++*left;
      store->Save(CheckpointOf(s, false, true), gw_->options().resume_window_ms, nullptr,
                  [finish](Saved r) { finish(r == Saved::kStored); });
    }
  }
  finish(true);
}

void LoopHub::RefuseTakeOver(Conn* c, uint64_t session_id, std::string_view why) {
  metrics::M().cluster_takeovers_refused->Inc();
  spdlog::info("session {:016x} of another node: op 9 ({})", session_id, why);
  InvalidSession(c);
}

void LoopHub::OnLoop(boost::intrusive_ptr<Conn> c,
                     std::function<void(boost::intrusive_ptr<Conn>)> fn) {
  // Conn's reference count is not thread-safe: the reference is taken and
  // dropped on this loop only; other threads pass the holder along.
  auto holder = std::make_shared<boost::intrusive_ptr<Conn>>(std::move(c));
  boost::asio::post(ctx_, [this, holder, fn = std::move(fn)] {
    boost::intrusive_ptr<Conn> conn = std::move(*holder);
    if (conn->phase() == Conn::Phase::kOpen && !conn->session() && conn->hub_ == this)
      fn(std::move(conn));
  });
}

void LoopHub::OnLoopAfter(boost::intrusive_ptr<Conn> c, int delay_ms,
                          std::function<void(boost::intrusive_ptr<Conn>)> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(ctx_);
  timer->expires_after(std::chrono::milliseconds(delay_ms));
  timer->async_wait([this, timer, c = std::move(c), fn = std::move(fn)](boost::system::error_code) {
    if (c->phase() == Conn::Phase::kOpen && !c->session() && c->hub_ == this) fn(c);
  });
}

namespace {
// A handoff answer, or the owner's death, is waited for this long.
constexpr int kHandoffTimeoutMs = 1000;
constexpr int kOwnerDeathWaitMs = 7000;
constexpr int kPollMs = 250;
// How far nodes' clocks may differ (NTP keeps them within milliseconds):
// a checkpoint's time is compared with this loop's delivery times.
constexpr int64_t kClockMarginMs = 100;
// How far apart two nodes may deliver the same ephemeral event (from one
// bus message): the owner's copy of an event this loop delivered is looked
// for this far around it.
constexpr int64_t kDeliverySkewMs = 1000;
// The owner's journal entries read from before the checkpoint (what it had
// delivered just before), to tell this loop's events it had from those it
// never had.
constexpr uint32_t kEarlierEntries = 256;

// An ephemeral frame's identity: its bytes (nodes build the same typing or
// presence event from the same bus message, byte for byte).
std::string FrameKey(const events::Frame& f) {
  std::string k = f.head;
  k += '\0';
  k += f.tail;
  return k;
}
// The ephemeral frames the owner's journal shows it delivered, by frame,
// each matched at most once with a copy this loop delivered.
class OwnerFrames {
 public:
  void Add(const events::Frame& f, int64_t at_ms) { frames_[FrameKey(f)].push_back({at_ms}); }
  // Whether the owner delivered `f` within kDeliverySkewMs of `at_ms` (a
  // copy not matched before); marks that copy matched.
  bool Take(const events::Frame& f, int64_t at_ms) {
    auto it = frames_.find(FrameKey(f));
    if (it == frames_.end()) return false;
    for (Copy& c : it->second) {
      if (c.matched || c.at_ms < at_ms - kDeliverySkewMs || c.at_ms > at_ms + kDeliverySkewMs)
        continue;
      c.matched = true;
      return true;
    }
    return false;
  }

 private:
  struct Copy {
    int64_t at_ms;
    bool matched = false;
  };
  std::unordered_map<std::string, std::vector<Copy>> frames_;
};

// Whether stream point (p1, b1) comes before (p2, b2).
bool PointBefore(uint64_t p1, uint32_t b1, uint64_t p2, uint32_t b2) {
  return p1 < p2 || (p1 == p2 && b1 < b2);
}
}  // namespace

void LoopHub::TakeOver(Conn* conn, Snowflake user_id, uint64_t token_tag, uint64_t session_id,
                       uint64_t seq) {
  SessionStore* store = gw_->session_store();
  boost::intrusive_ptr<Conn> c(conn);
  auto holder = std::make_shared<boost::intrusive_ptr<Conn>>(std::move(c));
  store->Load(session_id, [this, holder, user_id, token_tag, seq, sid = session_id](
                              bool ok, std::optional<SessionCheckpoint> cp) {
    OnLoop(std::move(*holder), [this, ok, cp = std::move(cp), user_id, token_tag, seq,
                                sid](boost::intrusive_ptr<Conn> c) {
      SessionStore* store = gw_->session_store();
      if (!ok) return RefuseTakeOver(c.get(), sid, "the session store cannot be read");
      if (!cp) return RefuseTakeOver(c.get(), sid, "no checkpoint");
      if (cp->user_id != user_id || cp->token_tag != token_tag)
        return RefuseTakeOver(c.get(), sid, "another user's or another token's");
      if (cp->seq > seq)
        return RefuseTakeOver(c.get(), sid, "the checkpoint is past the client's seq");
      if (cp->node == store->node_id() && cp->incarnation == store->incarnation())
        return RefuseTakeOver(c.get(), sid, "it ended here");
      TakeOverStep(std::move(c), seq, *cp, 0);
    });
  });
}

// attempt 0: just loaded. Ask the owner to hand the session over unless it
// did or is this node's earlier process; if it does not answer, wait for it
// to be declared dead (or op 9 if it stays alive).
void LoopHub::TakeOverStep(boost::intrusive_ptr<Conn> c, uint64_t seq, SessionCheckpoint cp,
                           int attempt) {
  SessionStore* store = gw_->session_store();
  const bool owner_gone =
      cp.handed_off || cp.node == store->node_id() || (attempt > 0 && !store->NodeAlive(cp.node));
  auto holder = std::make_shared<boost::intrusive_ptr<Conn>>(std::move(c));
  if (owner_gone) {
    // Reload (the owner may have stored a newer checkpoint), catch up with
    // the cluster, read the owner's journal, rebuild.
    store->Load(cp.session_id, [this, holder, seq, old = cp](bool ok,
                                                             std::optional<SessionCheckpoint> now) {
      SessionCheckpoint cp = ok && now ? *now : old;
      if (cp.seq > seq || cp.user_id != old.user_id || cp.token_tag != old.token_tag ||
          cp.node != old.node || cp.incarnation != old.incarnation) {
        // Past what the client has, or another node took it meanwhile.
        OnLoop(std::move(*holder), [this, sid = old.session_id](boost::intrusive_ptr<Conn> c) {
          RefuseTakeOver(c.get(), sid, "the owner's final checkpoint is past the client's seq");
        });
        return;
      }
      const Gateway::ClusterSync& sync = gw_->cluster_sync();
      auto read = [this, holder, seq, cp] {
        gw_->session_store()->ReadJournal(
            cp.node, cp.incarnation, cp.journal, kEarlierEntries,
            [this, holder, seq, cp](bool ok, std::vector<events::JournalEntry> entries) {
              OnLoop(std::move(*holder), [this, ok, seq, cp, entries = std::move(entries)](
                                             boost::intrusive_ptr<Conn> c) mutable {
                if (!ok)
                  return RefuseTakeOver(c.get(), cp.session_id,
                                        "the owner's journal is incomplete or unreadable");
                Rebuild(std::move(c), seq, cp, std::move(entries), 0);
              });
            });
      };
      if (sync) {
        sync(read);
      } else {
        read();
      }
    });
    return;
  }
  if (attempt == 0) {
    store->RequestHandoff(
        cp.node, cp.session_id, seq, kHandoffTimeoutMs,
        [this, holder, seq, cp](bool answered, bool ok) {
          OnLoop(std::move(*holder), [this, answered, ok, seq, cp](boost::intrusive_ptr<Conn> c) {
            if (answered && !ok)
              return RefuseTakeOver(c.get(), cp.session_id, "the owner does not have it");
            SessionCheckpoint next = cp;
            if (answered) next.handed_off = true;  // reloaded before use
            TakeOverStep(std::move(c), seq, next, 1);
          });
        });
    return;
  }
  if (attempt * kPollMs > kOwnerDeathWaitMs)
    return RefuseTakeOver(holder->get(), cp.session_id, "the owner is alive and does not answer");
  // Poll: the owner may yet store its final checkpoint (a late answer), or
  // be declared dead.
  OnLoopAfter(std::move(*holder), kPollMs, [this, seq, cp, attempt](boost::intrusive_ptr<Conn> c) {
    auto again = std::make_shared<boost::intrusive_ptr<Conn>>(std::move(c));
    gw_->session_store()->Load(cp.session_id, [this, again, seq, cp, attempt](
                                                  bool ok, std::optional<SessionCheckpoint> now) {
      SessionCheckpoint next = cp;
      if (ok && now && now->node == cp.node && now->incarnation == cp.incarnation) next = *now;
      OnLoop(std::move(*again), [this, seq, next, attempt](boost::intrusive_ptr<Conn> c) {
        TakeOverStep(std::move(c), seq, next, attempt + 1);
      });
    });
  });
}

FramePtr LoopHub::FrameFor(const Session& s, const Event& ev, bool* unsure) {
  if (ev.target == Event::Target::kUser) {
    if (ev.user_id != s.user_id) return nullptr;
    if (ev.action != Event::Action::kNone) {
      *unsure = true;
      return nullptr;
    }
    if (!s.InShard(ev.guild_id) || !ev.frame) return nullptr;
    if (ev.intent && !(s.intents & ev.intent)) return nullptr;
    // As Deliver: a guild's event for one user (CHANNEL_CREATE /
    // CHANNEL_DELETE of a channel they gained or lost) only where
    // subscribed.
    if (ev.guild_id != 0 && !std::binary_search(s.guilds.begin(), s.guilds.end(), ev.guild_id))
      return nullptr;
    return ev.frame;
  }
  if (!std::binary_search(s.guilds.begin(), s.guilds.end(), ev.guild_id)) return nullptr;
  if (ev.action != Event::Action::kNone) {
    *unsure = true;
    return nullptr;
  }
  if (ev.intent && !(s.intents & ev.intent)) return nullptr;
  if (ev.Excepts(s.user_id)) return nullptr;  // as Deliver
  if (ev.channel_id != 0 && ev.permission != 0) {
    // As Deliver: fail closed.
    auto g = state().GetGuild(ev.guild_id);
    if (!g) return nullptr;
    ReaderLock lock(&g->mu);
    const Channel* ch = PermissionChannel(*g, ev);
    if (ch == nullptr || !(g->ChannelPermissions(*ch, s.user_id) & ev.permission)) return nullptr;
  }
  return ContentFrame(s, ev);
}

void LoopHub::Rebuild(boost::intrusive_ptr<Conn> c, uint64_t seq, const SessionCheckpoint& cp,
                      std::vector<events::JournalEntry> journal, int attempt) {
  auto refuse = [&](const char* why) { RefuseTakeOver(c.get(), cp.session_id, why); };
  // Who sees what must not have changed since the checkpoint: the filter
  // applied now is the one the owner applied then.
  // Two resumes of one session at once: the first one here wins.
  if (sessions_.count(cp.session_id)) return refuse("being resumed here already");
  if (gw_->VisibilityChangedAfter(cp.guilds, cp.user_id, cp.position, cp.position_batches))
    return refuse(fmt::format("who sees what changed in the window: checkpoint s={} at {}.{}, "
                              "client s={}",
                              cp.seq, cp.position, cp.position_batches, seq)
                      .c_str());
  Session vs;  // the session as the checkpoint has it, to filter for
  vs.id = cp.session_id;
  TakeIdentity(&vs, cp);
  vs.guilds = cp.guilds;
  bool unsure = false;
  // The owner's journal: the entries after the checkpoint go into the
  // rebuild at their places in its stream (the session got them there, or
  // would have); every frame of it the session passed, before and after
  // the checkpoint, tells which of this loop's own events the owner had.
  struct Placed {
    const events::JournalEntry* entry;
    FramePtr frame;
  };
  std::vector<Placed> placed;
  OwnerFrames owner_frames;
  uint64_t upto_position = cp.position;
  uint32_t upto_batches = cp.position_batches;
  size_t earlier = 0;
  int64_t earliest_ms = cp.saved_ms;
  for (const events::JournalEntry& e : journal) {
    const bool after = e.index > cp.journal;
    if (after) {
      if (PointBefore(e.after_position, e.after_batches, cp.position, cp.position_batches))
        return refuse("an entry of the owner's journal lies before its checkpoint");
      upto_position = e.after_position;
      upto_batches = e.after_batches;
    } else {
      ++earlier;
      earliest_ms = std::min(earliest_ms, e.at_ms);
    }
    for (const EventPtr& ev : e.events) {
      FramePtr f = FrameFor(vs, *ev, &unsure);
      if (unsure) return refuse("an ephemeral event changes subscriptions");
      if (!f) continue;
      owner_frames.Add(*f, e.at_ms);
      if (after) placed.push_back({&e, std::move(f)});
    }
  }
  // Ephemeral events this loop delivered since the checkpoint: those the
  // owner had (its copy within kDeliverySkewMs) are in the rebuild already
  // or were sent before the checkpoint; the others it never had (it died
  // first, or the bus lost them there) and go after the rebuilt ones.
  const int64_t since = cp.saved_ms - kClockMarginMs;
  if (since < recent_ephemeral_floor_ms_)
    return refuse("ephemeral events of the window no longer held");
  std::vector<FramePtr> unseen;
  for (const auto& [at_ms, batch] : recent_ephemeral_) {
    if (at_ms < since) continue;
    for (const EventPtr& ev : *batch) {
      FramePtr f = FrameFor(vs, *ev, &unsure);
      if (unsure) return refuse("an ephemeral event changes subscriptions");
      if (!f) continue;
      if (owner_frames.Take(*f, at_ms)) continue;
      // The owner's copy may be among its entries before the checkpoint
      // that were not read (more than kEarlierEntries of them lately).
      if (earlier >= kEarlierEntries && earliest_ms > at_ms - kDeliverySkewMs)
        return refuse("too many ephemeral events just before the checkpoint");
      unseen.push_back(std::move(f));
    }
  }
  // The owner may have sent positions this loop has not delivered yet.
  auto retry = [&] {
    if (attempt >= 200) return refuse("this node has not delivered what the owner had");
    auto entries = std::make_shared<std::vector<events::JournalEntry>>(std::move(journal));
    OnLoopAfter(std::move(c), 25, [this, seq, cp, entries, attempt](boost::intrusive_ptr<Conn> c) {
      Rebuild(std::move(c), seq, cp, std::move(*entries), attempt + 1);
    });
  };
  if (PointBefore(delivered_position_, delivered_batches_, upto_position, upto_batches))
    return retry();
  // The log's events after the checkpoint, filtered as the owner did, with
  // the owner's ephemeral events where its stream had them: an entry
  // placed after batch b of position p goes before every later batch.
  std::vector<FramePtr> frames;
  size_t next = 0;
  uint64_t at_position = cp.position;
  uint32_t at_batch = cp.position_batches;
  const bool held = gw_->ForEachRecent(
      cp.position, cp.position_batches, delivered_position_, delivered_batches_,
      [&](uint64_t position, const EventBatch& batch) {
        if (position == at_position) {
          ++at_batch;
        } else {
          at_position = position;
          at_batch = 1;
        }
        while (next < placed.size() &&
               PointBefore(placed[next].entry->after_position, placed[next].entry->after_batches,
                           at_position, at_batch))
          frames.push_back(placed[next++].frame);
        for (const EventPtr& ev : batch)
          if (FramePtr f = FrameFor(vs, *ev, &unsure)) frames.push_back(std::move(f));
      });
  for (; next < placed.size(); ++next) frames.push_back(placed[next].frame);
  for (FramePtr& f : unseen) frames.push_back(std::move(f));
  if (!held) return refuse("the recent log no longer holds the window");
  if (unsure) return refuse("its subscriptions changed in the window");
  if (cp.seq + frames.size() < seq) return retry();
  if (frames.size() > ReplayRing::kMaxBound) return refuse("too much to replay");

  // The session is this loop's now: the rebuilt dispatches, then RESUMED
  // once this node's checkpoint (taking it over) is stored.
  Session* s = NewSession(cp.session_id);
  TakeIdentity(s, cp);
  s->seq = cp.seq;
  ++s->holds;
  for (FramePtr& f : frames) Dispatch(s, f);
  AttachSession(s, c.get(), cp.guilds);
  s->sent = seq;
  static const FramePtr kResumed = MakeDispatch("RESUMED", "null");
  Dispatch(s, kResumed);
  const uint64_t sid = s->id;
  // Taken over only if the checkpoint is still the one rebuilt from (two
  // nodes taking it at once: one wins, the other's client gets op 9); and
  // not sent at all if it cannot be stored (the old checkpoint would then
  // describe a session that goes on here).
  gw_->session_store()->Save(CheckpointOf(*s, false, false), gw_->options().resume_window_ms, &cp,
                             [this, sid](Saved r) {
                               if (r == Saved::kFailed) r = Saved::kNotOurs;
                               boost::asio::post(ctx_, [this, sid, r] { ReleaseHeld(sid, r); });
                             });
  if (auto changed = gw_->presence().SessionStarted(s->user_id, std::nullopt))
    gw_->Publish(events::BuildPresenceEvents(state(), s->user_id, *changed));
  gw_->resumes_.fetch_add(1, std::memory_order_relaxed);
  metrics::M().gateway_resumes_ok->Inc();
  metrics::M().cluster_takeovers->Inc();
  spdlog::debug("session {:016x} of node {} resumed here ({} dispatches rebuilt)", sid, cp.node,
                frames.size());
}

}  // namespace parley::gateway
