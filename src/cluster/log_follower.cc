#include "cluster/log_follower.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <utility>

#include "util/clock.h"
#include "util/time_format.h"

namespace parley::cluster {

LogFollower::LogFollower(CommitLog* log, Apply apply, CommitPosition start, Options options)
    : log_(log),
      apply_(std::move(apply)),
      options_(std::move(options)),
      applied_(start),
      last_ok_ms_(NowMs()) {}

Status LogFollower::CatchUp(CommitPosition position) {
  if (applied() >= position) return Status::OK();
  return Pull(position);
}

void LogFollower::Own(CommitPosition position) {
  // Every position before ours has committed (the commit head's lock
  // ordered them), so the log holds them: wait for it only while it cannot
  // be read.
  int64_t last_warned = 0;
  for (;;) {
    Status s = CatchUp(position - 1);
    if (s.ok()) break;
    if (s.IsCorruption()) {
      Broken(s);
      return;
    }
    if (int64_t now = NowMs(); now - last_warned >= 1000) {
      spdlog::warn("cluster: commit {} waits for the commits before it: {}", position,
                   s.ToString());
      last_warned = now;
    }
    std::this_thread::sleep_for(options_.retry_interval);
  }
  ahead_.erase(ahead_.begin(), ahead_.upper_bound(position));
  applied_.store(position, std::memory_order_release);
  own_commits_.fetch_add(1, std::memory_order_relaxed);
  last_ok_ms_.store(NowMs(), std::memory_order_relaxed);
  if (options_.on_own) options_.on_own(position);
}

void LogFollower::Offer(LogEntry entry) {
  MutexLock l(&offered_mu_);
  if (offered_.size() < kMaxAhead) offered_.push_back(std::move(entry));
}

void LogFollower::TakeOffered() {
  std::vector<LogEntry> got;
  {
    MutexLock l(&offered_mu_);
    got.swap(offered_);
  }
  for (LogEntry& e : got) {
    if (e.position <= applied() || ahead_.size() >= kMaxAhead) continue;
    ahead_.try_emplace(e.position, std::move(e));
  }
}

void LogFollower::Idle() {
  if (broken_) return;
  TakeOffered();
  ApplyAhead(kAllCommits);  // what came by the bus, in order, as far as it goes
  const int64_t now = SteadyMs();
  bool read = false;
  if (!ahead_.empty()) {
    // A later entry is here, the next one is not: it may be on its way,
    // or lost by the bus.
    if (gap_since_ms_ == 0) gap_since_ms_ = now;
    read = now - gap_since_ms_ >= options_.gap_wait.count();
  } else {
    gap_since_ms_ = 0;
  }
  const auto poll = bus_live_.load(std::memory_order_relaxed) ? options_.poll_with_bus
                                                              : options_.poll_without_bus;
  read = read || now - last_read_ms_ >= poll.count();
  if (!read) return;
  Status s = Pull(kAllCommits);
  if (s.IsCorruption()) Broken(s);
  // Unavailable: the next Idle tries again.
}

Status LogFollower::Pull(CommitPosition upto) {
  TakeOffered();
  while (applied() < upto) {
    // Entries already here first (from the bus, or read ahead), then the log.
    ApplyAhead(upto);
    if (applied() >= upto) break;
    Status s = log_->ReadLog(applied(), options_.entries_per_read, &page_);
    // Counted once done (a test waits for the first read to be over).
    log_reads_.fetch_add(1, std::memory_order_relaxed);
    if (!s.ok()) {
      log_read_errors_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
    last_read_ms_ = SteadyMs();
    last_ok_ms_.store(NowMs(), std::memory_order_relaxed);
    if (page_.empty()) {
      if (upto == kAllCommits) return Status::OK();
      return Status::Unavailable("cluster: the log ends at " + std::to_string(applied()) +
                                 ", before " + std::to_string(upto));
    }
    const bool full = page_.size() == static_cast<size_t>(options_.entries_per_read);
    CommitPosition expect = applied() + 1;
    for (LogEntry& e : page_) {
      if (e.position < expect) continue;
      if (e.position != expect) {
        return Status::Corruption("cluster: the log has no entry at position " +
                                  std::to_string(expect) + " (next: " + std::to_string(e.position) +
                                  "); a process wrote to this database outside cluster mode");
      }
      ++expect;
      if (e.position > upto) {
        if (ahead_.size() < kMaxAhead) ahead_.insert_or_assign(e.position, std::move(e));
      } else {
        ahead_.erase(e.position);  // the bus's copy, if any, is the same entry
        ApplyEntry(e);
      }
    }
    if (upto == kAllCommits && !full) {
      gap_since_ms_ = 0;
      return Status::OK();
    }
  }
  return Status::OK();
}

void LogFollower::ApplyAhead(CommitPosition upto) {
  while (!ahead_.empty() && ahead_.begin()->first <= applied()) ahead_.erase(ahead_.begin());
  while (!ahead_.empty() && ahead_.begin()->first == applied() + 1 &&
         ahead_.begin()->first <= upto) {
    ApplyEntry(ahead_.begin()->second);
    ahead_.erase(ahead_.begin());
    unread_entries_.fetch_add(1, std::memory_order_relaxed);
  }
}

void LogFollower::ApplyEntry(const LogEntry& e) {
  for (const WriteBatch& b : e.batches) apply_(b, e.position);
  applied_.store(e.position, std::memory_order_release);
  log_entries_.fetch_add(1, std::memory_order_relaxed);
  log_batches_.fetch_add(e.batches.size(), std::memory_order_relaxed);
  last_delay_ms_.store(NowMs() - e.committed_ms, std::memory_order_relaxed);
}

void LogFollower::Broken(const Status& s) {
  if (broken_) return;
  broken_ = true;
  if (options_.on_broken) return options_.on_broken(s);
  spdlog::critical("{}; stopping now: this node's state can no longer follow the cluster's",
                   s.ToString());
  spdlog::default_logger()->flush();
  std::_Exit(70);
}

LogFollower::Stats LogFollower::stats() const {
  Stats st;
  st.own_commits = own_commits_.load(std::memory_order_relaxed);
  st.log_entries = log_entries_.load(std::memory_order_relaxed);
  st.log_batches = log_batches_.load(std::memory_order_relaxed);
  st.log_reads = log_reads_.load(std::memory_order_relaxed);
  st.log_read_errors = log_read_errors_.load(std::memory_order_relaxed);
  st.unread_entries = unread_entries_.load(std::memory_order_relaxed);
  st.last_delay_ms = last_delay_ms_.load(std::memory_order_relaxed);
  st.last_ok_ms = last_ok_ms_.load(std::memory_order_relaxed);
  return st;
}

}  // namespace parley::cluster
