// DispatchGenerator: deterministic, Discord-like MESSAGE_CREATE dispatches
// for tests and benchmarks of the gateway's encoders (header-only; not part
// of the server).
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace parley::test_support {

// Deterministic, Discord-like MESSAGE_CREATE dispatches: 40 authors of the
// same shape, chat-like content drawn from a Zipf-ish vocabulary, increasing
// snowflakes, timestamps and sequence numbers.
class DispatchGenerator {
 public:
  std::string Next() {
    ms_ += 100 + Rand() % 30000;
    const uint64_t id = Snowflake(ms_);
    const User& u = users_[Rand() % users_.size()];
    std::string content = Content();
    char ts[96];
    Timestamp(ms_, ts, sizeof ts);
    std::string s = "{\"t\":\"MESSAGE_CREATE\",\"s\":";
    s += std::to_string(++seq_);
    s += ",\"op\":0,\"d\":{\"type\":0,\"tts\":false,\"timestamp\":\"";
    s += ts;
    s += "\",\"pinned\":false,\"mentions\":[],\"mention_roles\":[],\"mention_everyone\":false,";
    s += "\"member\":{\"roles\":[" + u.roles + "],\"premium_since\":null,\"pending\":false,";
    s += "\"nick\":" + u.nick + ",\"mute\":false,\"joined_at\":\"" + u.joined_at + "\",";
    s += "\"flags\":0,\"deaf\":false,\"communication_disabled_until\":null,\"avatar\":null},";
    s += "\"id\":\"";
    s += std::to_string(id);
    s += "\",\"flags\":0,\"embeds\":[],\"edited_timestamp\":null,\"content\":\"" + content;
    s += "\",\"components\":[],\"channel_id\":\"" + channel_id_;
    s += "\",\"author\":{\"username\":\"" + u.name + "\",\"public_flags\":";
    s += std::to_string(u.public_flags);
    s += ",\"id\":\"" + u.id + "\",\"global_name\":" + u.global_name;
    s += ",\"discriminator\":\"0\",\"avatar\":" + u.avatar;
    s += "},\"attachments\":[],\"guild_id\":\"" + guild_id_ + "\"}}";
    return s;
  }

  DispatchGenerator() {
    const uint64_t created = ms_ - 86400000ull * 400;
    guild_id_ = std::to_string(Snowflake(created));
    channel_id_ = std::to_string(Snowflake(created + 1));
    const char* syl[] = {"ka", "ri", "to", "mo", "na", "zel", "dra", "ven", "lu", "sha",
                         "qu", "ix", "or", "an", "el", "bo",  "tri", "xo",  "py", "gar"};
    for (int i = 0; i < 40; ++i) {
      User u;
      int n = 2 + Rand() % 3;
      for (int k = 0; k < n; ++k) u.name += syl[Rand() % 20];
      if (Rand() % 3 == 0) u.name += std::to_string(Rand() % 10000);
      if (Rand() % 4 == 0) u.name += "_";
      u.id = std::to_string(Snowflake(created - Rand() % (86400000ull * 2000)));
      u.avatar = Rand() % 3 ? Quote(Hex(32)) : "null";
      u.global_name = Rand() % 2 ? Quote(u.name.substr(0, 1) + "_" + u.name) : "null";
      u.nick = Rand() % 4 == 0 ? Quote(u.name + " (mod)") : "null";
      int roles = Rand() % 3;
      for (int r = 0; r < roles; ++r) {
        if (r) u.roles += ",";
        u.roles += Quote(std::to_string(Snowflake(created + 1000 + Rand() % 8 * 1000)));
      }
      u.public_flags = Rand() % 5 == 0 ? 64 << (Rand() % 3) : 0;
      char ts[96];
      Timestamp(created + Rand() % (86400000ull * 390), ts, sizeof ts);
      u.joined_at = ts;
      users_.push_back(u);
    }
  }

 private:
  struct User {
    std::string name, id, avatar, global_name, nick, roles, joined_at;
    int public_flags = 0;
  };

  uint32_t Rand() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return static_cast<uint32_t>(rng_ >> 11);
  }
  uint64_t Snowflake(uint64_t ms) {
    return ((ms - 1420070400000ull) << 22) | (Rand() % 4) << 17 | (Rand() % 4) << 12 |
           (Rand() % 4096);
  }
  static std::string Quote(const std::string& s) {
    std::string q = "\"";
    q += s;
    q += '"';
    return q;
  }
  std::string Hex(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "0123456789abcdef"[Rand() % 16];
    return s;
  }
  static void Timestamp(uint64_t ms, char* buf, size_t size) {
    time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             static_cast<int>(ms % 1000));
  }
  std::string Content() {
    static const char* kWords[] = {
        "the",      "i",          "to",       "a",       "and",     "it",       "you",
        "is",       "that",       "of",       "in",      "lol",     "for",      "this",
        "just",     "on",         "but",      "so",      "not",     "have",     "be",
        "my",       "me",         "was",      "yeah",    "with",    "like",     "do",
        "what",     "we",         "if",       "can",     "no",      "are",      "get",
        "they",     "think",      "at",       "its",     "all",     "one",      "ok",
        "there",    "know",       "up",       "good",    "how",     "would",    "out",
        "now",      "dont",       "im",       "about",   "or",      "time",     "when",
        "people",   "from",       "go",       "some",    "yes",     "really",   "see",
        "oh",       "then",       "make",     "got",     "game",    "right",    "need",
        "want",     "also",       "because",  "still",   "thanks",  "work",     "only",
        "day",      "new",        "any",      "going",   "way",     "much",     "more",
        "server",   "bot",        "here",     "play",    "did",     "thing",    "bad",
        "sure",     "maybe",      "build",    "first",   "last",    "why",      "who",
        "well",     "even",       "though",   "pretty",  "nice",    "anyone",   "tonight",
        "tomorrow", "update",     "patch",    "release", "discord", "channel",  "voice",
        "stream",   "watch",      "friends",  "looks",   "fine",    "broken",   "again",
        "issue",    "fixed",      "merge",    "review",  "someone", "help",     "question",
        "weird",    "error",      "crash",    "login",   "works",   "test",     "try",
        "restart",  "config",     "deploy",   "prod",    "meeting", "lunch",    "coffee",
        "sleep",    "weekend",    "monday",   "friday",  "match",   "ranked",   "team",
        "win",      "lost",       "gg",       "wp",      "haha",    "omg",      "wait",
        "what's",   "isn't",      "can't",    "won't",   "idk",     "tbh",      "imo",
        "btw",      "afk",        "brb",      "ping",    "latency", "map",      "season",
        "event",    "giveaway",   "role",     "admin",   "mod",     "rules",    "welcome",
        "hello",    "hey",        "everyone", "guys",    "love",    "hate",     "music",
        "song",     "movie",      "episode",  "anime",   "book",    "food",     "pizza",
        "cat",      "dog",        "picture",  "video",   "link",    "download", "install",
        "version",  "mobile",     "desktop",  "browser", "linux",   "windows",  "mac",
        "python",   "javascript", "rust",     "code",    "bug",     "feature",  "docs",
        "api",      "token",      "rate",     "limit",   "message", "reply",    "thread",
        "emoji",    "sticker",    "nitro",    "boost"};
    constexpr uint32_t kN = sizeof(kWords) / sizeof(kWords[0]);
    std::string s;
    int words = 1 + Rand() % 4 == 0 ? 10 + Rand() % 40 : 1 + Rand() % 12;
    for (int w = 0; w < words; ++w) {
      if (w) s += Rand() % 12 == 0 ? ", " : " ";
      uint32_t r = Rand() % kN, r2 = Rand() % kN;
      uint32_t idx = static_cast<uint32_t>(static_cast<uint64_t>(r) * r2 / kN);  // Zipf-ish
      std::string word = kWords[idx];
      if (w == 0 && Rand() % 2) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      if (Rand() % 40 == 0) word = std::to_string(Rand() % 2000);
      if (Rand() % 80 == 0) word = std::string("https://example.com/") + Hex(8);
      if (Rand() % 60 == 0) word = "<@" + users_[Rand() % users_.size()].id + ">";
      s += word;
    }
    const char* ends[] = {"", "", "", "?", "!", ".", " :)", " 😂", "..."};
    s += ends[Rand() % 9];
    return s;
  }

  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
  uint64_t ms_ = 1795840439668ull;  // 2026-11-28T04:33:59.668Z
  uint64_t seq_ = 41;
  std::string guild_id_, channel_id_;
  std::vector<User> users_;
};

}  // namespace parley::test_support
