// Guilds and their channel lists.
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "model/permissions.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

// Discord's guild name rule: 2..100 characters.
bool ReadGuildName(const bj::object& body, bool required, std::string* out, FormErrors* errs) {
  auto* v = body.if_contains("name");
  if (!v) {
    if (required) errs->Add("name", "BASE_TYPE_REQUIRED", "This field is required");
    return false;
  }
  if (!v->is_string()) {
    errs->Add("name", "STRING_TYPE_CONVERT", "Could not interpret value as string.");
    return false;
  }
  std::string s(v->as_string());
  // Trim surrounding whitespace as Discord does.
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  if (n < 2 || n > 100) {
    errs->Add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.");
    return false;
  }
  *out = std::move(s);
  return true;
}

}  // namespace

// Discord's channel name rule: 1..100 characters.
bool ReadChannelName(const bj::object& body, bool required, std::string* out, FormErrors* errs) {
  auto* v = body.if_contains("name");
  if (!v) {
    if (required) errs->Add("name", "BASE_TYPE_REQUIRED", "This field is required");
    return false;
  }
  if (!v->is_string()) {
    errs->Add("name", "STRING_TYPE_CONVERT", "Could not interpret value as string.");
    return false;
  }
  std::string s(v->as_string());
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  if (n < 1 || n > 100 || s.find_first_not_of(" \t\r\n") == std::string::npos) {
    errs->Add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.");
    return false;
  }
  *out = std::move(s);
  return true;
}

void CreateGuild(Api& api, const CallPtr& call) {
  // Discord closed guild creation to applications on 2025-07-15.
  if (call->user->bot) return call->Fail({403, 20001, "Bots cannot use this endpoint", {}});
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  Guild g;
  ReadGuildName(body, true, &g.name, &errs);
  if (!errs.empty()) return call->Fail(errs.ToError());
  // Discord caps a user at 100 guilds (200 for bots).
  if (api.state().GuildsOfUser(call->user->id).size() >= 200)
    return call->Fail({400, 30001, "Maximum number of guilds reached (200)", {}});
  g.id = api.ids().Next();
  g.owner_id = call->user->id;
  Role everyone{g.id, g.id, "@everyone", perm::kEveryoneDefault, 0, 0, false, false};
  Channel general;
  general.id = api.ids().Next();
  general.guild_id = g.id;
  general.type = 0;
  general.name = "general";
  Member owner{g.id, call->user->id, "", {}, NowMs()};
  WriteBatch batch;
  batch.push_back(mut::PutGuild{g});
  batch.push_back(mut::PutRole{everyone});
  batch.push_back(mut::PutChannel{general});
  batch.push_back(mut::PutMember{owner});
  Snowflake gid = g.id;
  api.Commit(call, std::move(batch), [&api, call, gid] {
    auto gs = api.state().GetGuild(gid);
    ReaderLock lock(&gs->mu);
    bj::object o = json::GuildObject(*gs);
    bj::array channels;
    for (const auto& [_, c] : gs->channels) channels.push_back(json::ChannelObject(c, 0));
    o["channels"] = std::move(channels);
    call->Reply(201, o);
  });
}

void GetGuild(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  ReaderLock lock(&g->mu);
  bj::object o = json::GuildObject(*g);
  if (call->QueryParam("with_counts") == "true") {
    o["approximate_member_count"] = g->members.size();
    o["approximate_presence_count"] = 0;
  }
  call->Reply(200, o);
}

// Discord's guild preview, for members (Parley has no discoverable guilds,
// whose previews non-members could see).
void GetGuildPreview(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  ReaderLock lock(&g->mu);
  bj::object full = json::GuildObject(*g);
  bj::object o;
  for (const char* k : {"id", "name", "icon", "splash", "discovery_splash", "emojis", "features",
                        "description", "stickers"})
    o[k] = full.contains(k) ? full[k] : bj::value(nullptr);
  for (const char* k : {"emojis", "features", "stickers"})
    if (o[k].is_null()) o[k] = bj::array();
  o["approximate_member_count"] = g->members.size();
  o["approximate_presence_count"] = 0;
  call->Reply(200, o);
}

void PatchGuild(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto body = std::make_shared<bj::object>();
  if (!call->ParseBody(body.get())) return;
  api.CommitBuilt(call, [g, call, body]() -> Built {
    ReaderLock lock(&g->mu);
    if (!(g->GuildPermissions(call->user->id) & perm::kManageGuild))
      return Built::Fail(ApiError::MissingPermissions());
    Guild updated = g->guild;
    FormErrors errs;
    ReadGuildName(*body, false, &updated.name, &errs);
    if (auto* v = body->if_contains("description")) {
      if (v->is_null())
        updated.description.clear();
      else if (v->is_string() && v->as_string().size() <= 120 * 4)
        updated.description = std::string(v->as_string());
      else
        errs.Add("description", "BASE_TYPE_MAX_LENGTH", "Must be 120 or fewer in length.");
    }
    if (auto* v = body->if_contains("owner_id")) {
      // Only the owner may transfer, and only to a member.
      Snowflake new_owner = v->is_string() ? ParseSnowflake(v->as_string()).value_or(0) : 0;
      if (g->guild.owner_id != call->user->id) return Built::Fail(ApiError::MissingPermissions());
      if (new_owner == 0 || !g->members.count(new_owner))
        errs.Add("owner_id", "GUILD_OWNER_INVALID", "Unknown member.");
      else
        updated.owner_id = new_owner;
    }
    if (!errs.empty()) return Built::Fail(errs.ToError());
    Built b;
    b.batch.push_back(mut::PutGuild{std::move(updated)});
    b.reply = [call, g] {
      ReaderLock lock(&g->mu);
      call->Reply(200, json::GuildObject(*g));
    };
    return b;
  });
}

void DeleteGuild(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  {
    ReaderLock lock(&g->mu);
    if (g->guild.owner_id != call->user->id) return call->Fail(ApiError::MissingPermissions());
  }
  WriteBatch batch;
  batch.push_back(mut::DeleteGuild{g->id});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

void ListGuildChannels(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  bj::array out;
  ReaderLock lock(&g->mu);
  for (const auto& [id, c] : g->channels) {
    if (!(g->ChannelPermissions(c, call->user->id) & perm::kViewChannel)) continue;
    auto lit = g->last_message_ids.find(id);
    out.push_back(json::ChannelObject(c, lit == g->last_message_ids.end() ? 0 : lit->second));
  }
  call->Reply(200, out);
}

void CreateGuildChannel(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  Channel c;
  {
    ReaderLock lock(&g->mu);
    if (!(g->GuildPermissions(call->user->id) & perm::kManageChannels))
      return call->Fail(ApiError::MissingPermissions());
    c.position = static_cast<int>(g->channels.size());
  }
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  ReadChannelName(body, true, &c.name, &errs);
  if (auto* v = body.if_contains("type"); v && !v->is_null()) {
    if (!v->is_int64() || v->as_int64() != 0)
      errs.Add("type", "BASE_TYPE_CHOICES", "Value must be one of {0}.");
  }
  if (auto* v = body.if_contains("topic"); v && !v->is_null()) {
    if (!v->is_string() || v->as_string().size() > 1024 * 4)
      errs.Add("topic", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.");
    else
      c.topic = std::string(v->as_string());
  }
  if (auto* v = body.if_contains("nsfw"); v && v->is_bool()) c.nsfw = v->as_bool();
  if (auto* v = body.if_contains("position"); v && v->is_int64())
    c.position = static_cast<int>(v->as_int64());
  if (auto* v = body.if_contains("rate_limit_per_user"); v && v->is_int64()) {
    if (v->as_int64() < 0 || v->as_int64() > 21600)
      errs.Add("rate_limit_per_user", "NUMBER_TYPE_MAX", "Must be between 0 and 21600.");
    else
      c.rate_limit_per_user = static_cast<int>(v->as_int64());
  }
  if (auto* v = body.if_contains("permission_overwrites"); v && !v->is_null())
    ReadOverwrites(*v, g->id, &c.overwrites, &errs);
  if (!errs.empty()) return call->Fail(errs.ToError());
  if (!c.overwrites.empty()) {
    // Overwrites may only allow or deny bits the caller holds.
    ReaderLock lock(&g->mu);
    uint64_t p = g->GuildPermissions(call->user->id);
    if (!(p & perm::kManageRoles)) return call->Fail(ApiError::MissingPermissions());
    for (const Overwrite& o : c.overwrites)
      if ((o.allow | o.deny) & ~p) return call->Fail(ApiError::MissingPermissions());
  }
  c.id = api.ids().Next();
  c.guild_id = g->id;
  c.type = 0;
  std::string reply = bj::serialize(json::ChannelObject(c, 0));
  WriteBatch batch;
  batch.push_back(mut::PutChannel{std::move(c)});
  api.CommitAndReply(call, std::move(batch), 201, std::move(reply));
}

}  // namespace parley::handlers
