// RedisSessionStore: the cluster's SessionStore (events/session_store.h) on
// Redis. Checkpoints are one key per session (`parley:session:<id>`, with
// the resume window as TTL; the value starts with "<node>:<incarnation>|"
// so that one Lua script decides whose it is); each process's journal is one stream
// (`parley:journal:<node>:<incarnation>`, entry ids 0-1, 0-2, ... so that a
// hole shows); handoff requests and answers go over the bus. Commands run
// on a RedisClient of its own (one connection, one thread).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "cluster/bus.h"
#include "cluster/redis_client.h"
#include "events/session_store.h"
#include "util/mutex.h"

namespace parley::cluster {

// The checkpoint's bytes (FieldWriter, util/field_codec.h); decoding checks
// every field (false: malformed).
std::string EncodeCheckpoint(const events::SessionCheckpoint& c);
bool DecodeCheckpoint(std::string_view bytes, events::SessionCheckpoint* out);

class RedisSessionStore : public events::SessionStore {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 6379;
    int node_id = 0;
    uint64_t incarnation = 0;
    int journal_ttl_ms = 240000;  // the resume window and a margin
    size_t journal_max = 100000;  // entries kept per journal (older: op 9)
  };
  // `alive(node)`: whether node `node` was heard lately (PresenceSync).
  // REQUIRES: `bus` outlives the store (it may be set later: set_bus).
  RedisSessionStore(Options options, std::function<bool(int)> alive);
  ~RedisSessionStore() override;
  void set_bus(Bus* bus) { bus_.store(bus); }

  int node_id() const override { return options_.node_id; }
  uint64_t incarnation() const override { return options_.incarnation; }
  void Save(const events::SessionCheckpoint& c, int ttl_ms,
            const events::SessionCheckpoint* replacing, std::function<void(Saved)> done) override;
  void Load(uint64_t session_id,
            std::function<void(bool ok, std::optional<events::SessionCheckpoint>)> done) override;
  void Journal(events::JournalEntry entry, std::function<void(bool ok)> done) override;
  void ReadJournal(int node, uint64_t incarnation, uint64_t after_index, uint32_t earlier,
                   std::function<void(bool ok, std::vector<events::JournalEntry>)> done) override;
  void RequestHandoff(int node, uint64_t session_id, uint64_t seq, int timeout_ms,
                      std::function<void(bool answered, bool ok)> done) override;
  bool NodeAlive(int node) const override { return alive_(node); }
  void SetHandoffHandler(HandoffHandler handler) override { handler_ = std::move(handler); }

  // From the bus (BusLink).
  void OnHandoffRequest(int from, int to, uint64_t session_id, uint64_t seq);
  void OnHandoffDone(int from, int to, uint64_t session_id, bool ok);

 private:
  struct Pending {
    int node = 0;
    int64_t deadline_ms = 0;
    std::function<void(bool answered, bool ok)> done;
  };
  void Reap();

  const Options options_;
  const std::function<bool(int)> alive_;
  std::atomic<Bus*> bus_{nullptr};
  HandoffHandler handler_;
  RedisClient redis_;

  Mutex mu_;
  CondVar cv_{&mu_};
  std::multimap<uint64_t, Pending> pending_ GUARDED_BY(mu_);  // by session id
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

}  // namespace parley::cluster
