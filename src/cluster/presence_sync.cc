#include "cluster/presence_sync.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include "events/event_builder.h"
#include "util/clock.h"

namespace parley::cluster {

PresenceSync::PresenceSync(events::PresenceRegistry* registry, const State* state,
                           events::EventSink* local, Options options)
    : registry_(registry), state_(state), local_(local), options_(options) {}

PresenceSync::~PresenceSync() {
  Stop();
}

void PresenceSync::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  MutexLock l(&bus_mu_);
  bus_ = nullptr;
}

void PresenceSync::Start(Bus* bus) {
  {
    MutexLock l(&bus_mu_);
    bus_ = bus;
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "parley-presence");
    Run();
  });
}

void PresenceSync::LocalChanged(Snowflake user, const std::optional<events::Presence>& p) {
  WithBus([&](Bus& bus) { bus.PublishPresences({{user, p}}, /*snapshot=*/false); });
}

void PresenceSync::Heard(int node) {
  MutexLock l(&mu_);
  last_heard_ms_[node] = SteadyMs();
}

void PresenceSync::OnPresences(int node, const std::vector<PresenceChange>& changes,
                               bool snapshot) {
  Heard(node);
  if (snapshot) {
    std::vector<std::pair<Snowflake, events::Presence>> all;
    all.reserve(changes.size());
    for (const auto& [user, p] : changes)
      if (p) all.emplace_back(user, *p);
    Emit(registry_->ReplaceRemote(node, all));
    return;
  }
  std::vector<std::pair<Snowflake, events::Presence>> out;
  for (const auto& [user, p] : changes) {
    if (auto c = registry_->SetRemote(node, user, p)) out.emplace_back(user, *c);
  }
  Emit(out);
}

void PresenceSync::OnHeartbeat(int node, const NodeReport& report) {
  bool known = false;
  {
    MutexLock l(&mu_);
    known = last_heard_ms_.count(node) > 0;
    last_heard_ms_[node] = SteadyMs();
    reports_[node] = report;
  }
  // A node back after it was taken for gone (or one that joined without our
  // hearing its request): tell it what we have.
  if (!known) {
    PublishSnapshot();
    WithBus([](Bus& bus) { bus.PublishSnapshotRequest(); });
  }
}

void PresenceSync::OnSnapshotRequest(int node) {
  Heard(node);
  PublishSnapshot();
}

void PresenceSync::OnLinkChanged(bool up) {
  {
    MutexLock l(&mu_);
    link_up_since_ms_ = up ? SteadyMs() : 0;
  }
  if (!up) return;
  // What was missed while the link was down: ours to them, theirs to us.
  PublishSnapshot();
  WithBus([](Bus& bus) { bus.PublishSnapshotRequest(); });
}

void PresenceSync::PublishSnapshot() {
  std::vector<PresenceChange> all;
  for (auto& [user, p] : registry_->LocalSnapshot()) all.emplace_back(user, std::move(p));
  WithBus([&](Bus& bus) { bus.PublishPresences(all, /*snapshot=*/true); });
}

void PresenceSync::Emit(const std::vector<std::pair<Snowflake, events::Presence>>& changes) {
  for (const auto& [user, p] : changes) {
    events::EventBatch batch = events::BuildPresenceEvents(*state_, user, p);
    if (!batch.empty()) local_->Publish(std::move(batch));
  }
}

bool PresenceSync::NodeAlive(int node) const {
  MutexLock l(&mu_);
  const int64_t now = SteadyMs();
  const int64_t ttl = options_.node_ttl.count();
  if (link_up_since_ms_ == 0 || now - link_up_since_ms_ < ttl) return true;
  auto it = last_heard_ms_.find(node);
  return it != last_heard_ms_.end() && now - it->second < ttl;
}

std::vector<PresenceSync::NodeView> PresenceSync::Nodes() const {
  MutexLock l(&mu_);
  const int64_t now = SteadyMs();
  std::vector<NodeView> out;
  for (const auto& [node, at] : last_heard_ms_) {
    if (now - at > options_.node_ttl.count()) continue;
    auto it = reports_.find(node);
    out.push_back({node, now - at, it != reports_.end() ? it->second : NodeReport{}});
  }
  return out;
}

int PresenceSync::live_nodes() const {
  MutexLock l(&mu_);
  const int64_t now = SteadyMs();
  int n = 0;
  for (const auto& [node, at] : last_heard_ms_) n += now - at <= options_.node_ttl.count();
  return n;
}

void PresenceSync::Run() {
  mu_.Lock();
  while (!stopping_) {
    cv_.WaitFor(options_.heartbeat);
    if (stopping_) break;
    std::vector<int> gone;
    const int64_t now = SteadyMs();
    if (link_up_since_ms_ != 0) {
      for (auto it = last_heard_ms_.begin(); it != last_heard_ms_.end();) {
        const int64_t since = std::max(it->second, link_up_since_ms_);
        if (now - since > options_.node_ttl.count()) {
          gone.push_back(it->first);
          reports_.erase(it->first);
          it = last_heard_ms_.erase(it);
        } else {
          ++it;
        }
      }
    }
    mu_.Unlock();
    const NodeReport report = options_.report ? options_.report() : NodeReport{};
    WithBus([&](Bus& bus) { bus.PublishHeartbeat(report); });
    for (int node : gone) {
      auto changes = registry_->DropNode(node);
      spdlog::warn("cluster: node {} not heard for {} ms: its {} users' presences dropped", node,
                   options_.node_ttl.count(), changes.size());
      Emit(changes);
    }
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace parley::cluster
