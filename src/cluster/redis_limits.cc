#include "cluster/redis_limits.h"

#include <openssl/evp.h>

#include <memory>

namespace parley::cluster {
namespace {

constexpr std::string_view kTakeScript = R"(
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local ms = tonumber(ARGV[2 * i])
  local c = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ms)
    ttl = ms
  end
  if c > limit then
    redis.call('DECR', key)
    table.insert(out, 0) table.insert(out, 0) table.insert(out, ttl)
    return out
  end
  table.insert(out, 1) table.insert(out, limit - c) table.insert(out, ttl)
end
return out)";

constexpr std::string_view kPeekScript = R"(
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
return {c, ttl})";

std::string Sha1Hex(std::string_view s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_sha1(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    const unsigned char b = d[i];
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

std::string Key(const std::string& k) {
  return "parley:limit:" + k;
}

}  // namespace

RedisLimits::RedisLimits(std::string host, int port) : redis_(std::move(host), port) {}

void RedisLimits::Eval(const std::string& script, std::atomic<bool>* known,
                       std::vector<std::string> rest, RedisClient::Callback done) {
  static const std::string take_sha = Sha1Hex(kTakeScript), peek_sha = Sha1Hex(kPeekScript);
  const std::string& sha = script == kTakeScript ? take_sha : peek_sha;
  std::vector<std::string> argv;
  argv.reserve(rest.size() + 2);
  const bool by_sha = known->load(std::memory_order_relaxed);
  argv.emplace_back(by_sha ? "EVALSHA" : "EVAL");
  argv.push_back(by_sha ? sha : script);
  for (std::string& a : rest) argv.push_back(std::move(a));
  if (!by_sha) {
    redis_.Run(std::move(argv), [known, done = std::move(done)](const redisReply* r) {
      if (r != nullptr && r->type != REDIS_REPLY_ERROR) known->store(true);
      done(r);
    });
    return;
  }
  // NOSCRIPT (Redis restarted): once more with the text.
  auto again = std::make_shared<std::vector<std::string>>(argv);
  (*again)[0] = "EVAL";
  (*again)[1] = script;
  redis_.Run(std::move(argv), [this, known, again, done = std::move(done)](const redisReply* r) {
    if (r != nullptr && r->type == REDIS_REPLY_ERROR &&
        std::string_view(r->str, r->len).starts_with("NOSCRIPT")) {
      known->store(false);
      redis_.Run(std::move(*again), done);
      return;
    }
    done(r);
  });
}

void RedisLimits::Take(std::vector<limits::Window> windows,
                       std::function<void(std::optional<std::vector<limits::Count>>)> done) {
  std::vector<std::string> rest;
  rest.push_back(std::to_string(windows.size()));
  for (const limits::Window& w : windows) rest.push_back(Key(w.key));
  for (const limits::Window& w : windows) {
    rest.push_back(std::to_string(std::max(1, w.limit)));
    rest.push_back(std::to_string(std::max<int64_t>(1, w.length_ms)));
  }
  std::vector<int> limits_of;
  for (const limits::Window& w : windows) limits_of.push_back(std::max(1, w.limit));
  Eval(std::string(kTakeScript), &take_known_, std::move(rest),
       [done = std::move(done), limits_of](const redisReply* r) {
         if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0 ||
             r->elements / 3 > limits_of.size())
           return done(std::nullopt);
         std::vector<limits::Count> out;
         for (size_t i = 0; i < r->elements; i += 3) {
           for (size_t k = i; k < i + 3; ++k)
             if (r->element[k]->type != REDIS_REPLY_INTEGER) return done(std::nullopt);
           limits::Count c;
           c.allowed = r->element[i]->integer == 1;
           c.limit = limits_of[i / 3];
           c.remaining = static_cast<int>(r->element[i + 1]->integer);
           c.reset_after_ms = r->element[i + 2]->integer;
           out.push_back(c);
         }
         done(std::move(out));
       });
}

void RedisLimits::Peek(limits::Window window,
                       std::function<void(std::optional<limits::Count>)> done) {
  const int limit = std::max(1, window.limit);
  const int64_t length = window.length_ms;
  Eval(std::string(kPeekScript), &peek_known_, {"1", Key(window.key)},
       [done = std::move(done), limit, length](const redisReply* r) {
         if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
             r->element[0]->type != REDIS_REPLY_INTEGER ||
             r->element[1]->type != REDIS_REPLY_INTEGER)
           return done(std::nullopt);
         limits::Count c;
         const int64_t used = r->element[0]->integer;
         c.limit = limit;
         c.remaining = static_cast<int>(std::max<int64_t>(0, limit - used));
         c.allowed = c.remaining > 0;
         c.reset_after_ms = r->element[1]->integer > 0 ? r->element[1]->integer : length;
         done(c);
       });
}

}  // namespace parley::cluster
