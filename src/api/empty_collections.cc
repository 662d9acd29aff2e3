// Collections of things Parley does not have (emojis, stickers, scheduled
// events, threads, integrations, auto-moderation rules, DMs, application
// emojis, entitlements, SKUs), answered as Discord answers for a guild,
// channel or application that has none of them: an empty list (or the
// wrapper object it comes in) after the same checks Discord makes, and for
// one of them by id, its "unknown" error. Bot libraries fetch these at
// start-up or on demand; a 404 for the route is an error in the bot, an
// empty list is the truth here. Each becomes a real collection when its
// feature lands (docs/protocol.md).
#include "api/handlers.h"
#include "model/permissions.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

// The guild of params[0] if the caller is a member with `need` (guild-wide);
// null after failing with 403 50001 / 404 10004 / 403 50013.
std::shared_ptr<GuildState> GuildWith(Api& api, const CallPtr& call, uint64_t need) {
  auto g = MemberGuild(api, call);
  if (!g || need == 0) return g;
  ReaderLock lock(&g->mu);
  if ((g->GuildPermissions(call->user->id) & need) != need) {
    call->Fail(ApiError::MissingPermissions());
    return nullptr;
  }
  return g;
}

// Replies `empty` after those checks.
void GuildCollection(Api& api, const CallPtr& call, uint64_t need, const bj::value& empty) {
  if (GuildWith(api, call, need)) call->Reply(200, empty);
}

// The same checks, then `unknown` for the item of params[1].
void GuildItem(Api& api, const CallPtr& call, uint64_t need, const ApiError& unknown) {
  if (GuildWith(api, call, need)) call->Fail(unknown);
}

bj::object NoThreads(bool paged) {
  bj::object o{{"threads", bj::array()}, {"members", bj::array()}};
  if (paged) o["has_more"] = false;
  return o;
}

}  // namespace

void ListGuildEmojis(Api& api, const CallPtr& call) {
  GuildCollection(api, call, 0, bj::array());
}
void GetGuildEmoji(Api& api, const CallPtr& call) {
  GuildItem(api, call, 0, {404, 10014, "Unknown Emoji", {}});
}
void ListGuildStickers(Api& api, const CallPtr& call) {
  GuildCollection(api, call, 0, bj::array());
}
void GetGuildSticker(Api& api, const CallPtr& call) {
  GuildItem(api, call, 0, {404, 10060, "Unknown Sticker", {}});
}
void ListScheduledEvents(Api& api, const CallPtr& call) {
  GuildCollection(api, call, 0, bj::array());
}
void GetScheduledEvent(Api& api, const CallPtr& call) {
  GuildItem(api, call, 0, {404, 10070, "Unknown Guild Scheduled Event", {}});
}
void ListActiveThreads(Api& api, const CallPtr& call) {
  GuildCollection(api, call, 0, NoThreads(false));
}
void ListIntegrations(Api& api, const CallPtr& call) {
  GuildCollection(api, call, perm::kManageGuild, bj::array());
}
void ListAutoModerationRules(Api& api, const CallPtr& call) {
  GuildCollection(api, call, perm::kManageGuild, bj::array());
}
void GetAutoModerationRule(Api& api, const CallPtr& call) {
  // Discord's code table has no "unknown rule": the plain 404.
  GuildItem(api, call, perm::kManageGuild, ApiError::NotFound());
}

void ListPublicArchivedThreads(Api& api, const CallPtr& call) {
  if (!AccessChannel(api, call, perm::kReadMessageHistory)) return;
  call->Reply(200, NoThreads(true));
}
void ListPrivateArchivedThreads(Api& api, const CallPtr& call) {
  if (!AccessChannel(api, call, perm::kReadMessageHistory | perm::kManageThreads)) return;
  call->Reply(200, NoThreads(true));
}
void ListJoinedPrivateArchivedThreads(Api& api, const CallPtr& call) {
  if (!AccessChannel(api, call, perm::kReadMessageHistory)) return;
  call->Reply(200, NoThreads(true));
}

void ListDmChannels(Api&, const CallPtr& call) {
  call->Reply(200, bj::array());
}

void ListApplicationEmojis(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Reply(200, bj::object{{"items", bj::array()}});
}
void GetApplicationEmoji(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Fail({404, 10014, "Unknown Emoji", {}});
}
void ListEntitlements(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Reply(200, bj::array());
}
void ListSkus(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Reply(200, bj::array());
}

}  // namespace parley::handlers
