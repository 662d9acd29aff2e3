// Accounts, tokens and bot applications.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "util/time_format.h"
#include "util/visible_text.h"
#include "wire/serialize.h"

namespace parley::handlers {

namespace bj = boost::json;

// Discord's name rules: 2..32 characters, no '@', '#', ':', "```", not
// "everyone"/"here", nothing that hides or reorders text (IsVisibleText);
// a person's username (NameKind::kUsername) also by Discord's current
// rules: letters, digits, '_' and '.', no "..", so that no two names look
// alike (Parley keeps the case it was given; uniqueness ignores case).
void CheckUsername(const bj::object& body, std::string* out, FormErrors* errs, const char* field,
                   NameKind kind) {
  auto* v = body.if_contains(field);
  if (!v || !v->is_string()) {
    errs->Add(field, "BASE_TYPE_REQUIRED", "This field is required");
    return;
  }
  std::string s(v->as_string());
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  if (n < 2 || n > 32) {
    errs->Add(field, "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 32 in length.");
    return;
  }
  std::string lower = ToLower(s);
  if (s.find_first_of("@#:") != std::string::npos || s.find("```") != std::string::npos ||
      lower == "everyone" || lower == "here" || s.find_first_of("\r\n\t") != std::string::npos) {
    errs->Add(field, "USERNAME_INVALID_CONTAINS",
              "Username cannot contain \"@\", \"#\", \":\" or \"```\".");
    return;
  }
  if (!IsVisibleText(s)) {
    errs->Add(field, "USERNAME_INVALID_CHARACTERS",
              "Cannot contain control, bidirectional or invisible characters.");
    return;
  }
  if (kind == NameKind::kUsername) {
    const bool charset = std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.';
    });
    if (!charset || s.find("..") != std::string::npos) {
      errs->Add(field, "USERNAME_INVALID_CHARACTERS",
                "Username can only contain letters, numbers, underscores and periods, and no "
                "two periods in a row.");
      return;
    }
  }
  *out = std::move(s);
}

namespace {

// Discord's application object for what Parley has: no teams, no
// interactions (verify_key, Discord's Ed25519 key for signing them, is a
// stable hex value derived from the id), event webhooks disabled (1).
bj::object ApplicationObject(const Application& app, const User* owner, const User* bot) {
  static constexpr char kHex[] = "0123456789abcdef";
  const TokenHash h = HashToken("parley verify_key " + std::to_string(app.id));
  std::string verify_key;
  for (uint8_t b : h) {
    verify_key.push_back(kHex[b >> 4]);
    verify_key.push_back(kHex[b & 15]);
  }
  bj::object o{{"id", json::Id(app.id)},   {"name", app.name},   {"icon", nullptr},
               {"description", ""},        {"bot_public", true}, {"bot_require_code_grant", false},
               {"verify_key", verify_key}, {"team", nullptr},    {"event_webhooks_status", 1},
               {"flags", app.flags}};
  if (owner) o["owner"] = json::UserObject(*owner);
  if (bot) o["bot"] = json::UserObject(*bot);
  return o;
}

void CheckPassword(const bj::object& body, std::string* out, FormErrors* errs) {
  auto* v = body.if_contains("password");
  if (!v || !v->is_string()) {
    errs->Add("password", "BASE_TYPE_REQUIRED", "This field is required");
    return;
  }
  if (v->as_string().size() < 8 || v->as_string().size() > 256) {
    errs->Add("password", "PASSWORD_BAD_LENGTH", "Must be between 8 and 256 in length.");
    return;
  }
  *out = std::string(v->as_string());
}

void UsernameTaken(const CallPtr& call) {
  FormErrors errs;
  errs.Add("username", "USERNAME_ALREADY_TAKEN",
           "Username is unavailable. Try adding numbers, letters, underscores _ , or periods.");
  call->Fail(errs.ToError());
}

// Replies {token, user} after committing a new token for `user`.
void IssueToken(Api& api, const CallPtr& call, User user, WriteBatch batch, unsigned status) {
  std::string token = NewToken(user.id);
  batch.push_back(mut::PutSession{Session{HashToken(token), user.id, NowMs()}});
  std::string reply =
      bj::serialize(bj::object{{"token", token}, {"user", json::CurrentUserObject(user)}});
  api.CommitWithStatus(std::move(batch),
                       [call, status, reply = std::move(reply)](Status s) mutable {
                         if (s.IsConflict()) return UsernameTaken(call);
                         if (!s.ok()) return call->Fail(ApiError::Internal());
                         call->Reply(status, std::move(reply));
                       });
}

}  // namespace

void Register(Api& api, const CallPtr& call) {
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  std::string username, password;
  CheckUsername(body, &username, &errs, "username", NameKind::kUsername);
  CheckPassword(body, &password, &errs);
  if (!errs.empty()) return call->Fail(errs.ToError());
  if (api.state().UserIdByName(ToLower(username))) return UsernameTaken(call);
  // argon2id costs tens of milliseconds: never on an event loop.
  boost::asio::post(
      api.blocking(), [&api, call, username = std::move(username), password = std::move(password)] {
        User u;
        u.id = api.ids().Next();
        u.username = username;
        if (!HashPassword(password, api.options().password_cost, &u.password_hash).ok())
          return call->Fail(ApiError::Internal());
        WriteBatch batch;
        batch.push_back(mut::PutUser{u});
        IssueToken(api, call, std::move(u), std::move(batch), 201);
      });
}

void Login(Api& api, const CallPtr& call) {
  bj::object body;
  if (!call->ParseBody(&body)) return;
  // Discord's login body says "login"; accept "username" too.
  std::string name;
  for (const char* k : {"login", "username"})
    if (auto* v = body.if_contains(k); v && v->is_string()) name = std::string(v->as_string());
  std::string password;
  if (auto* v = body.if_contains("password"); v && v->is_string())
    password = std::string(v->as_string());
  auto invalid = [call] {
    FormErrors errs;
    errs.Add("login", "INVALID_LOGIN", "Login or password is invalid.");
    errs.Add("password", "INVALID_LOGIN", "Login or password is invalid.");
    call->Fail(errs.ToError());
  };
  if (name.empty() || password.empty()) return invalid();
  auto uid = api.state().UserIdByName(ToLower(name));
  auto user = uid ? api.state().GetUser(*uid) : nullptr;
  if (!user || user->bot || user->password_hash.empty()) {
    // Spend the same time as a real check so that timing does not tell
    // which usernames exist.
    boost::asio::post(api.blocking(), [&api, invalid, password] {
      std::string ignored;
      (void)HashPassword(password, api.options().password_cost, &ignored);
      invalid();
    });
    return;
  }
  boost::asio::post(api.blocking(), [&api, call, user, password, invalid] {
    if (!VerifyPassword(user->password_hash, password)) return invalid();
    IssueToken(api, call, *user, {}, 200);
  });
}

void Logout(Api& api, const CallPtr& call) {
  WriteBatch batch;
  batch.push_back(mut::DeleteSession{call->token_hash});
  api.Commit(call, std::move(batch), [call] { call->NoContent(); });
}

void CreateApplication(Api& api, const CallPtr& call) {
  if (call->user->bot) return call->Fail(ApiError::MissingAccess());
  bj::object body;
  if (!call->ParseBody(&body)) return;
  FormErrors errs;
  std::string name;
  CheckUsername(body, &name, &errs, "name", NameKind::kApplication);
  if (!errs.empty()) return call->Fail(errs.ToError());
  // The bot user's name must be unique like any username: add a suffix when
  // the plain name is taken.
  std::string username = name;
  // At most 26 bytes of the name, cut between characters (never inside one).
  size_t keep = std::min<size_t>(name.size(), 26);
  while (keep > 0 && keep < name.size() && (static_cast<uint8_t>(name[keep]) & 0xC0) == 0x80)
    --keep;
  for (int i = 0; api.state().UserIdByName(ToLower(username)); ++i)
    username = name.substr(0, keep) + "_" + RandomCode(4);
  User bot;
  bot.id = api.ids().Next();
  bot.username = username;
  bot.bot = true;
  bot.owner_id = call->user->id;
  Application app{bot.id, name, call->user->id, 0};
  std::string token = NewToken(bot.id);
  WriteBatch batch;
  batch.push_back(mut::PutUser{bot});
  batch.push_back(mut::PutApplication{app});
  batch.push_back(mut::PutSession{Session{HashToken(token), bot.id, NowMs()}});
  bj::object reply = ApplicationObject(app, &*call->user, &bot);
  reply["token"] = token;
  std::string out = bj::serialize(reply);
  api.CommitWithStatus(std::move(batch), [call, out = std::move(out)](Status s) mutable {
    if (!s.ok()) return call->Fail(ApiError::Internal());
    call->Reply(201, std::move(out));
  });
}

namespace {
bj::object ApplicationObject(Api& api, const Application& app) {
  auto owner = api.state().GetUser(app.owner_id);
  auto bot = api.state().GetUser(app.id);
  return ApplicationObject(app, owner ? &*owner : nullptr, bot ? &*bot : nullptr);
}
}  // namespace

void GetCurrentApplication(Api& api, const CallPtr& call) {
  if (!call->user->bot) return call->Fail(ApiError::BotsOnly());
  auto app = api.state().GetApplication(call->user->id);
  if (!app) return call->Fail(ApiError::UnknownApplication());
  call->Reply(200, ApplicationObject(api, *app));
}

// GET /applications/detectable: Discord's list of games it detects for
// activities. Parley detects none; clients that ask (discord.js user
// tools, the browser) get an empty list instead of a 405.
void ListDetectableApplications(Api&, const CallPtr& call) {
  call->Reply(200, bj::array{});
}

void ListApplications(Api& api, const CallPtr& call) {
  bj::array out;
  for (const auto& app : api.state().ApplicationsOwnedBy(call->user->id))
    out.push_back(ApplicationObject(api, app));
  call->Reply(200, out);
}

// POST /applications/{id}/bot/reset (the developer portal's "Reset
// Token"): the bot gets one new token; its old ones stop working and its
// gateway sessions close with 4004.
void ResetBotToken(Api& api, const CallPtr& call) {
  auto id = ParseSnowflake(call->params[0]);
  auto app = id ? api.state().GetApplication(*id) : std::nullopt;
  if (!app) return call->Fail(ApiError::UnknownApplication());
  if (app->owner_id != call->user->id) return call->Fail(ApiError::MissingAccess());
  std::string token = NewToken(app->id);
  WriteBatch batch;
  batch.push_back(mut::DeleteUserSessions{app->id});
  batch.push_back(mut::PutSession{Session{HashToken(token), app->id, NowMs()}});
  std::string reply = bj::serialize(bj::object{{"token", token}});
  api.Commit(call, std::move(batch),
             [call, reply = std::move(reply)]() mutable { call->Reply(200, std::move(reply)); });
}

// PATCH /applications/{id} {flags?, name?}: the owner grants its bot the
// privileged gateway intents (GATEWAY_PRESENCE 1<<12, GATEWAY_GUILD_MEMBERS
// 1<<14, GATEWAY_MESSAGE_CONTENT 1<<18 and their *_LIMITED bits 13, 15, 19).
void PatchApplication(Api& api, const CallPtr& call) {
  // PATCH /applications/@me ("Edit Current Application"): a bot edits its
  // own; PATCH /applications/{id}: the owner edits one of theirs.
  const bool current = call->params.empty();
  if (current && !call->user->bot) return call->Fail(ApiError::UnknownApplication());
  auto id = current ? std::optional<Snowflake>(call->user->id) : ParseSnowflake(call->params[0]);
  auto app = id ? api.state().GetApplication(*id) : std::nullopt;
  if (!app) return call->Fail(ApiError::UnknownApplication());
  if (!current && app->owner_id != call->user->id) return call->Fail(ApiError::MissingAccess());
  bj::object body;
  if (!call->ParseBody(&body)) return;
  // The gateway intent flags; the bot itself may set only the *_LIMITED
  // ones (Discord: "only limited intent flags can be updated").
  constexpr uint64_t kLimitedFlags = (1ull << 13) | (1ull << 15) | (1ull << 19);
  constexpr uint64_t kIntentFlags = kLimitedFlags | (1ull << 12) | (1ull << 14) | (1ull << 18);
  const uint64_t settable = current ? kLimitedFlags : kIntentFlags;
  FormErrors errs;
  Application next = *app;
  if (auto* f = body.if_contains("flags")) {
    // Flags the application has and the caller may not set stay as they
    // are (sent back or not).
    const uint64_t kept = app->flags & ~settable;
    if (!f->is_int64() || f->as_int64() < 0 ||
        ((static_cast<uint64_t>(f->as_int64()) & ~settable) & ~kept))
      errs.Add("flags", "BASE_TYPE_BAD_FLAGS",
               current ? "Only the limited gateway intent flags (1<<13, 1<<15, 1<<19) can be set."
                       : "Only the gateway intent flags (1<<12..1<<15, 1<<18, 1<<19) can be set.");
    else
      next.flags = (static_cast<uint64_t>(f->as_int64()) & settable) | kept;
  }
  if (body.contains("name")) {
    std::string name;
    CheckUsername(body, &name, &errs, "name", NameKind::kApplication);
    next.name = name;
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  WriteBatch batch;
  batch.push_back(mut::PutApplication{next});
  api.Commit(call, std::move(batch),
             [&api, call, next] { call->Reply(200, ApplicationObject(api, next)); });
}

}  // namespace parley::handlers
