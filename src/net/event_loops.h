// EventLoops: one Asio io_context per thread (one per core by default). Each
// loop owns its sockets outright; work crosses loops only through Post(),
// which batches: however many items other threads hand a loop while it is
// busy, it is woken once and runs them all in one go.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "util/mutex.h"

namespace parley::net {

class EventLoops {
 public:
  // REQUIRES: n >= 1.
  explicit EventLoops(int n);
  ~EventLoops();  // Stop() + Join()

  int size() const { return static_cast<int>(loops_.size()); }
  boost::asio::io_context& loop(int i) { return *loops_[i]->ctx; }

  // Runs `fn` on loop `i`. Thread-safe. Items posted from one thread run in
  // the order posted.
  void Post(int i, std::function<void()> fn);

  // Starts one thread per loop (named parley-loop-<i>).
  void Run();
  // Lets the loops return once they run out of work.
  void ReleaseWork();
  // Stops every loop now (pending handlers are dropped).
  void Stop();
  void Join();

  // The index of the loop running on this thread, or -1 elsewhere.
  static int CurrentIndex();

 private:
  struct Loop {
    std::unique_ptr<boost::asio::io_context> ctx;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    std::thread thread;
    // Cross-thread mailbox (see Post).
    Mutex mu;
    std::vector<std::function<void()>> inbox GUARDED_BY(mu);
    bool drain_scheduled GUARDED_BY(mu) = false;
  };
  static void Drain(Loop* l);
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace parley::net
