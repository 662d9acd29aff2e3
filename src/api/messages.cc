// Messages: the write hot path (create) and history reads.
#include <algorithm>
#include <boost/json/serialize.hpp>

#include "api/embeds.h"
#include "api/handlers.h"
#include "model/permissions.h"
#include "util/time_format.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

constexpr size_t kMaxContent = 2000;
constexpr int kTypeReply = 19;

// Validates content/embeds/nonce/tts of a create or edit body into `m`.
// Create: false when the message would be empty (no content, no embeds).
bool ReadMessageFields(const bj::object& body, bool create, Message* m, FormErrors* errs) {
  bool has_content = false;
  if (auto* v = body.if_contains("embeds")) {
    ReadEmbeds(*v, &m->embeds, errs);
    has_content = !m->embeds.empty();
  }
  if (auto* v = body.if_contains("content"); v && !v->is_null()) {
    if (!v->is_string()) {
      errs->Add("content", "STRING_TYPE_CONVERT", "Could not interpret value as string.");
    } else {
      m->content = std::string(v->as_string());
      size_t n = CodePoints(m->content);
      if (n > kMaxContent)
        errs->Add("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
      has_content = has_content || n > 0;
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

// The message_reference of a create body: the message replied to, in this
// channel. Returns false (and adds to *errs) when it is malformed.
struct ReplyTo {
  Snowflake message_id = 0;
  bool fail_if_not_exists = true;
};
bool ReadMessageReference(const bj::object& body, Snowflake channel_id, Snowflake guild_id,
                          ReplyTo* out, FormErrors* errs) {
  auto* v = body.if_contains("message_reference");
  if (!v || v->is_null()) return true;
  if (!v->is_object()) {
    errs->Add("message_reference", "MODEL_TYPE_CONVERT",
              "Only dictionaries may be used in a ModelType");
    return false;
  }
  const bj::object& ref = v->as_object();
  auto id_field = [&](const char* name, Snowflake* id) {
    auto* f = ref.if_contains(name);
    if (!f || f->is_null()) return true;
    auto parsed = f->is_string()   ? ParseSnowflake(f->as_string())
                  : f->is_uint64() ? std::optional<Snowflake>(f->as_uint64())
                  : f->is_int64() && f->as_int64() > 0
                      ? std::optional<Snowflake>(static_cast<Snowflake>(f->as_int64()))
                      : std::nullopt;
    if (!parsed) {
      errs->Add(std::string("message_reference.") + name, "NUMBER_TYPE_COERCE",
                "Value is not snowflake.");
      return false;
    }
    *id = *parsed;
    return true;
  };
  Snowflake ref_channel = channel_id, ref_guild = guild_id;
  if (!id_field("message_id", &out->message_id) || !id_field("channel_id", &ref_channel) ||
      !id_field("guild_id", &ref_guild))
    return false;
  if (auto* f = ref.if_contains("fail_if_not_exists"); f && !f->is_null()) {
    if (!f->is_bool()) {
      errs->Add("message_reference.fail_if_not_exists", "BOOLEAN_TYPE_CONVERT",
                "Must be either true or false.");
      return false;
    }
    out->fail_if_not_exists = f->as_bool();
  }
  if (auto* f = ref.if_contains("type");
      f && !f->is_null() && !(f->is_int64() && f->as_int64() == 0)) {
    // 1 is a forward, which Parley does not have.
    errs->Add("message_reference.type", "BASE_TYPE_CHOICES", "Value must be one of {0}.");
    return false;
  }
  if (out->message_id == 0) {
    errs->Add("message_reference.message_id", "BASE_TYPE_REQUIRED", "This field is required");
    return false;
  }
  // Replies stay in their channel.
  if (ref_channel != channel_id || ref_guild != guild_id) {
    errs->Add("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message");
    return false;
  }
  return true;
}

// The messages that `msgs` reply to, read from `store` (each once), by id.
// A reply whose message is gone has none (referenced_message: null).
Status ReadReferenced(StoreBackend& store, const std::vector<Message>& msgs,
                      std::vector<Message>* out) {
  out->clear();
  for (const Message& m : msgs) {
    if (m.ref_message_id == 0) continue;
    if (std::any_of(out->begin(), out->end(),
                    [&](const Message& r) { return r.id == m.ref_message_id; }))
      continue;
    Message r;
    Status s = store.GetMessage(m.ref_channel_id, m.ref_message_id, &r);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return s;
    out->push_back(std::move(r));
  }
  return Status::OK();
}

const Message* FindReferenced(const std::vector<Message>& referenced, const Message& m) {
  if (m.ref_message_id == 0) return nullptr;
  for (const Message& r : referenced)
    if (r.id == m.ref_message_id) return &r;
  return nullptr;
}

// Replies with `msgs` as a JSON array, replies with their referenced
// messages (read from `store`).
void ReplyMessages(Api& api, const CallPtr& call, StoreBackend& store,
                   const std::vector<Message>& msgs) {
  std::vector<Message> referenced;
  if (Status s = ReadReferenced(store, msgs, &referenced); !s.ok())
    return call->Fail(Api::StoreError(s));
  std::string out;
  out.reserve(msgs.size() * 600 + 2);
  out.push_back('[');
  for (const Message& m : msgs) {
    if (out.size() > 1) out.push_back(',');
    json::AppendMessageJson(&out, m, api.state(), FindReferenced(referenced, m));
  }
  out.push_back(']');
  call->Reply(200, std::move(out));
}

// Commits a new message (its id minted on the writer thread) and replies
// with it. `referenced`: the message it replies to, if any.
void CommitNewMessage(Api& api, const CallPtr& call, Message m, std::vector<Message> referenced) {
  // The id is minted on the writer thread just before the commit (Prepare),
  // so that message ids increase in commit order, the order in which the
  // gateway delivers them: two posts on different event loops must not get
  // ids in one order and commit in the other (clients sort and page by id).
  // The reply is built there too, from the final id. The nonce stays in the
  // mutation (the store does not keep it) so that MESSAGE_CREATE carries it,
  // as on Discord.
  auto reply = std::make_shared<std::string>();
  WriteBatch batch;
  batch.push_back(mut::InsertMessage{std::move(m), std::move(referenced)});
  api.Commit(
      call, std::move(batch), [call, reply] { call->Reply(200, std::move(*reply)); },
      [&api, reply](WriteBatch* b) {
        auto& insert = std::get<mut::InsertMessage>((*b)[0]);
        insert.message.id = api.ids().Next();
        reply->clear();
        json::AppendMessageJson(reply.get(), insert.message, api.state(),
                                insert.referenced.empty() ? nullptr : &insert.referenced.front());
      });
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
  ReplyTo reply_to;
  ReadMessageReference(body, a->channel.id, a->channel.guild_id, &reply_to, &errs);
  if (!errs.empty()) return call->Fail(errs.ToError());
  if (m.tts && !(a->permissions & perm::kSendTtsMessages)) m.tts = false;
  m.channel_id = a->channel.id;
  m.guild_id = a->channel.guild_id;
  m.author_id = call->user->id;
  if (reply_to.message_id == 0) return CommitNewMessage(api, call, std::move(m), {});
  // A reply: the message it answers must exist (unless fail_if_not_exists
  // is false: then it is sent as a plain message), and, with
  // READ_MESSAGE_HISTORY, be readable by its author.
  if (!(a->permissions & perm::kReadMessageHistory))
    return call->Fail({403, 160002, "Cannot reply without permission to read message history", {}});
  api.Read(call, [&api, call, m = std::move(m), reply_to](StoreBackend& store) mutable {
    Message target;
    Status s = store.GetMessage(m.channel_id, reply_to.message_id, &target);
    if (s.IsNotFound()) {
      if (reply_to.fail_if_not_exists) {
        FormErrors errs;
        errs.Add("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message");
        return call->Fail(errs.ToError());
      }
      return CommitNewMessage(api, call, std::move(m), {});
    }
    if (!s.ok()) return call->Fail(Api::StoreError(s));
    m.type = kTypeReply;
    m.ref_channel_id = target.channel_id;
    m.ref_message_id = target.id;
    std::vector<Message> referenced;
    referenced.push_back(std::move(target));
    CommitNewMessage(api, call, std::move(m), std::move(referenced));
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
    ReplyMessages(api, call, store, msgs);
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
    std::vector<Message> referenced;
    if (s = ReadReferenced(store, {m}, &referenced); !s.ok()) return call->Fail(Api::StoreError(s));
    std::string out;
    json::AppendMessageJson(&out, m, api.state(), FindReferenced(referenced, m));
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
  api.Read(call, [&api, call, body, channel = a->channel, permissions = a->permissions,
                  id = *mid](StoreBackend& store) {
    Message m;
    Status s = store.GetMessage(channel.id, id, &m);
    if (s.IsNotFound()) return call->Fail(ApiError::UnknownMessage());
    if (!s.ok()) return call->Fail(Api::StoreError(s));
    // Others may change only the flags, with MANAGE_MESSAGES (Discord:
    // suppressing another's embeds).
    if (m.author_id != call->user->id &&
        !((permissions & perm::kManageMessages) && body->size() == 1 && body->contains("flags")))
      return call->Fail(ApiError::NotAuthor());
    FormErrors errs;
    Message edit = m;
    ReadMessageFields(*body, false, &edit, &errs);
    if (!errs.empty()) return call->Fail(errs.ToError());
    if ((body->contains("content") || body->contains("embeds")) && CodePoints(edit.content) == 0 &&
        edit.embeds.empty())
      return call->Fail({400, 50006, "Cannot send an empty message", {}});
    if (auto* v = body->if_contains("flags"); v && v->is_int64()) {
      // Only SUPPRESS_EMBEDS (1 << 2) may be toggled by the author.
      edit.flags = (m.flags & ~4) | (static_cast<int>(v->as_int64()) & 4);
    }
    // A flags-only change (suppressing embeds) is not an edit of the text.
    if (!(body->size() == 1 && body->contains("flags")))
      edit.edited_ms = std::max<int64_t>(NowMs(), SnowflakeTimeMs(m.id) + 1);
    edit.guild_id = channel.guild_id;
    std::vector<Message> referenced;
    if (s = ReadReferenced(store, {edit}, &referenced); !s.ok())
      return call->Fail(Api::StoreError(s));
    std::string reply;
    json::AppendMessageJson(&reply, edit, api.state(), FindReferenced(referenced, edit));
    WriteBatch batch;
    batch.push_back(mut::UpdateMessage{std::move(edit), std::move(referenced)});
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
