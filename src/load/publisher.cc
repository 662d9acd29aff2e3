#include "load/publisher.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

#include "load/sysinfo.h"

namespace parley::load {

namespace asio = boost::asio;

int64_t Publisher::Scheduled(uint64_t k) const {
  return start_ns_ + static_cast<int64_t>(static_cast<double>(k) * 1e9 / rate_);
}

int64_t Publisher::NoteSend(uint64_t k) {
  const int64_t sched = Scheduled(k), now = NowNs();
  st_.max_lag_ns = std::max(st_.max_lag_ns, now - sched);
  if (now - sched > 1'000'000) ++st_.late_1ms;
  if (!st_.first_send_ns) st_.first_send_ns = now;
  st_.last_send_ns = now;
  return now;
}

std::string Publisher::Content(uint64_t k) const {
  std::string c = "plt:" + std::to_string(step_) + ":" + std::to_string(Scheduled(k)) + ":" +
                  std::to_string(k) + ":";
  if (static_cast<int>(c.size()) < size_) c.append(static_cast<size_t>(size_) - c.size(), 'x');
  return c;
}

void Publisher::Acked(int64_t sent_ns) {
  --outstanding_;
  ++st_.acked;
  st_.ack_us.Record(static_cast<uint64_t>(std::max<int64_t>(0, NowNs() - sent_ns) / 1000));
}

void Publisher::Failed(const std::string& reason) {
  --outstanding_;
  ++st_.failed;
  ++st_.failures[reason];
}

Publisher::StepStats Publisher::RunStep(int step, double rate, double duration_s, int64_t start_ns,
                                        double reply_wait_s, bool progress) {
  st_ = StepStats();
  step_ = step;
  rate_ = rate;
  start_ns_ = start_ns;
  outstanding_ = 0;
  const uint64_t total = static_cast<uint64_t>(std::llround(rate * duration_s));
  st_.scheduled = total;
  uint64_t next = 0;
  asio::steady_timer timer(ioc_);
  std::function<void()> tick = [&] {
    int64_t now = NowNs();
    for (int burst = 0; next < total && burst < 100'000; ++burst) {
      int64_t sched = start_ns + static_cast<int64_t>(static_cast<double>(next) * 1e9 / rate);
      if (sched > now) break;
      Send(next++);
    }
    if (next >= total) return;
    int64_t sched = start_ns + static_cast<int64_t>(static_cast<double>(next) * 1e9 / rate);
    timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(sched)));
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  ioc_.restart();
  asio::post(ioc_, tick);
  const int64_t send_end = start_ns + static_cast<int64_t>(duration_s * 1e9);
  const int64_t deadline = send_end + static_cast<int64_t>(reply_wait_s * 1e9);
  int64_t next_progress = start_ns + 1'000'000'000;
  for (int i = 0; i < 10'000'000; ++i) {
    int64_t now = NowNs();
    if ((next >= total && outstanding_ == 0) || now >= deadline) break;
    if (ioc_.stopped()) {  // out of work (every connection dead, timer done)
      ioc_.restart();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ioc_.run_one_for(std::chrono::milliseconds(50));
    if (progress && now >= next_progress) {
      next_progress += 1'000'000'000;
      std::fprintf(stderr, "\r  rate %g/s: %.0f s, sent %llu, acked %llu, failed %llu   ", rate,
                   (now - start_ns) / 1e9, static_cast<unsigned long long>(st_.sent),
                   static_cast<unsigned long long>(st_.acked),
                   static_cast<unsigned long long>(st_.failed));
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  timer.cancel();
  if (next < total) {  // the deadline passed before every message was sent (cannot happen
                       // unless the loop is starved): count the rest as failed
    st_.failed += total - next;
    st_.failures["not-sent"] += total - next;
  }
  if (outstanding_ > 0) {
    st_.replies_complete = false;
    AbandonOutstanding();
  }
  ioc_.poll();  // the cancelled timer's handler (it refers to locals of this frame)
  return st_;
}

}  // namespace parley::load
