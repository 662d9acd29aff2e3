// Collections of things Parley does not have (emojis, stickers, scheduled
// events, threads, integrations, auto-moderation rules, DMs, webhooks,
// templates, soundboard sounds, voice states, application emojis,
// entitlements, SKUs), answered as Discord answers for a guild, channel or
// application that has none of them: an empty list (or the wrapper object
// it comes in) after the same checks Discord makes, and for one of them by
// id, its "unknown" error. Actions that need a channel type Parley does not
// have (threads, announcement channels, group DMs, polls) get Discord's
// refusal for a text channel. Bot libraries fetch these at
// start-up or on demand; a 404 for the route is an error in the bot, an
// empty list is the truth here. Each becomes a real collection when its
// feature lands (docs/protocol.md).
#include <charconv>

#include "api/handlers.h"
#include "model/permissions.h"
#include "wire/serialize.h"

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

void ListGuildWebhooks(Api& api, const CallPtr& call) {
  GuildCollection(api, call, perm::kManageWebhooks, bj::array());
}
void ListGuildTemplates(Api& api, const CallPtr& call) {
  GuildCollection(api, call, perm::kManageGuild, bj::array());
}
void GetGuildTemplate(Api&, const CallPtr& call) {
  call->Fail({404, 10057, "Unknown Guild Template", {}});
}
void ListSoundboardSounds(Api& api, const CallPtr& call) {
  GuildCollection(api, call, 0, bj::object{{"items", bj::array()}});
}
void GetSoundboardSound(Api& api, const CallPtr& call) {
  GuildItem(api, call, 0, {404, 10097, "Unknown Sound", {}});
}
void GetVoiceState(Api& api, const CallPtr& call) {
  GuildItem(api, call, 0, {404, 10065, "Unknown Voice State", {}});
}
void ListVoiceRegions(Api& api, const CallPtr& call) {
  GuildCollection(api, call, 0, bj::array());
}
void DeleteIntegration(Api& api, const CallPtr& call) {
  GuildItem(api, call, perm::kManageGuild, {404, 10005, "Unknown Integration", {}});
}
void GetScheduledEventUsers(Api& api, const CallPtr& call) {
  GetScheduledEvent(api, call);
}
void GetVanityUrl(Api& api, const CallPtr& call) {
  GuildCollection(api, call, perm::kManageGuild, bj::object{{"code", nullptr}, {"uses", 0}});
}
void GetWidgetSettings(Api& api, const CallPtr& call) {
  GuildCollection(api, call, perm::kManageGuild,
                  bj::object{{"enabled", false}, {"channel_id", nullptr}});
}
void GetWidget(Api& api, const CallPtr& call) {
  // No auth: the widget of a guild that exists is disabled.
  auto gid = ParamId(call, 0, ApiError::UnknownGuild());
  if (!gid) return;
  if (!api.state().GetGuild(*gid)) return call->Fail(ApiError::UnknownGuild());
  call->Fail({403, 50004, "Widget Disabled", {}});
}
void GetWelcomeScreen(Api& api, const CallPtr& call) {
  GuildItem(api, call, perm::kManageGuild, {404, 10069, "Unknown Guild Welcome Screen", {}});
}
void GetOnboarding(Api& api, const CallPtr& call) {
  auto g = GuildWith(api, call, 0);
  if (!g) return;
  call->Reply(200, bj::object{{"guild_id", json::Id(g->id)},
                              {"prompts", bj::array()},
                              {"default_channel_ids", bj::array()},
                              {"enabled", false},
                              {"mode", 0}});
}

// Pruning removes members inactive for `days` (1..30, default 7) who have no
// role. Parley records no activity, so no member is inactive: 0 pruned,
// after Discord's checks (KICK_MEMBERS and MANAGE_GUILD).
void PruneMembers(Api& api, const CallPtr& call) {
  auto g = GuildWith(api, call, perm::kKickMembers | perm::kManageGuild);
  if (!g) return;
  std::string days = call->QueryParam("days");
  if (call->req.method() == boost::beast::http::verb::post && !call->req.body().empty()) {
    bj::object body;
    if (!call->ParseBody(&body)) return;
    if (auto* v = body.if_contains("days"); v && !v->is_null())
      days = v->is_int64() ? std::to_string(v->as_int64()) : "x";
  }
  if (!days.empty()) {
    int d = 0;
    auto [p, ec] = std::from_chars(days.data(), days.data() + days.size(), d);
    if (ec != std::errc() || p != days.data() + days.size() || d < 1 || d > 30) {
      FormErrors errs;
      errs.Add("days", "NUMBER_TYPE_MAX", "Must be between 1 and 30.");
      return call->Fail(errs.ToError());
    }
  }
  call->Reply(200, bj::object{{"pruned", 0}});
}

// The MFA level: only the owner may set it, and level 1 (elevated) needs
// the owner to have two-factor authentication, which Parley has not.
void SetMfaLevel(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  {
    ReaderLock lock(&g->mu);
    if (g->guild.owner_id != call->user->id) return call->Fail(ApiError::MissingPermissions());
  }
  bj::object body;
  if (!call->ParseBody(&body)) return;
  auto* v = body.if_contains("level");
  if (!v || !v->is_int64() || (v->as_int64() != 0 && v->as_int64() != 1)) {
    FormErrors errs;
    errs.Add("level", "ENUM_TYPE_COERCE", "Value is not a valid enum value.");
    return call->Fail(errs.ToError());
  }
  if (v->as_int64() == 1)
    return call->Fail({403, 60003, "Two factor is required for this operation", {}});
  call->Reply(200, bj::object{{"level", 0}});
}

void ListChannelWebhooks(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, perm::kManageWebhooks)) call->Reply(200, bj::array());
}

namespace {
const ApiError kWrongChannelType{400, 50024, "Cannot execute action on this channel type", {}};
}  // namespace

// Following needs an announcement channel, crossposting a message in one;
// threads, thread members and recipients need a thread or a group DM.
// Every Parley channel is a text channel.
void FollowChannel(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, 0)) call->Fail(kWrongChannelType);
}
void CrosspostMessage(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, perm::kSendMessages)) call->Fail(kWrongChannelType);
}
void StartThread(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, perm::kSendMessages)) call->Fail(kWrongChannelType);
}
void ThreadMembers(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, 0)) call->Fail(kWrongChannelType);
}
void GroupDmRecipient(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, 0)) call->Fail(kWrongChannelType);
}
// No message is a poll.
void ExpirePoll(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, perm::kReadMessageHistory))
    call->Fail({400, 520006, "Cannot expire a non-poll message", {}});
}
void GetPollVoters(Api& api, const CallPtr& call) {
  if (AccessChannel(api, call, perm::kReadMessageHistory)) call->Fail(ApiError::UnknownMessage());
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
void GetEntitlement(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Fail({404, 10029, "Unknown Entitlement", {}});
}
void CreateTestEntitlement(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Fail({404, 10027, "Unknown SKU", {}});
}
void ListRoleConnectionMetadata(Api&, const CallPtr& call) {
  if (OwnApplication(call)) call->Reply(200, bj::array());
}

void ListConnections(Api&, const CallPtr& call) {
  if (call->user->bot) return call->Fail(ApiError::MissingAccess());
  call->Reply(200, bj::array());
}

}  // namespace parley::handlers
