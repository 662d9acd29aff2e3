// The REST handlers, one file per resource (auth.cc, users.cc, guilds.cc,
// channels.cc, members.cc, roles.cc, invites.cc, messages.cc, commands.cc). Each replies
// or fails `call` exactly once, possibly later from another thread.
#pragma once

#include <memory>
#include <optional>

#include "api/api.h"

namespace parley::handlers {

// auth.cc
void Register(Api& api, const CallPtr& call);
void Login(Api& api, const CallPtr& call);
void Logout(Api& api, const CallPtr& call);
void CreateApplication(Api& api, const CallPtr& call);
void ResetBotToken(Api& api, const CallPtr& call);
void GetCurrentApplication(Api& api, const CallPtr& call);
void ListApplications(Api& api, const CallPtr& call);

// users.cc
void GetCurrentUser(Api& api, const CallPtr& call);
void PatchCurrentUser(Api& api, const CallPtr& call);
void DeleteCurrentUser(Api& api, const CallPtr& call);
void GetUser(Api& api, const CallPtr& call);
void GetCurrentUserGuilds(Api& api, const CallPtr& call);
void LeaveGuild(Api& api, const CallPtr& call);

// guilds.cc
void CreateGuild(Api& api, const CallPtr& call);
void GetGuild(Api& api, const CallPtr& call);
void PatchGuild(Api& api, const CallPtr& call);
void DeleteGuild(Api& api, const CallPtr& call);
void GetGuildPreview(Api& api, const CallPtr& call);
void ListGuildChannels(Api& api, const CallPtr& call);
void CreateGuildChannel(Api& api, const CallPtr& call);

// members.cc
void ListMembers(Api& api, const CallPtr& call);
void GetMember(Api& api, const CallPtr& call);
void SearchMembers(Api& api, const CallPtr& call);
void ListDetectableApplications(Api& api, const CallPtr& call);
void AddMember(Api& api, const CallPtr& call);
void GetCurrentUserGuildMember(Api& api, const CallPtr& call);
void PatchMember(Api& api, const CallPtr& call);
void KickMember(Api& api, const CallPtr& call);

// empty_collections.cc: what Parley has none of, answered as Discord does
// for a guild, channel or application without any.
void ListGuildEmojis(Api& api, const CallPtr& call);
void GetGuildEmoji(Api& api, const CallPtr& call);
void ListGuildStickers(Api& api, const CallPtr& call);
void GetGuildSticker(Api& api, const CallPtr& call);
void ListScheduledEvents(Api& api, const CallPtr& call);
void GetScheduledEvent(Api& api, const CallPtr& call);
void ListActiveThreads(Api& api, const CallPtr& call);
void ListIntegrations(Api& api, const CallPtr& call);
void ListAutoModerationRules(Api& api, const CallPtr& call);
void GetAutoModerationRule(Api& api, const CallPtr& call);
void ListPublicArchivedThreads(Api& api, const CallPtr& call);
void ListPrivateArchivedThreads(Api& api, const CallPtr& call);
void ListJoinedPrivateArchivedThreads(Api& api, const CallPtr& call);
void ListDmChannels(Api& api, const CallPtr& call);
void ListApplicationEmojis(Api& api, const CallPtr& call);
void GetApplicationEmoji(Api& api, const CallPtr& call);
void ListEntitlements(Api& api, const CallPtr& call);
void ListSkus(Api& api, const CallPtr& call);
void GetEntitlement(Api& api, const CallPtr& call);
void CreateTestEntitlement(Api& api, const CallPtr& call);
void ListRoleConnectionMetadata(Api& api, const CallPtr& call);
void ListConnections(Api& api, const CallPtr& call);
void ListGuildWebhooks(Api& api, const CallPtr& call);
void ListChannelWebhooks(Api& api, const CallPtr& call);
void ListGuildTemplates(Api& api, const CallPtr& call);
void GetGuildTemplate(Api& api, const CallPtr& call);
void ListSoundboardSounds(Api& api, const CallPtr& call);
void GetSoundboardSound(Api& api, const CallPtr& call);
void GetVoiceState(Api& api, const CallPtr& call);
void ListVoiceRegions(Api& api, const CallPtr& call);
void DeleteIntegration(Api& api, const CallPtr& call);
void GetScheduledEventUsers(Api& api, const CallPtr& call);
void GetVanityUrl(Api& api, const CallPtr& call);
void GetWidgetSettings(Api& api, const CallPtr& call);
void GetWidget(Api& api, const CallPtr& call);
void GetWelcomeScreen(Api& api, const CallPtr& call);
void GetOnboarding(Api& api, const CallPtr& call);
void PruneMembers(Api& api, const CallPtr& call);
void SetMfaLevel(Api& api, const CallPtr& call);
void FollowChannel(Api& api, const CallPtr& call);
void CrosspostMessage(Api& api, const CallPtr& call);
void StartThread(Api& api, const CallPtr& call);
void ThreadMembers(Api& api, const CallPtr& call);
void GroupDmRecipient(Api& api, const CallPtr& call);
void ExpirePoll(Api& api, const CallPtr& call);
void GetPollVoters(Api& api, const CallPtr& call);

// commands.cc: application commands, global and per guild.
void ListGlobalCommands(Api& api, const CallPtr& call);
void CreateGlobalCommand(Api& api, const CallPtr& call);
void OverwriteGlobalCommands(Api& api, const CallPtr& call);
void GetGlobalCommand(Api& api, const CallPtr& call);
void EditGlobalCommand(Api& api, const CallPtr& call);
void DeleteGlobalCommand(Api& api, const CallPtr& call);
void ListGuildCommands(Api& api, const CallPtr& call);
void CreateGuildCommand(Api& api, const CallPtr& call);
void OverwriteGuildCommands(Api& api, const CallPtr& call);
void GetGuildCommand(Api& api, const CallPtr& call);
void EditGuildCommand(Api& api, const CallPtr& call);
void DeleteGuildCommand(Api& api, const CallPtr& call);
void ListCommandPermissions(Api& api, const CallPtr& call);
void GetCommandPermissions(Api& api, const CallPtr& call);
void EditCommandPermissions(Api& api, const CallPtr& call);

// roles.cc
void ListRoles(Api& api, const CallPtr& call);
void GetRole(Api& api, const CallPtr& call);
// GET /guilds/{id}/roles/member-counts: {role_id: members} without @everyone.
void GetRoleMemberCounts(Api& api, const CallPtr& call);
// PATCH /guilds/{id}/roles [{id, position?}]: "Modify Guild Role Positions".
void PatchRolePositions(Api& api, const CallPtr& call);
void CreateRole(Api& api, const CallPtr& call);
void PatchRole(Api& api, const CallPtr& call);
void DeleteRole(Api& api, const CallPtr& call);
void AddMemberRole(Api& api, const CallPtr& call);
void RemoveMemberRole(Api& api, const CallPtr& call);

// channels.cc
void GetChannel(Api& api, const CallPtr& call);
// PATCH /guilds/{id}/channels [{id, position?, parent_id?, lock_permissions?}]:
// "Modify Guild Channel Positions".
void PatchChannelPositions(Api& api, const CallPtr& call);
void PatchChannel(Api& api, const CallPtr& call);
void DeleteChannel(Api& api, const CallPtr& call);
void PutOverwrite(Api& api, const CallPtr& call);
void DeleteOverwrite(Api& api, const CallPtr& call);
void TriggerTyping(Api& api, const CallPtr& call);
void PatchApplication(Api& api, const CallPtr& call);
void GetGateway(Api& api, const CallPtr& call);
void GetAdminStatus(Api& api, const CallPtr& call);
void GetGatewayBot(Api& api, const CallPtr& call);

// invites.cc
void CreateInvite(Api& api, const CallPtr& call);
void ListChannelInvites(Api& api, const CallPtr& call);
void ListGuildInvites(Api& api, const CallPtr& call);
void GetInvite(Api& api, const CallPtr& call);
void AcceptInvite(Api& api, const CallPtr& call);
void DeleteInvite(Api& api, const CallPtr& call);

// messages.cc
void CreateMessage(Api& api, const CallPtr& call);
void ListMessages(Api& api, const CallPtr& call);
void GetMessage(Api& api, const CallPtr& call);
void EditMessage(Api& api, const CallPtr& call);
void DeleteMessage(Api& api, const CallPtr& call);
void BulkDeleteMessages(Api& api, const CallPtr& call);

// Shared lookups (access.cc). Each fails `call` and returns null/false when
// the caller may not proceed.

// Whether params[0] is the caller's own application (the caller is its
// bot); else 403 50001.
bool OwnApplication(const CallPtr& call);
// The guild of params[i], if the caller is a member; 404 10004 / 403 50001.
std::shared_ptr<GuildState> MemberGuild(Api& api, const CallPtr& call, size_t param = 0);
// The channel of params[i] and its guild, if the caller can VIEW it and has
// every bit of `need` there; 404 10003 / 403 50001 / 403 50013.
struct ChannelAccess {
  std::shared_ptr<GuildState> guild;
  Channel channel;  // a copy, taken under the guild lock
  uint64_t permissions = 0;
  Snowflake last_message_id = 0;
};
std::optional<ChannelAccess> AccessChannel(Api& api, const CallPtr& call, uint64_t need,
                                           size_t param = 0);
// Body readers shared by guilds.cc and channels.cc; they add to `errs`.
bool ReadChannelName(const boost::json::object& body, bool required, std::string* out,
                     FormErrors* errs);
bool ReadOverwrites(const boost::json::value& v, Snowflake guild_id, std::vector<Overwrite>* out,
                    FormErrors* errs);

// Discord's name rules (2..32 characters, no '@' '#' ':' "```", not
// "everyone"/"here", no control, bidirectional or invisible character);
// for a person's username also Discord's current charset (letters, digits,
// '_', '.', no ".."). Sets *out or adds to `errs` under `field`.
enum class NameKind : uint8_t {
  kUsername,     // a person's account (register, PATCH /users/@me)
  kApplication,  // an application's name (its bot user's), as Discord's
};
void CheckUsername(const boost::json::object& body, std::string* out, FormErrors* errs,
                   const char* field, NameKind kind);

// Entry i of a position edit's array body ([{id, position?, ...}], roles
// and channels): its object, id and position (nullopt: absent or null);
// nullopt after adding Discord's errors under "<i>.id" / "<i>.position".
struct PositionItem {
  const boost::json::object* object;
  Snowflake id;
  std::optional<int64_t> position;
};
std::optional<PositionItem> ReadPositionItem(const boost::json::value& v, size_t i,
                                             FormErrors* errs);

// params[i] as a snowflake, or nullopt after failing with `err`.
std::optional<Snowflake> ParamId(const CallPtr& call, size_t i, const ApiError& err);

// The `limit` query parameter: `fallback` when absent; 1..max, else 0 and
// Discord's NUMBER_TYPE_MAX error added to `errs`.
int QueryLimit(const CallPtr& call, int fallback, int max, FormErrors* errs);

}  // namespace parley::handlers
