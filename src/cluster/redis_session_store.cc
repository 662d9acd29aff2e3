#include "cluster/redis_session_store.h"

#include <fmt/format.h>

#include "cluster/bus_codec.h"
#include "util/clock.h"
#include "util/field_codec.h"

namespace parley::cluster {
namespace {

struct Schema {
  template <class A>
  static void Visit(A& a, events::SessionCheckpoint& c) {
    a(c.session_id, c.node, c.incarnation, c.user_id, c.token_tag, c.intents, c.shard_id,
      c.shard_count, c.large_threshold, c.bot, c.seq, c.position, c.position_batches, c.journal,
      c.handed_off, c.guilds, c.saved_ms);
  }
};

constexpr uint8_t kCheckpointVersion = 3;

std::string SessionKey(uint64_t session_id) {
  return fmt::format("parley:session:{:016x}", session_id);
}
std::string JournalKey(int node, uint64_t incarnation) {
  return fmt::format("parley:journal:{}:{:016x}", node, incarnation);
}

}  // namespace

std::string EncodeCheckpoint(const events::SessionCheckpoint& c) {
  std::string out;
  out.push_back(static_cast<char>(kCheckpointVersion));
  FieldWriter<Schema> w(&out);
  events::SessionCheckpoint copy = c;
  Schema::Visit(w, copy);
  return out;
}

bool DecodeCheckpoint(std::string_view bytes, events::SessionCheckpoint* out) {
  *out = events::SessionCheckpoint();
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != kCheckpointVersion) return false;
  FieldReader<Schema> r(bytes.substr(1));
  Schema::Visit(r, *out);
  return r.ok() && r.at_end() && out->shard_count >= 1 && out->shard_id < out->shard_count;
}

RedisSessionStore::RedisSessionStore(Options options, std::function<bool(int)> alive)
    : options_(std::move(options)), alive_(std::move(alive)), redis_(options_.host, options_.port) {
  reaper_ = std::thread([this] { Reap(); });
}

RedisSessionStore::~RedisSessionStore() {
  std::multimap<uint64_t, Pending> left;
  {
    MutexLock l(&mu_);
    stopping_ = true;
    left.swap(pending_);
  }
  cv_.SignalAll();
  reaper_.join();
  for (auto& [_, p] : left) p.done(false, false);
}

namespace {
// Replaces the checkpoint only if it is absent or the caller's own (its
// value starts with the caller's "<node>:<incarnation>|"), or, taking over,
// still the previous owner's (ARGV[3], "" when not taking over).
// 1: stored, 0: another's.
constexpr std::string_view kSaveScript = R"(
local v = redis.call('GET', KEYS[1])
local function owned(prefix)
  return prefix ~= '' and string.sub(v, 1, string.len(prefix)) == prefix
end
if not v or owned(ARGV[2]) or owned(ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
  return 1
end
return 0)";

std::string Owner(int node, uint64_t incarnation) {
  return fmt::format("{}:{:016x}|", node, incarnation);
}
}  // namespace

void RedisSessionStore::Save(const events::SessionCheckpoint& c, int ttl_ms,
                             const events::SessionCheckpoint* replacing,
                             std::function<void(Saved)> done) {
  std::string owner = Owner(c.node, c.incarnation);
  std::string value = owner + EncodeCheckpoint(c);
  std::string previous = replacing ? Owner(replacing->node, replacing->incarnation) : "";
  redis_.Run({"EVAL", std::string(kSaveScript), "1", SessionKey(c.session_id), std::move(value),
              std::move(owner), std::move(previous), std::to_string(std::max(1, ttl_ms))},
             [done = std::move(done)](const redisReply* r) {
               if (r == nullptr || r->type != REDIS_REPLY_INTEGER) return done(Saved::kFailed);
               done(r->integer == 1 ? Saved::kStored : Saved::kNotOurs);
             });
}

void RedisSessionStore::Load(
    uint64_t session_id,
    std::function<void(bool ok, std::optional<events::SessionCheckpoint>)> done) {
  redis_.Run({"GET", SessionKey(session_id)}, [done = std::move(done)](const redisReply* r) {
    if (r == nullptr || r->type == REDIS_REPLY_ERROR) return done(false, std::nullopt);
    if (r->type == REDIS_REPLY_NIL) return done(true, std::nullopt);
    events::SessionCheckpoint c;
    std::string_view v(r->str, r->len);
    const size_t bar = v.find('|');
    if (r->type != REDIS_REPLY_STRING || bar == std::string_view::npos ||
        !DecodeCheckpoint(v.substr(bar + 1), &c))
      return done(true, std::nullopt);  // unreadable: as good as none
    done(true, std::move(c));
  });
}

void RedisSessionStore::Journal(events::JournalEntry entry, std::function<void(bool ok)> done) {
  std::string bytes;
  EncodeEventsMessage(options_.node_id, entry.events, &bytes);
  const std::string key = JournalKey(options_.node_id, options_.incarnation);
  redis_.Run({"XADD", key, "MAXLEN", "~", std::to_string(options_.journal_max),
              fmt::format("0-{}", entry.index), "p", std::to_string(entry.after_position), "b",
              std::to_string(entry.after_batches), "t", std::to_string(entry.at_ms), "e",
              std::move(bytes)},
             [done = std::move(done)](const redisReply* r) {
               done(r != nullptr && r->type == REDIS_REPLY_STRING);
             });
  redis_.Run({"PEXPIRE", key, std::to_string(options_.journal_ttl_ms)}, nullptr);
}

void RedisSessionStore::ReadJournal(
    int node, uint64_t incarnation, uint64_t after_index, uint32_t earlier,
    std::function<void(bool ok, std::vector<events::JournalEntry>)> done) {
  const std::string key = JournalKey(node, incarnation);
  constexpr int kMax = 10000;  // more after a checkpoint than this: op 9
  // EXISTS first: a journal that was there (after_index > 0) and is gone
  // (Redis restarted) cannot say what was delivered.
  auto exists = std::make_shared<bool>(false);
  redis_.Run({"EXISTS", key}, [exists](const redisReply* r) {
    *exists = r != nullptr && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  });
  const uint64_t from = after_index > earlier ? after_index - earlier : 0;
  const size_t max = kMax + static_cast<size_t>(after_index - from);
  redis_.Run({"XRANGE", key, fmt::format("(0-{}", from), "+", "COUNT", std::to_string(max)},
             [done = std::move(done), exists, after_index, max](const redisReply* r) {
               std::vector<events::JournalEntry> out;
               if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return done(false, {});
               if (r->elements >= max) return done(false, {});
               if (after_index > 0 && !*exists) return done(false, {});
               uint64_t expect = after_index + 1;
               for (size_t i = 0; i < r->elements; ++i) {
                 const redisReply* e = r->element[i];
                 if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) return done(false, {});
                 std::string_view id(e->element[0]->str, e->element[0]->len);
                 if (!id.starts_with("0-")) return done(false, {});
                 uint64_t index = std::strtoull(std::string(id.substr(2)).c_str(), nullptr, 10);
                 if (index > after_index && index != expect++)
                   return done(false, {});  // a hole: trimmed or lost
                 events::JournalEntry je;
                 je.index = index;
                 const redisReply* f = e->element[1];
                 if (f->type != REDIS_REPLY_ARRAY) return done(false, {});
                 bool has_events = false;
                 for (size_t k = 0; k + 1 < f->elements; k += 2) {
                   std::string_view name(f->element[k]->str, f->element[k]->len);
                   std::string_view value(f->element[k + 1]->str, f->element[k + 1]->len);
                   if (name == "p") {
                     je.after_position = std::strtoull(std::string(value).c_str(), nullptr, 10);
                   } else if (name == "b") {
                     je.after_batches = static_cast<uint32_t>(
                         std::strtoul(std::string(value).c_str(), nullptr, 10));
                   } else if (name == "t") {
                     je.at_ms = std::strtoll(std::string(value).c_str(), nullptr, 10);
                   } else if (name == "e") {
                     BusMessage m;
                     if (!DecodeBusMessage(value, &m).ok() || m.kind != BusMessage::Kind::kEvents)
                       return done(false, {});
                     je.events = std::move(m.events);
                     has_events = true;
                   }
                 }
                 if (!has_events) return done(false, {});
                 out.push_back(std::move(je));
               }
               done(true, std::move(out));
             });
}

void RedisSessionStore::RequestHandoff(int node, uint64_t session_id, uint64_t seq, int timeout_ms,
                                       std::function<void(bool answered, bool ok)> done) {
  Bus* bus = bus_.load();
  if (bus == nullptr) return done(false, false);
  {
    MutexLock l(&mu_);
    pending_.emplace(session_id, Pending{node, SteadyMs() + timeout_ms, std::move(done)});
  }
  cv_.SignalAll();
  bus->PublishHandoff(node, session_id, seq, std::nullopt);
}

void RedisSessionStore::OnHandoffRequest(int from, int to, uint64_t session_id, uint64_t seq) {
  if (to != options_.node_id || !handler_) return;
  handler_(session_id, seq, [this, from, session_id, seq](bool ok) {
    if (Bus* bus = bus_.load()) bus->PublishHandoff(from, session_id, seq, ok);
  });
}

void RedisSessionStore::OnHandoffDone(int from, int to, uint64_t session_id, bool ok) {
  if (to != options_.node_id) return;
  std::vector<std::function<void(bool, bool)>> done;
  {
    MutexLock l(&mu_);
    auto [b, e] = pending_.equal_range(session_id);
    for (auto it = b; it != e;) {
      if (it->second.node == from) {
        done.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : done) d(true, ok);
}

void RedisSessionStore::Reap() {
  mu_.Lock();
  while (!stopping_) {
    cv_.WaitFor(std::chrono::milliseconds(50));
    const int64_t now = SteadyMs();
    std::vector<std::function<void(bool, bool)>> late;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline_ms <= now) {
        late.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (late.empty()) continue;
    mu_.Unlock();
    for (auto& d : late) d(false, false);
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace parley::cluster
