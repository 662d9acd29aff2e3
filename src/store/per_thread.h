// PerThread<T>: one T per thread that uses it (a store's read connections),
// made on first use and kept until the PerThread is destroyed or cleared.
// After the first use a thread finds its own T through a one-entry
// thread-local cache, without a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "util/mutex.h"
#include "util/status.h"

namespace parley {

template <class T>
class PerThread {
 public:
  PerThread() : uid_(NextUid()) {}
  PerThread(const PerThread&) = delete;
  PerThread& operator=(const PerThread&) = delete;

  // Sets *out to the calling thread's T, calling make(std::unique_ptr<T>*)
  // to create it the first time; a failed make leaves nothing behind (the
  // next call tries again) and its Status is returned.
  template <class Make>
  Status Get(Make&& make, T** out) {
    Cache& cache = LocalCache();
    if (cache.uid == uid_) {
      *out = cache.value;
      return Status::OK();
    }
    MutexLock l(&mu_);
    // A thread id is reused only after its thread has ended, so the T
    // found here is never in use by another thread.
    std::unique_ptr<T>& slot = values_[std::this_thread::get_id()];
    if (slot == nullptr) {
      Status s = make(&slot);
      if (!s.ok() || slot == nullptr) {
        values_.erase(std::this_thread::get_id());
        return s.ok() ? Status::IOError("no per-thread value") : s;
      }
    }
    cache = Cache{uid_, slot.get()};
    *out = slot.get();
    return Status::OK();
  }

  // Destroys every T. REQUIRES: no thread uses one (or calls Get) now.
  void Clear() {
    MutexLock l(&mu_);
    values_.clear();
  }

 private:
  struct Cache {
    uint64_t uid = 0;
    T* value = nullptr;
  };
  // Uids are never reused, so an entry a destroyed PerThread left in a
  // thread's cache can never match a new one.
  static uint64_t NextUid() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  static Cache& LocalCache() {
    thread_local Cache cache;
    return cache;
  }

  const uint64_t uid_;
  Mutex mu_;
  std::unordered_map<std::thread::id, std::unique_ptr<T>> values_ GUARDED_BY(mu_);
};

}  // namespace parley
