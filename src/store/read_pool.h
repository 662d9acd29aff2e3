// ReadPool: the threads on which store reads run, so that a slow query (a
// cold page, a database server far away) never stalls an event loop's
// sockets. A handler submits a read; the read runs on a pool thread and
// finishes the request from there (replies are handed back to the
// connection's own loop by net::Responder).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"
#include "util/mutex.h"

namespace parley {

class ReadPool {
 public:
  using Read = std::function<void(StoreBackend& store)>;
  struct Options {
    int threads = 4;
    // Reads waiting for a thread beyond this are refused (Submit returns
    // false) rather than queued without bound.
    size_t max_queued = 10000;
  };

  // REQUIRES: `store` outlives the pool; its reads are thread-safe.
  ReadPool(StoreBackend* store, Options options);
  ~ReadPool();  // Stop()
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // Runs `read` on a pool thread, in submission order as threads free up.
  // Returns false, without running it, when max_queued reads are waiting
  // or the pool is stopped: the caller answers 503.
  bool Submit(Read read);

  // Runs every read already submitted, then ends the threads. Idempotent.
  void Stop();

  size_t queued() const;

 private:
  void Run();

  StoreBackend* const store_;
  const size_t max_queued_;
  mutable Mutex mu_;
  CondVar cv_{&mu_};
  std::deque<Read> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace parley
