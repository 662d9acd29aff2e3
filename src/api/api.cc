#include "api/api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/url_view.hpp>
#include <chrono>
#include <cmath>

#include "api/handlers.h"
#include "metrics/server_metrics.h"
#include "util/clock.h"
#include "util/time_format.h"

namespace parley {

namespace http = boost::beast::http;
using http::verb;

struct Api::Route {
  verb method;
  std::vector<std::string> segments;  // "{}" matches one path segment
  bool auth;
  std::string bucket;  // rate-limit bucket name (routes may share one)
  RateLimit limit;
  bool major;  // the first parameter is part of the bucket key (channel/guild)
  void (*fn)(Api&, const CallPtr&);
  RouteMetrics metrics;
};

namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string BucketHash(std::string_view name) {
  return fmt::format("{:016x}", std::hash<std::string_view>{}(name));
}

}  // namespace

Api::Api(Deps deps, ApiOptions options)
    : deps_(deps),
      options_(std::move(options)),
      applier_(deps_.state, deps_.events, deps_.presence),
      rate_limiter_(options_.ratelimit_global) {
  using namespace handlers;
  // Rate limits follow Discord's published and observed defaults; every one
  // is scaled by --ratelimit-scale.
  const RateLimit kDefault{50, 1.0};
  auto add = [&](verb m, std::string_view pattern, bool auth, std::string bucket, RateLimit lim,
                 bool major, void (*fn)(Api&, const CallPtr&)) {
    Route r{m, {}, auth, std::move(bucket), lim, major, fn};
    for (auto s : SplitPath(pattern)) r.segments.emplace_back(s);
    if (r.bucket.empty()) r.bucket = std::string(pattern);
    auto& reg = metrics::M().registry;
    std::string route = fmt::format("{} /api/v10{}", std::string(http::to_string(m)), pattern);
    const char* classes[] = {"2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 4; ++i)
      r.metrics.by_class[i] =
          &reg.NewCounter("parley_http_requests_total", "HTTP requests, by route and status class",
                          fmt::format("route=\"{}\",status=\"{}\"", route, classes[i]));
    r.metrics.rate_limited =
        &reg.NewCounter("parley_http_rate_limited_total", "REST requests answered 429, by route",
                        fmt::format("route=\"{}\"", route));
    r.metrics.is_create_message = m == verb::post && pattern == "/channels/{}/messages";
    r.limit.limit =
        std::max(1, static_cast<int>(std::lround(lim.limit * options_.ratelimit_scale)));
    routes_.push_back(std::move(r));
  };
  add(verb::post, "/auth/register", false, "auth", {5, 60}, false, Register);
  add(verb::post, "/auth/login", false, "auth", {5, 60}, false, Login);
  add(verb::post, "/auth/logout", true, "", kDefault, false, Logout);
  add(verb::post, "/applications", true, "", {10, 10}, false, CreateApplication);
  add(verb::get, "/applications", true, "", kDefault, false, ListApplications);
  add(verb::get, "/applications/@me", true, "", kDefault, false, GetCurrentApplication);
  add(verb::patch, "/applications/@me", true, "", {10, 10}, false, PatchApplication);
  // "Get Current Bot Application Information": what every bot library asks
  // for at start-up.
  add(verb::get, "/oauth2/applications/@me", true, "", kDefault, false, GetCurrentApplication);
  add(verb::get, "/applications/detectable", false, "", kDefault, false,
      ListDetectableApplications);
  add(verb::patch, "/applications/{}", true, "", {10, 10}, false, PatchApplication);
  add(verb::post, "/applications/{}/bot/reset", true, "", {5, 60}, false, ResetBotToken);
  add(verb::get, "/gateway", false, "", kDefault, false, GetGateway);
  add(verb::get, "/admin/status", true, "", kDefault, false, GetAdminStatus);
  add(verb::get, "/gateway/bot", true, "", kDefault, false, GetGatewayBot);

  add(verb::get, "/users/@me", true, "", kDefault, false, GetCurrentUser);
  add(verb::patch, "/users/@me", true, "", {2, 10}, false, PatchCurrentUser);
  add(verb::post, "/users/@me/delete", true, "", {2, 60}, false, DeleteCurrentUser);
  add(verb::get, "/users/@me/guilds", true, "", kDefault, false, GetCurrentUserGuilds);
  add(verb::delete_, "/users/@me/guilds/{}", true, "", {10, 10}, false, LeaveGuild);
  add(verb::get, "/users/{}", true, "", kDefault, false, GetUser);

  add(verb::post, "/guilds", true, "", {10, 10}, false, CreateGuild);
  add(verb::get, "/guilds/{}", true, "", kDefault, true, GetGuild);
  add(verb::patch, "/guilds/{}", true, "", {10, 10}, true, PatchGuild);
  add(verb::delete_, "/guilds/{}", true, "", {10, 10}, true, DeleteGuild);
  add(verb::get, "/guilds/{}/channels", true, "", kDefault, true, ListGuildChannels);
  add(verb::post, "/guilds/{}/channels", true, "", {10, 10}, true, CreateGuildChannel);
  add(verb::patch, "/guilds/{}/channels", true, "", {10, 10}, true, PatchChannelPositions);
  add(verb::get, "/guilds/{}/members", true, "", {10, 10}, true, ListMembers);
  // Before /members/{}: "search" is not a user id.
  add(verb::get, "/guilds/{}/members/search", true, "", {10, 10}, true, SearchMembers);
  add(verb::get, "/guilds/{}/members/{}", true, "", kDefault, true, GetMember);
  add(verb::put, "/guilds/{}/members/{}", true, "", {10, 10}, true, AddMember);
  add(verb::patch, "/guilds/{}/members/{}", true, "", {10, 10}, true, PatchMember);
  // Discord's deprecated "Modify Current User Nick" (eris's editNickname).
  add(verb::patch, "/guilds/{}/members/@me/nick", true, "", {10, 10}, true, PatchMember);
  add(verb::delete_, "/guilds/{}/members/{}", true, "", {10, 10}, true, KickMember);
  add(verb::get, "/guilds/{}/roles", true, "", kDefault, true, ListRoles);
  // What Parley has none of (empty_collections.cc).
  add(verb::get, "/guilds/{}/emojis", true, "", kDefault, true, ListGuildEmojis);
  add(verb::get, "/guilds/{}/emojis/{}", true, "", kDefault, true, GetGuildEmoji);
  add(verb::get, "/guilds/{}/stickers", true, "", kDefault, true, ListGuildStickers);
  add(verb::get, "/guilds/{}/stickers/{}", true, "", kDefault, true, GetGuildSticker);
  add(verb::get, "/guilds/{}/scheduled-events", true, "", kDefault, true, ListScheduledEvents);
  add(verb::get, "/guilds/{}/scheduled-events/{}", true, "", kDefault, true, GetScheduledEvent);
  add(verb::get, "/guilds/{}/threads/active", true, "", kDefault, true, ListActiveThreads);
  add(verb::get, "/guilds/{}/integrations", true, "", kDefault, true, ListIntegrations);
  add(verb::get, "/guilds/{}/auto-moderation/rules", true, "", kDefault, true,
      ListAutoModerationRules);
  add(verb::get, "/guilds/{}/auto-moderation/rules/{}", true, "", kDefault, true,
      GetAutoModerationRule);
  add(verb::get, "/channels/{}/threads/archived/public", true, "", kDefault, true,
      ListPublicArchivedThreads);
  add(verb::get, "/channels/{}/threads/archived/private", true, "", kDefault, true,
      ListPrivateArchivedThreads);
  add(verb::get, "/channels/{}/users/@me/threads/archived/private", true, "", kDefault, true,
      ListJoinedPrivateArchivedThreads);
  add(verb::get, "/users/@me/channels", true, "", kDefault, false, ListDmChannels);
  add(verb::get, "/applications/{}/emojis", true, "", kDefault, false, ListApplicationEmojis);
  add(verb::get, "/applications/{}/emojis/{}", true, "", kDefault, false, GetApplicationEmoji);
  add(verb::get, "/applications/{}/entitlements", true, "", kDefault, false, ListEntitlements);
  add(verb::get, "/applications/{}/skus", true, "", kDefault, false, ListSkus);
  add(verb::get, "/applications/{}/entitlements/{}", true, "", kDefault, false, GetEntitlement);
  add(verb::delete_, "/applications/{}/entitlements/{}", true, "", kDefault, false, GetEntitlement);
  add(verb::post, "/applications/{}/entitlements/{}/consume", true, "", kDefault, false,
      GetEntitlement);
  add(verb::post, "/applications/{}/entitlements", true, "", kDefault, false,
      CreateTestEntitlement);
  add(verb::get, "/applications/{}/role-connections/metadata", true, "", kDefault, false,
      ListRoleConnectionMetadata);
  add(verb::get, "/users/@me/connections", true, "", kDefault, false, ListConnections);
  add(verb::get, "/users/@me/guilds/{}/member", true, "", {5, 1}, true, GetCurrentUserGuildMember);
  add(verb::get, "/guilds/{}/preview", true, "", kDefault, true, GetGuildPreview);
  add(verb::get, "/guilds/{}/regions", true, "", kDefault, true, ListVoiceRegions);
  add(verb::post, "/guilds/{}/mfa", true, "", {10, 10}, true, SetMfaLevel);
  add(verb::get, "/guilds/{}/prune", true, "", {10, 10}, true, PruneMembers);
  add(verb::post, "/guilds/{}/prune", true, "", {10, 10}, true, PruneMembers);
  add(verb::get, "/guilds/{}/roles/member-counts", true, "", kDefault, true, GetRoleMemberCounts);
  add(verb::get, "/guilds/{}/webhooks", true, "", kDefault, true, ListGuildWebhooks);
  add(verb::get, "/channels/{}/webhooks", true, "", kDefault, true, ListChannelWebhooks);
  add(verb::get, "/guilds/{}/templates", true, "", kDefault, true, ListGuildTemplates);
  add(verb::get, "/guilds/templates/{}", true, "", kDefault, false, GetGuildTemplate);
  add(verb::get, "/guilds/{}/soundboard-sounds", true, "", kDefault, true, ListSoundboardSounds);
  add(verb::get, "/guilds/{}/soundboard-sounds/{}", true, "", kDefault, true, GetSoundboardSound);
  add(verb::get, "/guilds/{}/voice-states/{}", true, "", kDefault, true, GetVoiceState);
  add(verb::delete_, "/guilds/{}/integrations/{}", true, "", kDefault, true, DeleteIntegration);
  add(verb::get, "/guilds/{}/scheduled-events/{}/users", true, "", kDefault, true,
      GetScheduledEventUsers);
  add(verb::get, "/guilds/{}/vanity-url", true, "", kDefault, true, GetVanityUrl);
  add(verb::get, "/guilds/{}/widget", true, "", kDefault, true, GetWidgetSettings);
  add(verb::get, "/guilds/{}/widget.json", false, "", kDefault, true, GetWidget);
  add(verb::get, "/guilds/{}/widget.png", false, "", kDefault, true, GetWidget);
  add(verb::get, "/guilds/{}/welcome-screen", true, "", kDefault, true, GetWelcomeScreen);
  add(verb::get, "/guilds/{}/onboarding", true, "", kDefault, true, GetOnboarding);
  add(verb::post, "/channels/{}/followers", true, "", kDefault, true, FollowChannel);
  add(verb::post, "/channels/{}/messages/{}/crosspost", true, "", kDefault, true, CrosspostMessage);
  add(verb::post, "/channels/{}/threads", true, "", kDefault, true, StartThread);
  add(verb::post, "/channels/{}/messages/{}/threads", true, "", kDefault, true, StartThread);
  add(verb::get, "/channels/{}/thread-members", true, "", kDefault, true, ThreadMembers);
  add(verb::get, "/channels/{}/thread-members/{}", true, "", kDefault, true, ThreadMembers);
  add(verb::put, "/channels/{}/thread-members/{}", true, "", kDefault, true, ThreadMembers);
  add(verb::delete_, "/channels/{}/thread-members/{}", true, "", kDefault, true, ThreadMembers);
  add(verb::put, "/channels/{}/recipients/{}", true, "", kDefault, true, GroupDmRecipient);
  add(verb::delete_, "/channels/{}/recipients/{}", true, "", kDefault, true, GroupDmRecipient);
  add(verb::post, "/channels/{}/polls/{}/expire", true, "", kDefault, true, ExpirePoll);
  add(verb::get, "/channels/{}/polls/{}/answers/{}", true, "", kDefault, true, GetPollVoters);
  // Application commands. Creates share one bucket per application.
  const RateLimit kCommandWrites{25, 5.0};
  add(verb::get, "/applications/{}/commands", true, "", kDefault, false, ListGlobalCommands);
  add(verb::post, "/applications/{}/commands", true, "commands", kCommandWrites, false,
      CreateGlobalCommand);
  add(verb::put, "/applications/{}/commands", true, "commands", kCommandWrites, false,
      OverwriteGlobalCommands);
  add(verb::get, "/applications/{}/commands/{}", true, "", kDefault, false, GetGlobalCommand);
  add(verb::patch, "/applications/{}/commands/{}", true, "commands", kCommandWrites, false,
      EditGlobalCommand);
  add(verb::delete_, "/applications/{}/commands/{}", true, "commands", kCommandWrites, false,
      DeleteGlobalCommand);
  add(verb::get, "/applications/{}/guilds/{}/commands", true, "", kDefault, false,
      ListGuildCommands);
  add(verb::post, "/applications/{}/guilds/{}/commands", true, "commands", kCommandWrites, false,
      CreateGuildCommand);
  add(verb::put, "/applications/{}/guilds/{}/commands", true, "commands", kCommandWrites, false,
      OverwriteGuildCommands);
  add(verb::get, "/applications/{}/guilds/{}/commands/permissions", true, "", kDefault, false,
      ListCommandPermissions);
  add(verb::get, "/applications/{}/guilds/{}/commands/{}", true, "", kDefault, false,
      GetGuildCommand);
  add(verb::patch, "/applications/{}/guilds/{}/commands/{}", true, "commands", kCommandWrites,
      false, EditGuildCommand);
  add(verb::delete_, "/applications/{}/guilds/{}/commands/{}", true, "commands", kCommandWrites,
      false, DeleteGuildCommand);
  add(verb::get, "/applications/{}/guilds/{}/commands/{}/permissions", true, "", kDefault, false,
      GetCommandPermissions);
  add(verb::put, "/applications/{}/guilds/{}/commands/{}/permissions", true, "", kDefault, false,
      EditCommandPermissions);
  add(verb::post, "/guilds/{}/roles", true, "", {10, 10}, true, CreateRole);
  add(verb::patch, "/guilds/{}/roles", true, "", {10, 10}, true, PatchRolePositions);
  add(verb::get, "/guilds/{}/roles/{}", true, "", kDefault, true, GetRole);
  add(verb::patch, "/guilds/{}/roles/{}", true, "", {10, 10}, true, PatchRole);
  add(verb::delete_, "/guilds/{}/roles/{}", true, "", {10, 10}, true, DeleteRole);
  add(verb::put, "/guilds/{}/members/{}/roles/{}", true, "member-roles", {10, 10}, true,
      AddMemberRole);
  add(verb::delete_, "/guilds/{}/members/{}/roles/{}", true, "member-roles", {10, 10}, true,
      RemoveMemberRole);
  add(verb::get, "/guilds/{}/invites", true, "", kDefault, true, ListGuildInvites);

  add(verb::get, "/channels/{}", true, "", kDefault, true, GetChannel);
  add(verb::patch, "/channels/{}", true, "", {5, 10}, true, PatchChannel);
  add(verb::delete_, "/channels/{}", true, "", {5, 10}, true, DeleteChannel);
  add(verb::put, "/channels/{}/permissions/{}", true, "", {10, 10}, true, PutOverwrite);
  add(verb::delete_, "/channels/{}/permissions/{}", true, "", {10, 10}, true, DeleteOverwrite);
  add(verb::post, "/channels/{}/typing", true, "", {5, 5}, true, TriggerTyping);
  add(verb::post, "/channels/{}/invites", true, "", {5, 15}, true, CreateInvite);
  add(verb::get, "/channels/{}/invites", true, "", kDefault, true, ListChannelInvites);
  add(verb::get, "/channels/{}/messages", true, "", kDefault, true, ListMessages);
  add(verb::post, "/channels/{}/messages", true, "", {5, 5}, true, CreateMessage);
  add(verb::post, "/channels/{}/messages/bulk-delete", true, "", {1, 1}, true, BulkDeleteMessages);
  add(verb::get, "/channels/{}/messages/{}", true, "", kDefault, true, GetMessage);
  add(verb::patch, "/channels/{}/messages/{}", true, "", {5, 5}, true, EditMessage);
  add(verb::delete_, "/channels/{}/messages/{}", true, "", {5, 1}, true, DeleteMessage);

  add(verb::get, "/invites/{}", false, "", kDefault, false, GetInvite);
  add(verb::post, "/invites/{}", true, "", {5, 10}, false, AcceptInvite);
  add(verb::delete_, "/invites/{}", true, "", {10, 10}, false, DeleteInvite);
}

Api::~Api() = default;

void Api::Handle(net::Request&& req, net::Responder respond) {
  auto call = std::make_shared<Call>(std::move(req), std::move(respond));
  call->start_ns = SteadyNs();
  Dispatch(call);
}

void Api::Dispatch(const CallPtr& call) {
  std::string_view target = call->req.target();
  std::string_view path = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    call->query = std::string(target.substr(q + 1));
  }
  // Segments are percent-decoded after splitting, as Discord does: bot
  // libraries send "/users/%40me" (discord-api-types' Routes encode every
  // argument), and "%2F" stays inside its segment. A malformed escape
  // matches no route. Only segments with a '%' are copied (the usual path
  // has none: the segments stay views into the target).
  std::vector<std::string_view> segs = SplitPath(path);
  std::vector<std::string> decoded;
  decoded.reserve(segs.size());  // no reallocation: segs points into it
  for (std::string_view& seg : segs) {
    if (seg.find('%') == std::string_view::npos) continue;
    auto pct = boost::urls::make_pct_string_view(seg);
    if (!pct) return call->Fail(ApiError::NotFound());
    seg = decoded.emplace_back(pct->decode());
  }
  // /api/v10/... or /api/... (no version = v10). v9 shapes are the same here.
  size_t first = 1;
  if (segs.empty() || segs[0] != "api") return call->Fail(ApiError::NotFound());
  if (segs.size() > 1 && segs[1].size() >= 2 && segs[1][0] == 'v' &&
      std::isdigit(static_cast<unsigned char>(segs[1][1]))) {
    if (segs[1] != "v10" && segs[1] != "v9") return call->Fail(ApiError::NotFound());
    first = 2;
  }
  std::span<const std::string_view> rest(segs.begin() + first, segs.end());

  // The most specific pattern that matches the path wins, then the method:
  // a literal segment beats "{}" at the first place they differ, as on
  // Discord ("/channels/{}/messages/pins" is not message "pins",
  // "/applications/@me" not application "@me"). A path whose most specific
  // pattern lacks the method is 405, even if a vaguer one has it.
  const Route* match = nullptr;
  const Route* best = nullptr;
  const auto matches = [&](const Route& r) {
    if (r.segments.size() != rest.size()) return false;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (r.segments[i] != "{}" && r.segments[i] != rest[i]) return false;
    }
    return true;
  };
  // <0: a is more specific than b; 0: the same pattern; >0: less specific.
  const auto specificity = [](const Route& a, const Route& b) {
    for (size_t i = 0; i < a.segments.size(); ++i) {
      const bool la = a.segments[i] != "{}", lb = b.segments[i] != "{}";
      if (la != lb) return la ? -1 : 1;
    }
    return 0;
  };
  for (const Route& r : routes_) {
    if (!matches(r)) continue;
    const int cmp = best ? specificity(r, *best) : -1;
    if (cmp > 0) continue;
    if (cmp < 0) {
      best = &r;
      match = nullptr;
    }
    if (match == nullptr && r.method == call->req.method()) match = &r;
  }
  if (!match) return call->Fail(best ? ApiError::MethodNotAllowed() : ApiError::NotFound());
  call->metrics = &match->metrics;
  if (options_.cluster) call->api = this;
  call->params.clear();  // a second run (RetryAfterSync)
  for (size_t i = 0; i < rest.size(); ++i)
    if (match->segments[i] == "{}") call->params.emplace_back(rest[i]);

  // Authentication.
  std::string who;
  auto auth = call->req[http::field::authorization];
  if (!auth.empty()) {
    std::string_view tok = auth;
    bool bot_prefix = false;
    if (tok.starts_with("Bot ")) {
      tok.remove_prefix(4);
      bot_prefix = true;
    } else if (tok.starts_with("Bearer ")) {
      tok.remove_prefix(7);
    }
    call->token_hash = HashToken(tok);
    if (auto uid = state().Authenticate(call->token_hash)) {
      auto u = state().GetUser(*uid);
      if (u && u->bot == bot_prefix) call->user = std::move(u);
    }
  }
  if (match->auth && !call->user) {
    // Tokens that do not authenticate are throttled per client address
    // (Discord bans an address after 10,000 invalid requests in 10
    // minutes): past the budget, 429 instead of 401. In cluster mode only
    // the final answer counts (after the catch-up, RetryAfterSync).
    if (!auth.empty() && options_.invalid_request_limit > 0 &&
        (!options_.cluster || call->synced)) {
      if (deps_.shared_limits != nullptr) return RefuseInvalidTokenShared(call);
      RateDecision d = InvalidTokenLocal(*call);
      if (!d.allowed) return SendRateLimited(call, d);
    }
    return call->Fail(ApiError::Unauthorized());
  }
  // Routes that need no token (login, register, invites) are limited per
  // client address even when a token is sent: a token must not buy its
  // holder another 5 registrations or password guesses a minute.
  who = match->auth && call->user ? std::to_string(call->user->id) : "ip:" + ClientIp(*call);

  // Rate limits.
  std::string key = match->bucket;
  // Only a real snowflake becomes part of a key, as its parsed value:
  // junk ids cannot mint keys, and "0123" shares the bucket of "123".
  if (match->major && !call->params.empty()) {
    if (auto id = ParseSnowflake(call->params[0])) key.append(":").append(std::to_string(*id));
  }
  call->bucket = BucketHash(match->bucket);
  call->rate_limited = true;
  if (!call->synced && deps_.shared_limits != nullptr)
    return CheckSharedLimits(call, *match, std::move(who), std::move(key));
  if (!call->synced) call->rate = rate_limiter_.Check(who, key, match->limit, NowMs());
  Run(call, *match);
}

void Api::Run(const CallPtr& call, const Route& route) {
  if (!call->rate.allowed) return SendRateLimited(call, call->rate);
  try {
    route.fn(*this, call);
  } catch (const std::exception& e) {
    // Handlers validate their input; an exception here is a bug. The client
    // still gets an answer and the server goes on.
    spdlog::error("handler for {} {} threw: {}", call->req.method_string(), call->req.target(),
                  e.what());
    call->Fail(ApiError::Internal());
  }
}

void Api::CheckSharedLimits(const CallPtr& call, const Route& route, std::string who,
                            std::string key) {
  // The same windows as RateLimiter::Check: the caller's global limit, then
  // the route's bucket.
  // (Keys built by append: GCC 12's -O3 warns falsely on "g:" + who.)
  std::vector<limits::Window> windows;
  if (options_.ratelimit_global > 0) {
    std::string g = "g:";
    g.append(who);
    windows.push_back({std::move(g), options_.ratelimit_global, 1000});
  }
  const int64_t length_ms =
      std::max<int64_t>(1, static_cast<int64_t>(std::llround(route.limit.window_s * 1000.0)));
  std::string r = "r:";
  r.append(who).append("|").append(key);
  windows.push_back({std::move(r), std::max(1, route.limit.limit), length_ms});
  const bool has_global = options_.ratelimit_global > 0;
  deps_.shared_limits->Take(
      std::move(windows), [this, call, &route, who = std::move(who), key = std::move(key),
                           has_global](std::optional<std::vector<limits::Count>> counts) {
        const int64_t now = NowMs();
        if (!counts || counts->empty()) {
          // The shared counters cannot answer: this node counts alone.
          metrics::M().cluster_limit_fallbacks->Inc();
          call->rate = rate_limiter_.Check(who, key, route.limit, now);
        } else {
          call->rate = DecisionOf(counts->back(), has_global && counts->size() == 1, now);
        }
        call->respond.Run([this, call, &route] { Run(call, route); });
      });
}

RateDecision Api::DecisionOf(const limits::Count& c, bool global_window, int64_t now_ms) {
  RateDecision d;
  d.allowed = c.allowed;
  d.global = !c.allowed && global_window;
  d.limit = c.limit;
  d.remaining = c.remaining;
  d.reset_after_s = static_cast<double>(c.reset_after_ms) / 1000.0;
  d.reset_at_s = static_cast<double>(now_ms + c.reset_after_ms) / 1000.0;
  if (!c.allowed) d.retry_after_s = d.reset_after_s;
  return d;
}

RateDecision Api::InvalidTokenLocal(const Call& call) {
  return rate_limiter_.Check("invalid:" + ClientIp(call), "invalid-token",
                             {options_.invalid_request_limit, 600.0}, NowMs());
}

void Api::RefuseInvalidTokenShared(const CallPtr& call) {
  std::string key = "i:";
  key.append(ClientIp(*call));
  deps_.shared_limits->Take({{std::move(key), options_.invalid_request_limit, 600'000}},
                            [this, call](std::optional<std::vector<limits::Count>> counts) {
                              RateDecision d;
                              if (!counts || counts->empty()) {
                                metrics::M().cluster_limit_fallbacks->Inc();
                                d = InvalidTokenLocal(*call);
                              } else {
                                d = DecisionOf(counts->back(), false, NowMs());
                              }
                              call->respond.Run([this, call, d] {
                                if (!d.allowed) return SendRateLimited(call, d);
                                call->Fail(ApiError::Unauthorized());
                              });
                            });
}

void Api::ApplyCommitted(const WriteBatch& b) {
  size_t inserted = 0;
  for (const Mutation& m : b) inserted += std::holds_alternative<mut::InsertMessage>(m);
  if (inserted) metrics::M().messages_persisted->Inc(inserted);
  applier_.Apply(b, deps_.writer->position());
}

bool Api::WriteQueueFull(const CallPtr& call) {
  if (deps_.writer->queue_depth() < options_.max_write_queue) return false;
  call->Fail(ApiError::Overloaded());
  return true;
}

void Api::Commit(const CallPtr& call, WriteBatch batch, std::function<void()> on_ok,
                 CommitQueue::Prepare prepare) {
  if (WriteQueueFull(call)) return;
  deps_.writer->Submit(
      std::move(batch),
      [this, call, on_ok = std::move(on_ok)](Status s, const WriteBatch& b) {
        if (!s.ok()) return call->Fail(StoreError(s));
        ApplyCommitted(b);
        if (options_.read_replicas && call->user)
          read_your_writes_.Wrote(call->user->id, deps_.writer->position());
        on_ok();
      },
      std::move(prepare));
}

void Api::CommitAndReply(const CallPtr& call, WriteBatch batch, unsigned status, std::string body) {
  Commit(call, std::move(batch), [call, status, body = std::move(body)]() mutable {
    call->Reply(status, std::move(body));
  });
}

void Api::CommitBuilt(const CallPtr& call, std::function<Built()> build) {
  if (WriteQueueFull(call)) return;
  auto out = std::make_shared<Built>();
  deps_.writer->SubmitBuilder(
      [out, build = std::move(build)](WriteBatch* batch) {
        try {
          *out = build();
        } catch (const std::exception& e) {
          spdlog::error("builder threw: {}", e.what());
          out->error = ApiError::Internal();
        }
        if (out->error) return Status::InvalidArgument("rejected");
        *batch = std::move(out->batch);
        return Status::OK();
      },
      [this, call, out](Status s, const WriteBatch& b) {
        if (out->error) return call->Fail(*out->error);
        if (!s.ok()) return call->Fail(StoreError(s));
        ApplyCommitted(b);
        if (options_.read_replicas && call->user && !b.empty())
          read_your_writes_.Wrote(call->user->id, deps_.writer->position());
        if (out->reply) return out->reply();
        if (out->status == 204) return call->NoContent();
        call->Reply(out->status, std::move(out->body));
      });
}

void Api::CommitWithStatus(WriteBatch batch, std::function<void(Status)> done) {
  deps_.writer->Submit(std::move(batch),
                       [this, done = std::move(done)](Status s, const WriteBatch& b) {
                         if (s.ok()) ApplyCommitted(b);
                         done(s);
                       });
}

void Api::SendRateLimited(const CallPtr& call, const RateDecision& d) {
  boost::json::object body{{"message", "You are being rate limited."},
                           {"retry_after", std::ceil(d.retry_after_s * 1000) / 1000},
                           {"global", d.global}};
  if (d.global) body["code"] = 0;
  net::Response res = call->MakeResponse(429, boost::json::serialize(body));
  res.set("Retry-After", fmt::format("{:.3f}", d.retry_after_s));
  if (d.global) res.set("X-RateLimit-Global", "true");
  res.set("X-RateLimit-Scope", d.global ? "global" : "user");
  call->Send(std::move(res));
}

std::string Api::ClientIp(const Call& call) const {
  const std::string& peer = call.respond.remote_ip();
  const auto& trusted = options_.trusted_proxies;
  if (trusted.empty() || std::find(trusted.begin(), trusted.end(), peer) == trusted.end())
    return peer;
  std::string_view fwd = call.req["X-Forwarded-For"];
  std::string_view last =
      fwd.substr(fwd.rfind(',') == std::string_view::npos ? 0 : fwd.rfind(',') + 1);
  while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
  while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
  return last.empty() ? peer : std::string(last);
}

bool Api::RetryAfterSync(const CallPtr& call, const ApiError& e) {
  if (!options_.cluster || call->synced) return false;
  const bool token_given = !call->req[http::field::authorization].empty();
  if (!(e.status == 403 || e.status == 404 || (e.status == 401 && token_given))) return false;
  call->synced = true;
  metrics::M().cluster_refusal_syncs->Inc();
  deps_.writer->Sync([this, call](Status s) {
    // On the writer thread: the request runs again elsewhere. If the log
    // could not be read, it runs on the State there is (and may refuse).
    if (!s.ok()) spdlog::warn("cluster: catching up before a refusal: {}", s.ToString());
    boost::asio::post(*deps_.blocking, [this, call] {
      call->user.reset();
      Dispatch(call);
    });
  });
  return true;
}

void Api::Read(const CallPtr& call, ReadPool::Read read) {
  if (!deps_.reads->Submit(std::move(read))) call->Fail(ApiError::Overloaded());
}

ApiError Api::StoreError(const Status& s) {
  if (s.IsUnavailable()) {
    // While the database is down every request fails: one line a second,
    // with how many it stands for, not one line per request.
    static std::atomic<int64_t> last_ms{0};
    static std::atomic<uint64_t> quiet{0};
    int64_t now = NowMs(), last = last_ms.load(std::memory_order_relaxed);
    if (now - last >= 1000 && last_ms.compare_exchange_strong(last, now)) {
      spdlog::warn("store unavailable ({} more since the last line): {}",
                   quiet.exchange(0, std::memory_order_relaxed), s.ToString());
    } else {
      quiet.fetch_add(1, std::memory_order_relaxed);
    }
    return ApiError::Overloaded();
  }
  spdlog::error("store failed: {}", s.ToString());
  return ApiError::Internal();
}

net::Response Call::MakeResponse(unsigned status, std::string body) const {
  net::Response res(static_cast<http::status>(status), req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "parley");
  if (!body.empty() || status != 204) res.set(http::field::content_type, "application/json");
  if (rate_limited) {
    res.set("X-RateLimit-Limit", std::to_string(rate.limit));
    res.set("X-RateLimit-Remaining", std::to_string(rate.remaining));
    res.set("X-RateLimit-Reset", fmt::format("{:.3f}", rate.reset_at_s));
    res.set("X-RateLimit-Reset-After", fmt::format("{:.3f}", rate.reset_after_s));
    res.set("X-RateLimit-Bucket", bucket);
  }
  res.body() = std::move(body);
  return res;
}

void Call::Reply(unsigned status, const boost::json::value& body) {
  Reply(status, boost::json::serialize(body));
}

void Call::Send(net::Response&& res) {
  if (replied_.exchange(true)) {
    spdlog::error("second reply to {} {} dropped", std::string(req.method_string()),
                  std::string(req.target()));
    return;
  }
  CountReply(res.result_int());
  respond(std::move(res));
}

void Call::CountReply(unsigned status) {
  auto& m = metrics::M();
  int64_t now = SteadyNs();
  if (start_ns) m.http_request_seconds->Observe(static_cast<double>(now - start_ns) / 1e9);
  if (!metrics) {
    m.http_unmatched_requests->Inc();
    return;
  }
  int cls = status >= 500 ? 3 : status >= 400 ? 2 : status >= 300 ? 1 : 0;
  metrics->by_class[cls]->Inc();
  if (status == 429) metrics->rate_limited->Inc();
  if (!metrics->is_create_message) return;
  if (status < 300) {
    m.messages_posted->Inc();
  } else if (status == 429) {
    m.messages_failed[2]->Inc();
  } else if (status == 503) {
    m.messages_failed[3]->Inc();
  } else if (status >= 500) {
    m.messages_failed[4]->Inc();
  } else if (status == 403 || status == 404 || status == 401) {
    m.messages_failed[1]->Inc();
  } else {
    m.messages_failed[0]->Inc();
  }
}

void Call::Reply(unsigned status, std::string body_json) {
  Send(MakeResponse(status, std::move(body_json)));
}

void Call::NoContent() {
  Send(MakeResponse(204, ""));
}

void Call::Fail(const ApiError& e) {
  if (api != nullptr && !synced && api->RetryAfterSync(shared_from_this(), e)) return;
  Send(MakeResponse(e.status, e.Body()));
}

bool Call::ParseBody(boost::json::object* out) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(req.body(), ec);
  if (ec || !v.is_object()) {
    Fail(ApiError::InvalidJson());
    return false;
  }
  *out = std::move(v.as_object());
  return true;
}

bool Call::ParseArrayBody(boost::json::array* out) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(req.body(), ec);
  if (ec || !v.is_array()) {
    Fail(ApiError::InvalidJson());
    return false;
  }
  *out = std::move(v.as_array());
  return true;
}

std::string Call::QueryParam(std::string_view name) const {
  auto r = boost::urls::parse_query(query);
  if (!r) return "";
  for (auto p : *r)
    if (p.key == name) return std::string(p.value);
  return "";
}

bool Call::HasQueryParam(std::string_view name) const {
  auto r = boost::urls::parse_query(query);
  if (!r) return false;
  for (auto p : *r)
    if (p.key == name) return true;
  return false;
}

}  // namespace parley
