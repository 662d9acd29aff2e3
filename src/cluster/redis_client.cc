#include "cluster/redis_client.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "cluster/redis_connect.h"

namespace parley::cluster {

RedisClient::RedisClient(std::string host, int port) : host_(std::move(host)), port_(port) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "parley-redis");
    Loop();
  });
}

RedisClient::~RedisClient() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  thread_.join();
  FailQueued();
}

void RedisClient::Run(std::vector<std::string> argv, Callback done) {
  {
    MutexLock l(&mu_);
    if (!stopping_ && up_.load(std::memory_order_relaxed)) {
      queue_.push_back({std::move(argv), std::move(done)});
      cv_.Signal();
      return;
    }
  }
  if (done) done(nullptr);
}

void RedisClient::FailQueued() {
  std::deque<Command> failed;
  {
    MutexLock l(&mu_);
    failed.swap(queue_);
  }
  for (Command& c : failed)
    if (c.done) c.done(nullptr);
}

void RedisClient::Loop() {
  std::chrono::milliseconds backoff{100};
  bool warned = false;
  std::vector<Command> batch;
  for (;;) {
    {
      MutexLock l(&mu_);
      if (stopping_) return;
    }
    std::string why;
    RedisContext c = ConnectRedis(host_, port_, &why);
    if (!c) {
      up_.store(false);
      FailQueued();
      if (!warned) spdlog::warn("cluster: cannot reach Redis at {}:{}: {}", host_, port_, why);
      warned = true;
      {
        MutexLock l(&mu_);
        const auto until = std::chrono::steady_clock::now() + backoff;
        while (!stopping_) {
          const auto left = until - std::chrono::steady_clock::now();
          if (left <= std::chrono::steady_clock::duration::zero()) break;
          cv_.WaitFor(left);
        }
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    timeval rw{2, 0};
    redisSetTimeout(c.get(), rw);  // a reply that does not come is a lost link
    warned = false;
    backoff = std::chrono::milliseconds(100);
    up_.store(true);
    for (;;) {
      {
        MutexLock l(&mu_);
        while (!stopping_ && queue_.empty()) cv_.Wait();
        if (stopping_) break;
        batch.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.end()));
        queue_.clear();
      }
      std::vector<const char*> args;
      std::vector<size_t> lens;
      for (const Command& cmd : batch) {
        args.clear();
        lens.clear();
        for (const std::string& a : cmd.argv) {
          args.push_back(a.data());
          lens.push_back(a.size());
        }
        redisAppendCommandArgv(c.get(), static_cast<int>(args.size()), args.data(), lens.data());
      }
      size_t i = 0;
      for (; i < batch.size(); ++i) {
        void* r = nullptr;
        if (redisGetReply(c.get(), &r) != REDIS_OK) break;
        std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(r),
                                                           freeReplyObject);
        if (batch[i].done) batch[i].done(reply.get());
      }
      const bool failed = i < batch.size();
      if (failed) {
        // Unanswered: once more on a new connection (ahead of the rest);
        // those that had their second chance fail (outside the lock).
        std::vector<Callback> give_up;
        {
          MutexLock l(&mu_);
          for (size_t k = batch.size(); k-- > i;) {
            if (batch[k].retried) {
              if (batch[k].done) give_up.push_back(std::move(batch[k].done));
              continue;
            }
            batch[k].retried = true;
            queue_.push_front(std::move(batch[k]));
          }
        }
        for (Callback& d : give_up) d(nullptr);
      }
      batch.clear();
      if (failed) {
        spdlog::warn("cluster: Redis connection lost: {}", c->errstr);
        break;
      }
    }
    // Reconnect at once (Redis restarted?); the waiting commands fail only
    // if that does not work.
  }
}

}  // namespace parley::cluster
