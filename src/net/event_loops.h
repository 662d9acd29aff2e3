// EventLoops: one Asio io_context per thread (one per core by default). Each
// loop owns its sockets outright; work crosses loops only by post().
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace parley::net {

class EventLoops {
 public:
  // REQUIRES: n >= 1.
  explicit EventLoops(int n);
  ~EventLoops();  // Stop() + Join()

  int size() const { return static_cast<int>(loops_.size()); }
  boost::asio::io_context& loop(int i) { return *loops_[i]->ctx; }

  // Starts one thread per loop. `on_thread_start(i)` runs first on each.
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
  };
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace parley::net
