// Messages: the write hot path (create) and history reads.
#include <algorithm>
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "model/permissions.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

constexpr size_t kMaxContent = 2000;

// Number of Unicode code points (Discord counts characters, not bytes).
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Validates content/nonce/tts of a create or edit body into `m`.
bool ReadMessageFields(const bj::object& body, bool create, Message* m, FormErrors* errs) {
  bool has_content = false;
  if (auto* v = body.if_contains("content"); v && !v->is_null()) {
    if (!v->is_string()) {
      errs->Add("content", "STRING_TYPE_CONVERT", "Could not interpret value as string.");
    } else {
      m->content = std::string(v->as_string());
      size_t n = CodePoints(m->content);
      if (n > kMaxContent)
        errs->Add("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
      has_content = n > 0;
    }
  }
  if (create) {
    if (auto* v = body.if_contains("nonce"); v && !v->is_null()) {
      // Kept as its JSON text: echoed back with the type it came with.
      if ((v->is_string() && v->as_string().size() <= 25) || v->is_int64() || v->is_uint64()) {
        m->nonce = bj::serialize(*v);
      } else {
        errs->Add("nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
      }
    }
    if (auto* v = body.if_contains("tts"); v && !v->is_null()) {
      if (!v->is_bool())
        errs->Add("tts", "BOOLEAN_TYPE_CONVERT", "Must be either true or false.");
      else
        m->tts = v->as_bool();
    }
    if (!has_content && errs->empty())
      return false;  // caller reports "Cannot send an empty message"
  }
  return true;
}

void ReplyMessages(Api& api, const CallPtr& call, const std::vector<Message>& msgs) {
  std::string out;
  out.reserve(msgs.size() * 600 + 2);
  out.push_back('[');
  for (const Message& m : msgs) {
    if (out.size() > 1) out.push_back(',');
    json::AppendMessageJson(&out, m, api.state());
  }
  out.push_back(']');
  call->Reply(200, std::move(out));
}

}  // namespace

void CreateMessage(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kSendMessages);
  if (!a) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  Message m;
  FormErrors errs;
  if (!ReadMessageFields(body, true, &m, &errs)) {
    return call->Fail({400, 50006, "Cannot send an empty message", {}});
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  if (m.tts && !(a->permissions & perm::kSendTtsMessages)) m.tts = false;
  m.channel_id = a->channel.id;
  m.guild_id = a->channel.guild_id;
  m.author_id = call->user->id;
  // The id is minted on the writer thread just before the commit (Prepare),
  // so that message ids increase in commit order, the order in which the
  // gateway delivers them: two posts on different event loops must not get
  // ids in one order and commit in the other (clients sort and page by id).
  // The reply is built there too, from the final id. The nonce stays in the
  // mutation (the store does not keep it) so that MESSAGE_CREATE carries it,
  // as on Discord.
  auto reply = std::make_shared<std::string>();
  WriteBatch batch;
  batch.push_back(mut::InsertMessage{std::move(m)});
  api.Commit(
      call, std::move(batch), [call, reply] { call->Reply(200, std::move(*reply)); },
      [&api, reply](WriteBatch* b) {
        Message& msg = std::get<mut::InsertMessage>((*b)[0]).message;
        msg.id = api.ids().Next();
        reply->clear();
        json::AppendMessageJson(reply.get(), msg, api.state());
      });
}

void ListMessages(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, 0);
  if (!a) return;
  if (!(a->permissions & perm::kReadMessageHistory)) return call->Reply(200, bj::array());
  FormErrors errs;
  HistoryQuery q;
  q.channel_id = a->channel.id;
  q.limit = QueryLimit(call, 50, 100, &errs);
  int modes = 0;
  for (auto [name, mode] : {std::pair{"before", HistoryQuery::Mode::kBefore},
                            std::pair{"after", HistoryQuery::Mode::kAfter},
                            std::pair{"around", HistoryQuery::Mode::kAround}}) {
    if (!call->HasQueryParam(name)) continue;
    ++modes;
    auto id = ParseSnowflake(call->QueryParam(name));
    if (!id) {
      errs.Add(name, "NUMBER_TYPE_COERCE", "Value is not snowflake.");
      continue;
    }
    q.mode = mode;
    q.anchor = *id;
  }
  if (modes > 1)
    errs.Add("", "MESSAGE_HISTORY_ARGS", "Only one of before, after and around may be given.");
  if (!errs.empty()) return call->Fail(errs.ToError());
  // A replica may answer, if it has the reader's own last write.
  if (api.options().read_replicas)
    q.min_position = api.read_your_writes().MinPosition(call->user->id);
  api.Read(call, [&api, call, q](StoreBackend& store) {
    std::vector<Message> msgs;
    Status s = store.ListMessages(q, &msgs);
    if (!s.ok()) return call->Fail(Api::StoreError(s));
    ReplyMessages(api, call, msgs);
  });
}

void GetMessage(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kReadMessageHistory);
  if (!a) return;
  auto mid = ParamId(call, 1, ApiError::UnknownMessage());
  if (!mid) return;
  api.Read(call, [&api, call, channel_id = a->channel.id, id = *mid](StoreBackend& store) {
    Message m;
    Status s = store.GetMessage(channel_id, id, &m);
    if (s.IsNotFound()) return call->Fail(ApiError::UnknownMessage());
    if (!s.ok()) return call->Fail(Api::StoreError(s));
    std::string out;
    json::AppendMessageJson(&out, m, api.state());
    call->Reply(200, std::move(out));
  });
}

void EditMessage(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, 0);
  if (!a) return;
  auto mid = ParamId(call, 1, ApiError::UnknownMessage());
  if (!mid) return;
  auto body = std::make_shared<bj::object>();
  if (!call->ParseBody(body.get())) return;
  api.Read(call, [&api, call, body, channel = a->channel, id = *mid](StoreBackend& store) {
    Message m;
    Status s = store.GetMessage(channel.id, id, &m);
    if (s.IsNotFound()) return call->Fail(ApiError::UnknownMessage());
    if (!s.ok()) return call->Fail(Api::StoreError(s));
    if (m.author_id != call->user->id) return call->Fail(ApiError::NotAuthor());
    FormErrors errs;
    Message edit = m;
    ReadMessageFields(*body, false, &edit, &errs);
    if (!errs.empty()) return call->Fail(errs.ToError());
    if (body->contains("content") && CodePoints(edit.content) == 0)
      return call->Fail({400, 50006, "Cannot send an empty message", {}});
    if (auto* v = body->if_contains("flags"); v && v->is_int64()) {
      // Only SUPPRESS_EMBEDS (1 << 2) may be toggled by the author.
      edit.flags = (m.flags & ~4) | (static_cast<int>(v->as_int64()) & 4);
    }
    edit.edited_ms = std::max<int64_t>(NowMs(), SnowflakeTimeMs(m.id) + 1);
    edit.guild_id = channel.guild_id;
    std::string reply;
    json::AppendMessageJson(&reply, edit, api.state());
    WriteBatch batch;
    batch.push_back(mut::UpdateMessage{std::move(edit)});
    api.CommitAndReply(call, std::move(batch), 200, std::move(reply));
  });
}

void DeleteMessage(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, 0);
  if (!a) return;
  auto mid = ParamId(call, 1, ApiError::UnknownMessage());
  if (!mid) return;
  api.Read(call, [&api, call, channel_id = a->channel.id, permissions = a->permissions,
                  id = *mid](StoreBackend& store) {
    Message m;
    Status s = store.GetMessage(channel_id, id, &m);
    if (s.IsNotFound()) return call->Fail(ApiError::UnknownMessage());
    if (!s.ok()) return call->Fail(Api::StoreError(s));
    if (m.author_id != call->user->id && !(permissions & perm::kManageMessages))
      return call->Fail(ApiError::MissingPermissions());
    WriteBatch batch;
    batch.push_back(mut::DeleteMessages{channel_id, {id}});
    api.Commit(call, std::move(batch), [call] { call->NoContent(); });
  });
}

void BulkDeleteMessages(Api& api, const CallPtr& call) {
  auto a = AccessChannel(api, call, perm::kManageMessages);
  if (!a) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  std::vector<Snowflake> ids;
  auto* v = body.if_contains("messages");
  if (!v || !v->is_array()) {
    errs.Add("messages", "BASE_TYPE_REQUIRED", "This field is required");
  } else {
    const auto& arr = v->as_array();
    if (arr.size() < 2)
      errs.Add("messages", "BASE_TYPE_MIN_LENGTH", "Must be 2 or more in length.");
    if (arr.size() > 100)
      errs.Add("messages", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.");
    for (size_t i = 0; i < arr.size() && errs.empty(); ++i) {
      auto id = arr[i].is_string() ? ParseSnowflake(arr[i].as_string()) : std::nullopt;
      if (!id) {
        errs.Add("messages." + std::to_string(i), "NUMBER_TYPE_COERCE", "Value is not snowflake.");
        break;
      }
      ids.push_back(*id);
    }
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // Discord refuses messages older than two weeks here.
  int64_t two_weeks_ago = NowMs() - 14LL * 24 * 3600 * 1000;
  for (size_t i = 0; i < ids.size(); ++i)
    if (SnowflakeTimeMs(ids[i]) < two_weeks_ago)
      return call->Fail(
          {400, 50034, "You can only bulk delete messages that are under 14 days old.", {}});
  WriteBatch batch;
  batch.push_back(mut::DeleteMessages{a->channel.id, std::move(ids)});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

}  // namespace parley::handlers
