// GET /admin/status (also at /admin/status outside /api): the operator's
// figures as JSON, for the admin only (--admin, else the first registered
// user).
#include <boost/json/serialize.hpp>

#include "api/handlers.h"
#include "metrics/process_metrics.h"
#include "metrics/server_metrics.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {
bool IsAdmin(Api& api, const User& u) {
  if (u.bot) return false;
  const auto& admins = api.options().admins;
  if (admins.empty()) return u.id == api.state().first_user_id();
  std::string name = ToLower(u.username);
  for (const auto& a : admins)
    if (a == name) return true;
  return false;
}

double Ms(double seconds) {
  return static_cast<double>(static_cast<int64_t>(seconds * 1e6)) / 1e3;
}
}  // namespace

void GetAdminStatus(Api& api, const CallPtr& call) {
  if (!IsAdmin(api, *call->user)) return call->Fail(ApiError::MissingAccess());
  auto& m = metrics::M();
  metrics::ProcessStats p = metrics::ReadProcessStats();
  bj::object out;
  out["version"] = "0.1.0";
  bj::object conns;
  if (auto* gw = api.gateway()) {
    auto st = gw->stats();
    conns["gateway_open"] = st.connections;
    conns["sessions"] = st.sessions;
    out["gateway"] = bj::object{{"identifies", m.gateway_identifies->Value()},
                                {"resumes_ok", st.resumes},
                                {"resumes_failed", st.resumes_failed},
                                {"slow_consumers", st.slow_consumers},
                                {"dispatches", st.dispatches}};
  }
  uint64_t failed = 0;
  for (auto* c : m.messages_failed) failed += c->Value();
  out["messages"] = bj::object{{"posted", m.messages_posted->Value()},
                               {"persisted", m.messages_persisted->Value()},
                               {"failed", failed}};
  auto commits = m.commit_seconds->Read();
  out["store"] = bj::object{{"write_queue", api.writer().queue_depth()},
                            {"commits", commits.count},
                            {"commit_p99_ms", Ms(m.commit_seconds->Quantile(0.99))},
                            {"batches_per_commit_p50", m.commit_batches->Quantile(0.5)}};
  auto lat = m.delivery_latency->Read();
  out["delivery"] = bj::object{{"dispatches", lat.count},
                               {"p50_ms", Ms(m.delivery_latency->Quantile(0.5))},
                               {"p95_ms", Ms(m.delivery_latency->Quantile(0.95))},
                               {"p99_ms", Ms(m.delivery_latency->Quantile(0.99))}};
  auto rest = m.http_request_seconds->Read();
  out["rest"] = bj::object{{"requests", rest.count},
                           {"p50_ms", Ms(m.http_request_seconds->Quantile(0.5))},
                           {"p99_ms", Ms(m.http_request_seconds->Quantile(0.99))}};
  auto i64 = [](double v) { return static_cast<int64_t>(v); };
  out["process"] = bj::object{{"resident_bytes", i64(p.resident_bytes)},
                              {"memory_limit_bytes", i64(p.memory_limit_bytes)},
                              {"open_fds", i64(p.open_fds)},
                              {"max_fds", i64(p.max_fds)},
                              {"cpu_seconds", Ms(p.cpu_seconds) / 1000},
                              {"start_time_seconds", i64(p.start_time_seconds)}};
  out["connections"] = std::move(conns);
  if (api.options().status_extras) api.options().status_extras(&out);
  out["users"] = api.state().user_count();
  out["guilds"] = api.state().guild_count();
  call->Reply(200, out);
}

}  // namespace parley::handlers
