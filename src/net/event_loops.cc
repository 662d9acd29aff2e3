#include "net/event_loops.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <string>

namespace parley::net {

namespace {
thread_local int current_loop_index = -1;
}

EventLoops::EventLoops(int n) {
  for (int i = 0; i < n; ++i) {
    auto l = std::make_unique<Loop>();
    // Concurrency hint 1: each context is run by exactly one thread (posting
    // from other threads stays safe).
    l->ctx = std::make_unique<boost::asio::io_context>(1);
    l->work.emplace(l->ctx->get_executor());
    loops_.push_back(std::move(l));
  }
}

EventLoops::~EventLoops() {
  Stop();
  Join();
}

void EventLoops::Post(int i, std::function<void()> fn) {
  Loop* l = loops_[i].get();
  bool schedule;
  {
    MutexLock lock(&l->mu);
    l->inbox.push_back(std::move(fn));
    schedule = !l->drain_scheduled;
    l->drain_scheduled = true;
  }
  if (schedule) boost::asio::post(*l->ctx, [l] { Drain(l); });
}

void EventLoops::Drain(Loop* l) {
  std::vector<std::function<void()>> items;
  {
    MutexLock lock(&l->mu);
    items.swap(l->inbox);
    l->drain_scheduled = false;
  }
  for (auto& fn : items) fn();
}

void EventLoops::Run() {
  for (size_t i = 0; i < loops_.size(); ++i) {
    Loop* l = loops_[i].get();
    l->thread = std::thread([l, i] {
      current_loop_index = static_cast<int>(i);
      std::string name = "parley-loop-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      l->ctx->run();
    });
  }
}

void EventLoops::ReleaseWork() {
  for (auto& l : loops_) l->work.reset();
}

void EventLoops::Stop() {
  for (auto& l : loops_) l->ctx->stop();
}

void EventLoops::Join() {
  for (auto& l : loops_)
    if (l->thread.joinable()) l->thread.join();
}

int EventLoops::CurrentIndex() {
  return current_loop_index;
}

}  // namespace parley::net
