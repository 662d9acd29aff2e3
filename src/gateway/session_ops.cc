// What a gateway connection's client payloads do: heartbeat, identify,
// resume, presence update, request guild members.
#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include "events/event_builder.h"
#include "events/guild_payloads.h"
#include "gateway/loop_hub.h"
#include "metrics/server_metrics.h"
#include "util/crypto.h"
#include "util/json_writer.h"
#include "wire/serialize.h"

namespace parley::gateway {

namespace {

std::optional<Snowflake> Authenticate(const State& state, const TokenHash& token_hash,
                                      std::shared_ptr<const User>* user) {
  auto uid = state.Authenticate(token_hash);
  if (!uid) return std::nullopt;
  *user = state.GetUser(*uid);
  if (!*user) return std::nullopt;
  return uid;
}

bool ToPresence(const PresenceUpdate& p, Presence* out) {
  if (p.status == "offline") {
    out->status = "invisible";  // Discord: setting offline = invisible
  } else {
    out->status = p.status;
  }
  out->activities_json = p.activities_json;
  out->since = p.since;
  out->afk = p.afk;
  return true;
}
}  // namespace

bool LoopHub::HandlePayload(Conn* c, const ClientPayload& p) {
  SendHello(c);  // Hello always comes first
  switch (p.op) {
    case op::kHeartbeat: {
      c->Beat(now_ms());
      if (Session* s = c->session(); s && p.heartbeat_seq && *p.heartbeat_seq <= s->seq) {
        s->ring.TrimThrough(*p.heartbeat_seq, s->seq);
        // In a cluster the ACK waits for the checkpoint to be stored: an
        // acknowledged heartbeat is a point the session resumes from.
        if (CheckpointAtHeartbeat(c, s, *p.heartbeat_seq)) return true;
      }
      c->SendPayload(kHeartbeatAck);
      return true;
    }
    case op::kIdentify:
      return Identify(c, p.identify);
    case op::kResume:
      return Resume(c, p.resume);
    case op::kPresenceUpdate:
      if (!c->session()) {
        c->Close(close_code::kNotAuthenticated, "not authenticated");
        return false;
      }
      UpdatePresence(c, p.presence);
      return true;
    case op::kRequestGuildMembers:
      if (!c->session()) {
        c->Close(close_code::kNotAuthenticated, "not authenticated");
        return false;
      }
      RequestMembers(c, p.request_members);
      return true;
    case op::kVoiceStateUpdate:
      if (!c->session()) {
        c->Close(close_code::kNotAuthenticated, "not authenticated");
        return false;
      }
      return true;  // no voice in Parley
    default:
      c->Close(close_code::kUnknownOpcode, "unknown opcode");
      return false;
  }
}

bool LoopHub::Identify(Conn* c, const struct Identify& id, bool budget_taken) {
  if (c->session()) {
    c->Close(close_code::kAlreadyAuthenticated, "already authenticated");
    return false;
  }
  std::shared_ptr<const User> user;
  const TokenHash token_hash = HashToken(id.token);
  if (!Authenticate(state(), token_hash, &user)) {
    if (RetryAfterClusterSync(c, [this, id](Conn* again) { Identify(again, id); })) return true;
    c->Close(close_code::kAuthenticationFailed, "authentication failed", true);
    return false;
  }
  const GatewayOptions& o = gw_->options();
  uint64_t intents = intent::kAllDefined;
  Snowflake app_flags = 0;
  if (user->bot) {
    if (!id.intents) {
      c->Close(close_code::kInvalidIntents, "intents are required");
      return false;
    }
    intents = *id.intents;
    auto app = state().GetApplication(user->id);
    app_flags = app ? app->flags : 0;
    uint64_t granted = 0;
    if (o.allow_privileged_intents || (app_flags & ((1u << 12) | (1u << 13))))
      granted |= intent::kGuildPresences;
    if (o.allow_privileged_intents || (app_flags & ((1u << 14) | (1u << 15))))
      granted |= intent::kGuildMembers;
    if (o.allow_privileged_intents || (app_flags & ((1u << 18) | (1u << 19))))
      granted |= intent::kMessageContent;
    if (intents & intent::kPrivileged & ~granted) {
      c->Close(close_code::kDisallowedIntents, "disallowed intents");
      return false;
    }
  } else if (id.intents) {
    intents = *id.intents;
  }
  std::vector<Snowflake> guilds;
  for (Snowflake g : state().GuildsOfUser(user->id))
    if (id.shard_count <= 1 ||
        (g >> 22) % static_cast<uint64_t>(id.shard_count) == static_cast<uint64_t>(id.shard_id))
      guilds.push_back(g);
  if (static_cast<int>(guilds.size()) > o.max_guilds_per_shard) {
    c->Close(close_code::kShardingRequired, "sharding required");
    return false;
  }
  if (!budget_taken) {
    if (gw_->has_shared_limits()) {
      // A cluster counts identifies across its nodes: ask, then identify.
      if (c->identifying_) return true;  // one at a time
      c->identifying_ = true;
      auto holder = std::make_shared<boost::intrusive_ptr<Conn>>(c);
      gw_->TakeIdentify(user->id, user->bot, [this, holder, id](bool ok) {
        boost::asio::post(ctx_, [this, holder, id, ok] {
          boost::intrusive_ptr<Conn> conn = std::move(*holder);
          conn->identifying_ = false;
          if (conn->phase() != Conn::Phase::kOpen || conn->session() || conn->hub_ != this) return;
          if (!ok) return conn->Close(close_code::kRateLimited, "session start limit reached");
          Identify(conn.get(), id, true);
        });
      });
      return true;
    }
    bool ok = false;
    gw_->TakeIdentify(user->id, user->bot, [&ok](bool r) { ok = r; });  // runs at once
    if (!ok) {
      c->Close(close_code::kRateLimited, "session start limit reached");
      return false;
    }
  }

  uint64_t rnd = 0;
  randombytes_buf(&rnd, sizeof rnd);
  uint64_t sid = (static_cast<uint64_t>(index_) << 56) | (rnd & ((1ull << 56) - 1));
  while (sessions_.count(sid)) sid ^= ++session_counter_;
  Session* s = NewSession(sid);
  s->user_id = user->id;
  s->token_tag = events::TokenTag(token_hash);
  s->bot = user->bot;
  s->intents = static_cast<uint32_t>(intents);
  s->shard_id = static_cast<uint16_t>(id.shard_id);
  s->shard_count = static_cast<uint16_t>(id.shard_count);
  s->large_threshold = static_cast<uint8_t>(std::clamp(id.large_threshold, 50, 250));
  AttachSession(s, c, guilds);
  BeginPrivate(s);  // READY and the GUILD_CREATEs: only this node can send them

  // READY.
  std::string d = "{\"v\":10,\"user\":";
  json::AppendUserJson(&d, *user);
  d.append(",\"guilds\":[");
  for (size_t i = 0; i < guilds.size(); ++i) {
    if (i) d.push_back(',');
    d.append("{\"id\":");
    AppendJsonId(&d, guilds[i]);
    d.append(",\"unavailable\":true}");
  }
  d.append("],\"session_id\":\"");
  d.append(s->IdString());
  d.append("\",\"session_type\":\"normal\",\"resume_gateway_url\":");
  AppendJsonString(&d, gw_->Url(TakeHost(c)));
  d.append(",\"shard\":[");
  AppendJsonInt(&d, s->shard_id);
  d.push_back(',');
  AppendJsonInt(&d, s->shard_count);
  d.push_back(']');
  if (user->bot) {
    d.append(",\"application\":{\"id\":");
    AppendJsonId(&d, user->id);
    d.append(",\"flags\":");
    AppendJsonInt(&d, static_cast<int64_t>(app_flags));
    d.push_back('}');
  }
  d.append(
      ",\"private_channels\":[],\"relationships\":[],\"user_settings\":{},"
      "\"guild_join_requests\":[],\"presences\":[],\"geo_ordered_rtc_regions\":[]}");
  metrics::M().gateway_identifies->Inc();
  Dispatch(s, MakeDispatch("READY", d));
  for (Snowflake g : guilds) SendGuildCreate(s, g);
  EndPrivate(s);

  std::optional<Presence> want;
  if (id.presence) {
    Presence p;
    ToPresence(*id.presence, &p);
    want = p;
  }
  if (auto changed = gw_->presence().SessionStarted(user->id, want))
    gw_->Publish(events::BuildPresenceEvents(state(), user->id, *changed));
  return true;
}

bool LoopHub::RetryAfterClusterSync(Conn* c, std::function<void(Conn*)> again) {
  const Gateway::ClusterSync& sync = gw_->cluster_sync();
  if (!sync || c->auth_synced_) return false;
  c->auth_synced_ = true;
  // Conn's reference count is not thread-safe: the reference is taken and
  // dropped on this loop only; other threads pass the holder along.
  auto holder = std::make_shared<boost::intrusive_ptr<Conn>>(c);
  sync([this, holder, again = std::move(again)] {
    boost::asio::post(ctx_, [this, holder, again] {
      boost::intrusive_ptr<Conn> conn = std::move(*holder);
      if (conn->phase() == Conn::Phase::kOpen && !conn->session() && conn->hub_ == this)
        again(conn.get());
    });
  });
  return true;
}

void LoopHub::InvalidSession(Conn* c) {
  gw_->resumes_failed_.fetch_add(1, std::memory_order_relaxed);
  metrics::M().gateway_resumes_failed->Inc();
  c->SendPayload(R"({"op":9,"d":false,"s":null,"t":null})");
}

bool LoopHub::Resume(Conn* c, const struct Resume& r) {
  if (c->session()) {
    c->Close(close_code::kAlreadyAuthenticated, "already authenticated");
    return false;
  }
  std::shared_ptr<const User> user;
  if (!Authenticate(state(), HashToken(r.token), &user)) {
    c->Close(close_code::kAuthenticationFailed, "authentication failed", true);
    return false;
  }
  uint64_t sid = 0;
  bool ok = r.session_id.size() == 16;
  for (char ch : r.session_id) {
    int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (v < 0) {
      ok = false;
      break;
    }
    sid = sid << 4 | static_cast<uint64_t>(v);
  }
  if (!ok) {
    InvalidSession(c);
    return true;
  }
  // A session lives on the loop its id names (modulo this node's loops: a
  // session taken over from another node keeps its id).
  const int home = static_cast<int>((sid >> 56) % static_cast<uint64_t>(gw_->hub_count()));
  const uint64_t tag = events::TokenTag(HashToken(r.token));
  if (home == index_) {
    FinishResume(c, user->id, tag, sid, r.seq);
    return c->phase() == Conn::Phase::kOpen;
  }
  // The session lives on another loop: move the connection there.
  Snowflake uid = user->id;
  uint64_t seq = r.seq;
  c->MigrateTo(home, [gw = gw_, home, uid, tag, sid, seq](Conn* moved) {
    gw->hub(home).FinishResume(moved, uid, tag, sid, seq);
  });
  return false;  // stop parsing here: the connection is no longer ours
}

void LoopHub::FinishResume(Conn* c, Snowflake user_id, uint64_t token_tag, uint64_t session_id,
                           uint64_t seq) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() && gw_->session_store() != nullptr)
    return TakeOver(c, user_id, token_tag, session_id, seq);
  if (it == sessions_.end() || it->second.user_id != user_id) return InvalidSession(c);
  Session* s = &it->second;
  if (seq > s->seq) {
    c->Close(close_code::kInvalidSeq, "invalid seq");
    return;
  }
  if (!s->ring.CanReplayAfter(seq, s->seq)) {
    EndSession(s);
    return InvalidSession(c);
  }
  CloseZombie(s);
  s->conn = c;
  s->expires_ms = 0;
  s->sent = seq;
  c->set_session(s);
  static const FramePtr kResumed = MakeDispatch("RESUMED", "null");
  if (gw_->session_store() == nullptr) {
    s->ring.ForEachAfter(seq, s->seq, [&](uint64_t n, const Frame& f) { c->SendDispatch(f, n); });
    s->sent = s->seq;
    Dispatch(s, kResumed);
  } else {
    // The replay waits with RESUMED until the store says the session is
    // still this node's (another may have taken it over meanwhile).
    BeginPrivate(s);
    Dispatch(s, kResumed);
    EndPrivate(s);
  }
  gw_->resumes_.fetch_add(1, std::memory_order_relaxed);
  metrics::M().gateway_resumes_ok->Inc();
}

void LoopHub::UpdatePresence(Conn* c, const PresenceUpdate& p) {
  Presence pr;
  ToPresence(p, &pr);
  Snowflake uid = c->session()->user_id;
  if (auto changed = gw_->presence().Update(uid, pr))
    gw_->Publish(events::BuildPresenceEvents(state(), uid, *changed));
}

void LoopHub::RequestMembers(Conn* c, const RequestGuildMembers& r) {
  Session* s = c->session();
  if (!std::binary_search(s->guilds.begin(), s->guilds.end(), r.guild_id)) return;
  auto g = state().GetGuild(r.guild_id);
  if (!g) return;
  const bool presences = r.presences && (s->intents & intent::kGuildPresences);
  std::vector<const Member*> picked;
  std::vector<Snowflake> not_found;
  std::vector<std::string> chunks;
  {
    ReaderLock lock(&g->mu);
    if (!r.user_ids.empty()) {
      for (Snowflake id : r.user_ids) {
        auto it = g->members.find(id);
        if (it == g->members.end())
          not_found.push_back(id);
        else
          picked.push_back(&it->second);
      }
    } else {
      std::string q = ToLower(r.query.value_or(""));
      // Everyone (query "" and limit 0) needs GUILD_MEMBERS, as on Discord.
      bool all = q.empty() && r.limit == 0;
      if (all && s->bot && !(s->intents & intent::kGuildMembers)) {
        all = false;
      }
      size_t limit = all ? SIZE_MAX : static_cast<size_t>(std::clamp(r.limit, 1, 100));
      if (!all && q.empty() && s->bot && !(s->intents & intent::kGuildMembers)) limit = 0;
      for (const auto& [uid, m] : g->members) {
        if (picked.size() >= limit) break;
        if (!q.empty()) {
          auto u = state().GetUser(uid);
          bool match = (u && ToLower(u->username).starts_with(q)) ||
                       (!m.nick.empty() && ToLower(m.nick).starts_with(q));
          if (!match) continue;
        }
        picked.push_back(&m);
      }
    }
    const size_t per = 1000;
    size_t count = std::max<size_t>(1, (picked.size() + per - 1) / per);
    for (size_t i = 0; i < count; ++i) {
      std::string d = "{\"guild_id\":";
      AppendJsonId(&d, r.guild_id);
      d.append(",\"members\":[");
      std::string pres = "[";
      for (size_t k = i * per; k < std::min(picked.size(), (i + 1) * per); ++k) {
        if (k != i * per) d.push_back(',');
        d.append(events::MemberEventJson(*picked[k], state(), 0));
        if (presences) {
          if (auto p = gw_->presence().Get(picked[k]->user_id)) {
            if (pres.size() > 1) pres.push_back(',');
            events::AppendPresenceJson(&pres, picked[k]->user_id, r.guild_id, *p);
          }
        }
      }
      pres.push_back(']');
      d.append("],\"chunk_index\":");
      AppendJsonInt(&d, static_cast<int64_t>(i));
      d.append(",\"chunk_count\":");
      AppendJsonInt(&d, static_cast<int64_t>(count));
      if (i == 0 && !r.user_ids.empty()) {
        d.append(",\"not_found\":[");
        for (size_t k = 0; k < not_found.size(); ++k) {
          if (k) d.push_back(',');
          AppendJsonId(&d, not_found[k]);
        }
        d.push_back(']');
      }
      if (presences) {
        d.append(",\"presences\":");
        d.append(pres);
      }
      if (!r.nonce.empty()) {
        d.append(",\"nonce\":");
        AppendJsonString(&d, r.nonce);
      }
      d.push_back('}');
      chunks.push_back(std::move(d));
    }
  }
  BeginPrivate(s);
  for (const std::string& d : chunks) Dispatch(s, MakeDispatch("GUILD_MEMBERS_CHUNK", d));
  EndPrivate(s);
}

}  // namespace parley::gateway
