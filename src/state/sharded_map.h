// ShardedMap: a hash map split into shards, each behind its own
// reader-writer lock, so that threads reading different keys never share a
// lock. Values are copied out; store shared_ptrs for large values.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <unordered_map>

#include "util/mutex.h"

namespace parley {

template <class K, class V, class Hash = std::hash<K>, size_t kShards = 32>
class ShardedMap {
 public:
  std::optional<V> Get(const K& k) const {
    const Shard& s = ShardFor(k);
    ReaderLock lock(&s.mu);
    auto it = s.map.find(k);
    if (it == s.map.end()) return std::nullopt;
    return it->second;
  }
  bool Contains(const K& k) const {
    const Shard& s = ShardFor(k);
    ReaderLock lock(&s.mu);
    return s.map.count(k) != 0;
  }
  void Put(const K& k, V v) {
    Shard& s = ShardFor(k);
    WriterLock lock(&s.mu);
    s.map.insert_or_assign(k, std::move(v));
  }
  // Inserts only if absent; returns whether it inserted.
  bool PutIfAbsent(const K& k, V v) {
    Shard& s = ShardFor(k);
    WriterLock lock(&s.mu);
    return s.map.try_emplace(k, std::move(v)).second;
  }
  bool Erase(const K& k) {
    Shard& s = ShardFor(k);
    WriterLock lock(&s.mu);
    return s.map.erase(k) != 0;
  }
  // Runs f(V&) under the shard's write lock, creating V{} if absent.
  template <class F>
  void Update(const K& k, F&& f) {
    Shard& s = ShardFor(k);
    WriterLock lock(&s.mu);
    f(s.map[k]);
  }
  // Runs f(const V&) under the shard's read lock if the key exists; returns
  // whether it did.
  template <class F>
  bool Read(const K& k, F&& f) const {
    const Shard& s = ShardFor(k);
    ReaderLock lock(&s.mu);
    auto it = s.map.find(k);
    if (it == s.map.end()) return false;
    f(it->second);
    return true;
  }
  // Visits every entry, one shard at a time (not a consistent snapshot).
  template <class F>
  void ForEach(F&& f) const {
    for (const Shard& s : shards_) {
      ReaderLock lock(&s.mu);
      for (const auto& [k, v] : s.map) f(k, v);
    }
  }
  // Erases every entry for which pred(k, v) is true.
  template <class F>
  void EraseIf(F&& pred) {
    for (Shard& s : shards_) {
      WriterLock lock(&s.mu);
      std::erase_if(s.map, [&](const auto& kv) { return pred(kv.first, kv.second); });
    }
  }
  size_t Size() const {
    size_t n = 0;
    for (const Shard& s : shards_) {
      ReaderLock lock(&s.mu);
      n += s.map.size();
    }
    return n;
  }

 private:
  struct alignas(64) Shard {
    mutable SharedMutex mu;
    std::unordered_map<K, V, Hash> map GUARDED_BY(mu);
  };
  Shard& ShardFor(const K& k) { return shards_[Mix(Hash{}(k)) % kShards]; }
  const Shard& ShardFor(const K& k) const { return shards_[Mix(Hash{}(k)) % kShards]; }
  // Snowflakes hash to themselves; their low bits are an increment, so mix.
  static size_t Mix(size_t h) { return (h ^ (h >> 22) ^ (h >> 41)) * 0x9E3779B97F4A7C15ull >> 32; }
  std::array<Shard, kShards> shards_;
};

}  // namespace parley
