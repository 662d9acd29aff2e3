#include "store/read_pool.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

namespace parley {

ReadPool::ReadPool(StoreBackend* store, Options options)
    : store_(store), max_queued_(std::max<size_t>(1, options.max_queued)) {
  int n = std::max(1, options.threads);
  threads_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this, i] {
      std::string name = "parley-reader-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      Run();
    });
  }
}

ReadPool::~ReadPool() {
  Stop();
}

bool ReadPool::Submit(Read read) {
  MutexLock l(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(read));
  cv_.Signal();
  return true;
}

void ReadPool::Run() {
  for (;;) {
    Read read;
    {
      MutexLock l(&mu_);
      while (!stopping_ && queue_.empty()) cv_.Wait();
      if (queue_.empty()) return;  // stopping, and everything is done
      read = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      read(*store_);
    } catch (const std::exception& e) {
      // A read must finish its request itself; one that throws is a bug,
      // but it must not take the pool thread with it.
      spdlog::error("store read threw: {}", e.what());
    }
  }
}

void ReadPool::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  for (std::thread& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
}

size_t ReadPool::queued() const {
  MutexLock l(&mu_);
  return queue_.size();
}

}  // namespace parley
