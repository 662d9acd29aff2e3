// BodyBudget: the bytes of request bodies held in memory at once, for the
// whole process. A request whose body is larger than the per-connection
// allowance (HttpServerOptions::body_in_memory) takes its declared size
// from the budget before any of it is read, and gives it back when its
// handler has answered; when the budget cannot cover it, the request is
// refused (503) instead of read. So unfinished uploads on many connections
// hold at most the budget, not connections x --body-limit.
//
// Thread-safe (one atomic); no lock.
#pragma once

#include <atomic>
#include <cstddef>

namespace parley::net {

class BodyBudget {
 public:
  // capacity 0: no budget (every TryTake succeeds and nothing is counted).
  explicit BodyBudget(size_t capacity) : capacity_(capacity) {}

  // Takes `bytes` if that many are left; else takes nothing and returns
  // false.
  bool TryTake(size_t bytes) {
    if (capacity_ == 0) return true;
    size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > capacity_ - used) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }

  // REQUIRES: `bytes` were taken by a TryTake that returned true.
  void Give(size_t bytes) {
    if (capacity_ != 0) used_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  size_t capacity() const { return capacity_; }
  size_t in_use() const { return used_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::atomic<size_t> used_{0};
};

}  // namespace parley::net
