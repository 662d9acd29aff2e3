// Invites: create, list, look up (no account needed), accept (join), delete.
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "model/permissions.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

bool Expired(const Invite& inv, int64_t now_ms) {
  return (inv.max_age > 0 && now_ms >= inv.created_ms + int64_t(inv.max_age) * 1000) ||
         (inv.max_uses > 0 && inv.uses >= inv.max_uses);
}

// The live invite of params[0], or null after failing with 10006.
std::optional<Invite> LiveInvite(Api& api, const CallPtr& call) {
  auto inv = api.state().GetInvite(call->params[0]);
  if (!inv || Expired(*inv, NowMs())) {
    call->Fail(ApiError::UnknownInvite());
    return std::nullopt;
  }
  return inv;
}

bool ReadIntField(const bj::object& body, const char* name, int lo, int hi, int* out,
                  FormErrors* errs) {
  auto* v = body.if_contains(name);
  if (!v || v->is_null()) return true;
  if (!v->is_int64() || v->as_int64() < lo || v->as_int64() > hi) {
    errs->Add(name, "NUMBER_TYPE_MAX",
              "Must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ".");
    return false;
  }
  *out = static_cast<int>(v->as_int64());
  return true;
}

}  // namespace

void CreateInvite(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kCreateInstantInvite);
  if (!a) return;
  bj::object body;
  // Discord accepts an empty body here.
  if (!call->req.body().empty() && !call->ParseBody(&body)) return;
  Invite inv;
  FormErrors errs;
  ReadIntField(body, "max_age", 0, 604800, &inv.max_age, &errs);
  ReadIntField(body, "max_uses", 0, 100, &inv.max_uses, &errs);
  if (auto* v = body.if_contains("temporary"); v && v->is_bool()) inv.temporary = v->as_bool();
  if (!errs.empty()) return call->Fail(errs.ToError());
  inv.code = RandomCode(8);
  inv.guild_id = a->channel.guild_id;
  inv.channel_id = a->channel.id;
  inv.inviter_id = call->user->id;
  inv.created_ms = NowMs();
  std::string reply;
  {
    ReaderLock lock(&a->guild->mu);
    reply = bj::serialize(json::InviteObject(inv, *a->guild, api.state(), true));
  }
  WriteBatch batch;
  batch.push_back(mut::PutInvite{inv});
  api.CommitAndReply(call, std::move(batch), 200, std::move(reply));
}

namespace {
void ReplyInvites(Api& api, const CallPtr& call, const GuildState& g, std::vector<Invite> invites,
                  Snowflake channel_id, bool with_metadata = true) {
  bj::array out;
  int64_t now = NowMs();
  ReaderLock lock(&g.mu);
  for (const auto& inv : invites) {
    if (Expired(inv, now) || (channel_id && inv.channel_id != channel_id)) continue;
    out.push_back(json::InviteObject(inv, g, api.state(), with_metadata));
  }
  call->Reply(200, out);
}
}  // namespace

void ListChannelInvites(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kManageChannels);
  if (!a) return;
  ReplyInvites(api, call, *a->guild, api.state().InvitesOfGuild(a->channel.guild_id),
               a->channel.id);
}

void ListGuildInvites(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  // MANAGE_GUILD, or VIEW_AUDIT_LOG without the invites' metadata.
  uint64_t p;
  {
    ReaderLock lock(&g->mu);
    p = g->GuildPermissions(call->user->id);
  }
  if (!(p & (perm::kManageGuild | perm::kViewAuditLog)))
    return call->Fail(ApiError::MissingPermissions());
  ReplyInvites(api, call, *g, api.state().InvitesOfGuild(g->id), 0, p & perm::kManageGuild);
}

void GetInvite(Api& api, const CallPtr& call) {
  auto inv = LiveInvite(api, call);
  if (!inv) return;
  auto g = api.state().GetGuild(inv->guild_id);
  if (!g) return call->Fail(ApiError::UnknownInvite());
  ReaderLock lock(&g->mu);
  call->Reply(200, json::InviteObject(*inv, *g, api.state(), false));
}

void AcceptInvite(Api& api, const CallPtr& call) {
  if (call->user->bot) return call->Fail({403, 20001, "Bots cannot use this endpoint", {}});
  if (!LiveInvite(api, call)) return;
  // Re-checked on the writer thread: concurrent joins cannot exceed
  // max_uses, and an invite deleted meanwhile is not brought back.
  api.CommitBuilt(call, [&api, call, code = call->params[0]]() -> Built {
    auto inv = api.state().GetInvite(code);
    auto g = inv ? api.state().GetGuild(inv->guild_id) : nullptr;
    if (!g) return Built::Fail(ApiError::UnknownInvite());
    Built b;
    b.reply = [&api, call, g, code] {
      auto now = api.state().GetInvite(code);
      ReaderLock lock(&g->mu);
      Invite shown = now ? *now : Invite{.code = code, .guild_id = g->id};
      call->Reply(200, json::InviteObject(shown, *g, api.state(), false));
    };
    {
      ReaderLock lock(&g->mu);
      if (g->members.count(call->user->id)) return b;  // already a member
    }
    if (Expired(*inv, NowMs())) return Built::Fail(ApiError::UnknownInvite());
    if (api.state().GuildsOfUser(call->user->id).size() >= 200)
      return Built::Fail({400, 30001, "Maximum number of guilds reached (200)", {}});
    Invite used = *inv;
    ++used.uses;
    b.batch.push_back(mut::PutMember{Member{g->id, call->user->id, "", {}, NowMs()}});
    b.batch.push_back(mut::PutInvite{used});
    return b;
  });
}

void DeleteInvite(Api& api, const CallPtr& call) {
  auto inv = api.state().GetInvite(call->params[0]);
  if (!inv) return call->Fail(ApiError::UnknownInvite());
  auto g = api.state().GetGuild(inv->guild_id);
  if (!g) return call->Fail(ApiError::UnknownInvite());
  std::string reply;
  {
    ReaderLock lock(&g->mu);
    if (!g->members.count(call->user->id)) return call->Fail(ApiError::UnknownInvite());
    uint64_t p = g->GuildPermissions(call->user->id);
    auto cit = g->channels.find(inv->channel_id);
    if (cit != g->channels.end()) p = g->ChannelPermissions(cit->second, call->user->id);
    if (!(p & (perm::kManageChannels | perm::kManageGuild)) && inv->inviter_id != call->user->id)
      return call->Fail(ApiError::MissingPermissions());
    reply = bj::serialize(json::InviteObject(*inv, *g, api.state(), false));
  }
  WriteBatch batch;
  batch.push_back(mut::DeleteInvite{inv->code});
  api.CommitAndReply(call, std::move(batch), 200, std::move(reply));
}

}  // namespace parley::handlers
