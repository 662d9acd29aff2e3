// Channels: read, modify, delete, permission overwrites, typing.
#include <boost/json/serialize.hpp>
#include <functional>
#include <map>

#include "api/handlers.h"
#include "events/event_builder.h"
#include "model/permissions.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

std::optional<uint64_t> ReadBits(const bj::value* v) {
  if (!v || v->is_null()) return 0;
  if (v->is_string()) {
    auto bits = ParseSnowflake(v->as_string());  // a decimal uint64
    if (bits && *bits <= perm::kAll) return *bits;
    return std::nullopt;
  }
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  if (v->is_uint64()) return v->as_uint64();
  return std::nullopt;
}

}  // namespace

bool ReadOverwrites(const bj::value& v, Snowflake, std::vector<Overwrite>* out, FormErrors* errs) {
  if (!v.is_array()) {
    errs->Add("permission_overwrites", "LIST_TYPE_CONVERT", "Must be an array.");
    return false;
  }
  out->clear();
  size_t i = 0;
  for (const auto& item : v.as_array()) {
    std::string path = "permission_overwrites." + std::to_string(i++);
    if (!item.is_object()) {
      errs->Add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType");
      return false;
    }
    const auto& o = item.as_object();
    Overwrite ow;
    auto* id = o.if_contains("id");
    auto parsed = id && id->is_string() ? ParseSnowflake(id->as_string()) : std::nullopt;
    auto* type = o.if_contains("type");
    auto allow = ReadBits(o.if_contains("allow"));
    auto deny = ReadBits(o.if_contains("deny"));
    if (!parsed) errs->Add(path + ".id", "NUMBER_TYPE_COERCE", "Value is not snowflake.");
    if (!type || !type->is_int64() || (type->as_int64() != 0 && type->as_int64() != 1))
      errs->Add(path + ".type", "BASE_TYPE_CHOICES", "Value must be one of (0, 1).");
    if (!allow) errs->Add(path + ".allow", "NUMBER_TYPE_COERCE", "Value is not a permission set.");
    if (!deny) errs->Add(path + ".deny", "NUMBER_TYPE_COERCE", "Value is not a permission set.");
    if (!errs->empty()) return false;
    ow.id = *parsed;
    ow.type = static_cast<int>(type->as_int64());
    ow.allow = *allow;
    ow.deny = *deny;
    out->push_back(ow);
  }
  return true;
}

void GetChannel(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, 0);
  if (!a) return;
  call->Reply(200, json::ChannelObject(a->channel, a->last_message_id));
}

namespace {

// The caller's permissions in channel `channel_id` of `g`, re-read on the
// writer thread. REQUIRES: g.mu held.
const Channel* FindChannel(const GuildState& g, Snowflake channel_id) REQUIRES_SHARED(g.mu) {
  auto it = g.channels.find(channel_id);
  return it == g.channels.end() ? nullptr : &it->second;
}

// Overwrites may only allow or deny bits the caller holds in the channel
// (the owner and administrators hold all).
bool MayWriteOverwrites(uint64_t caller, const std::vector<Overwrite>& ows) {
  for (const Overwrite& o : ows)
    if (((o.allow | o.deny) & ~caller) != 0) return false;
  return true;
}

// Runs `change` on a copy of the channel under the checks every channel edit
// shares (exists, visible, `need` held), on the writer thread, and commits it.
void EditChannel(Api& api, const CallPtr& call, uint64_t need,
                 std::function<std::optional<ApiError>(Channel&, uint64_t)> change,
                 bool reply_channel) {
  auto a = AccessChannel(api, call, need);
  if (!a) return;
  api.CommitBuilt(call,
                  [g = a->guild, call, need, change = std::move(change), reply_channel,
                   cid = a->channel.id]() -> Built {
                    ReaderLock lock(&g->mu);
                    const Channel* c = FindChannel(*g, cid);
                    if (!c) return Built::Fail(ApiError::UnknownChannel());
                    uint64_t p = g->ChannelPermissions(*c, call->user->id);
                    if (!(p & perm::kViewChannel)) return Built::Fail(ApiError::MissingAccess());
                    if ((p & need) != need) return Built::Fail(ApiError::MissingPermissions());
                    Channel updated = *c;
                    if (auto err = change(updated, p)) return Built::Fail(*err);
                    Built b;
                    if (reply_channel) {
                      auto lit = g->last_message_ids.find(cid);
                      b.status = 200;
                      b.body = bj::serialize(json::ChannelObject(
                          updated, lit == g->last_message_ids.end() ? 0 : lit->second));
                    }
                    b.batch.push_back(mut::PutChannel{std::move(updated)});
                    return b;
                  });
}

}  // namespace

void PatchChannel(Api& api, const CallPtr& call) {
  auto body = std::make_shared<bj::object>();
  if (!AccessChannel(api, call, perm::kManageChannels) || !call->ParseBody(body.get())) return;
  EditChannel(
      api, call, perm::kManageChannels,
      [body](Channel& c, uint64_t p) -> std::optional<ApiError> {
        FormErrors errs;
        ReadChannelName(*body, false, &c.name, &errs);
        if (auto* v = body->if_contains("topic")) {
          if (v->is_null())
            c.topic.clear();
          else if (!v->is_string() || v->as_string().size() > 1024 * 4)
            errs.Add("topic", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.");
          else
            c.topic = std::string(v->as_string());
        }
        if (auto* v = body->if_contains("nsfw"); v && v->is_bool()) c.nsfw = v->as_bool();
        if (auto* v = body->if_contains("position"); v && v->is_int64())
          c.position = static_cast<int>(v->as_int64());
        if (auto* v = body->if_contains("rate_limit_per_user"); v && !v->is_null()) {
          if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > 21600)
            errs.Add("rate_limit_per_user", "NUMBER_TYPE_MAX", "Must be between 0 and 21600.");
          else
            c.rate_limit_per_user = static_cast<int>(v->as_int64());
        }
        if (auto* v = body->if_contains("permission_overwrites"); v && !v->is_null()) {
          if (!(p & perm::kManageRoles)) return ApiError::MissingPermissions();
          ReadOverwrites(*v, c.guild_id, &c.overwrites, &errs);
          if (errs.empty() && !MayWriteOverwrites(p, c.overwrites))
            return ApiError::MissingPermissions();
        }
        if (!errs.empty()) return errs.ToError();
        return std::nullopt;
      },
      true);
}

void PatchChannelPositions(Api& api, const CallPtr& call) {
  auto g = MemberGuild(api, call);
  if (!g) return;
  auto body = std::make_shared<bj::array>();
  if (!call->ParseArrayBody(body.get())) return;
  api.CommitBuilt(call, [g, call, body]() -> Built {
    ReaderLock lock(&g->mu);
    if (!(g->GuildPermissions(call->user->id) & perm::kManageChannels))
      return Built::Fail(ApiError::MissingPermissions());
    FormErrors errs;
    std::map<Snowflake, Channel> moved;
    for (size_t i = 0; i < body->size(); ++i) {
      auto item = ReadPositionItem((*body)[i], i, &errs);
      if (!item) continue;
      const Channel* c = FindChannel(*g, item->id);
      if (c == nullptr) return Built::Fail(ApiError::UnknownChannel());
      // Parley has no categories: a channel can only stay at the top level.
      if (const bj::value* parent = item->object->if_contains("parent_id");
          parent && !parent->is_null()) {
        errs.Add(std::to_string(i) + ".parent_id", "CHANNEL_PARENT_INVALID", "Unknown category.");
        continue;
      }
      if (!item->position) continue;
      const int pos = static_cast<int>(std::clamp<int64_t>(*item->position, 0, 1000));
      // Unchanged entries are not checked: libraries send every channel
      // (discord.js's setPosition), some the caller may not see.
      if (pos == c->position) continue;
      const uint64_t p = g->ChannelPermissions(*c, call->user->id);
      if (!(p & perm::kViewChannel)) return Built::Fail(ApiError::MissingAccess());
      if (!(p & perm::kManageChannels)) return Built::Fail(ApiError::MissingPermissions());
      Channel updated = *c;
      updated.position = pos;
      moved[updated.id] = std::move(updated);
    }
    if (!errs.empty()) return Built::Fail(errs.ToError());
    Built b;
    b.status = 204;
    for (auto& [_, c] : moved) b.batch.push_back(mut::PutChannel{std::move(c)});
    return b;
  });
}

void DeleteChannel(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kManageChannels);
  if (!a) return;
  std::string reply = bj::serialize(json::ChannelObject(a->channel, a->last_message_id));
  WriteBatch batch;
  batch.push_back(mut::DeleteChannel{a->channel.id});
  api.CommitAndReply(call, std::move(batch), 200, std::move(reply));
}

void PutOverwrite(Api& api, const CallPtr& call) {
  if (!AccessChannel(api, call, perm::kManageRoles)) return;
  auto target = ParamId(call, 1, ApiError::UnknownOverwrite());
  if (!target) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  auto* type = body.if_contains("type");
  auto allow = ReadBits(body.if_contains("allow"));
  auto deny = ReadBits(body.if_contains("deny"));
  if (!type || !type->is_int64() || (type->as_int64() != 0 && type->as_int64() != 1))
    errs.Add("type", "BASE_TYPE_CHOICES", "Value must be one of (0, 1).");
  if (!allow) errs.Add("allow", "NUMBER_TYPE_COERCE", "Value is not a permission set.");
  if (!deny) errs.Add("deny", "NUMBER_TYPE_COERCE", "Value is not a permission set.");
  if (!errs.empty()) return call->Fail(errs.ToError());
  Overwrite ow{*target, static_cast<int>(type->as_int64()), *allow, *deny};
  auto g = api.state().GetGuild(*api.state().GuildOfChannel(*ParseSnowflake(call->params[0])));
  EditChannel(
      api, call, perm::kManageRoles,
      [g, ow](Channel& c, uint64_t p) -> std::optional<ApiError> {
        g->mu.AssertReaderHeld();  // EditChannel runs `change` under it
        bool exists = ow.type == 0 ? g->roles.count(ow.id) != 0 : g->members.count(ow.id) != 0;
        if (!exists) return ow.type == 0 ? ApiError::UnknownRole() : ApiError::UnknownMember();
        if (!MayWriteOverwrites(p, {ow})) return ApiError::MissingPermissions();
        std::erase_if(c.overwrites, [&](const Overwrite& o) { return o.id == ow.id; });
        c.overwrites.push_back(ow);
        return std::nullopt;
      },
      false);
}

void DeleteOverwrite(Api& api, const CallPtr& call) {
  auto target = ParamId(call, 1, ApiError::UnknownOverwrite());
  if (!target) return;
  EditChannel(
      api, call, perm::kManageRoles,
      [id = *target](Channel& c, uint64_t) -> std::optional<ApiError> {
        std::erase_if(c.overwrites, [&](const Overwrite& o) { return o.id == id; });
        return std::nullopt;
      },
      false);
}

void TriggerTyping(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kSendMessages);
  if (!a) return;
  if (auto* sink = api.ephemeral_events())
    sink->Publish(events::EventBatch{events::BuildTypingEvent(
        api.state(), a->channel.guild_id, a->channel.id, call->user->id, NowMs())});
  call->NoContent();
}

}  // namespace parley::handlers
