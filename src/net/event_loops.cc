#include "net/event_loops.h"

namespace parley::net {

namespace {
thread_local int current_loop_index = -1;
}

EventLoops::EventLoops(int n) {
  for (int i = 0; i < n; ++i) {
    auto l = std::make_unique<Loop>();
    // Concurrency hint 1: each context is run by exactly one thread, so Asio
    // can skip its internal locking.
    l->ctx = std::make_unique<boost::asio::io_context>(1);
    l->work.emplace(l->ctx->get_executor());
    loops_.push_back(std::move(l));
  }
}

EventLoops::~EventLoops() {
  Stop();
  Join();
}

void EventLoops::Run() {
  for (size_t i = 0; i < loops_.size(); ++i) {
    Loop* l = loops_[i].get();
    l->thread = std::thread([l, i] {
      current_loop_index = static_cast<int>(i);
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
