// GET /gateway and GET /gateway/bot: where the gateway is, and (for bots)
// how many identifies are left today.
#include <boost/json/serialize.hpp>
#include <cmath>

#include "api/handlers.h"

namespace parley::handlers {

namespace bj = boost::json;

void GetGateway(Api& api, const CallPtr& call) {
  if (!api.gateway()) return call->Fail(ApiError::NotFound());
  call->Reply(200,
              bj::object{{"url", api.gateway()->Url(call->req[boost::beast::http::field::host])}});
}

void GetGatewayBot(Api& api, const CallPtr& call) {
  if (!api.gateway()) return call->Fail(ApiError::NotFound());
  events::GatewayView& gw = *api.gateway();
  size_t guilds = api.state().GuildsOfUser(call->user->id).size();
  int shards = std::max<int>(1, static_cast<int>(std::ceil(static_cast<double>(guilds) / 1000.0)));
  std::string url = gw.Url(call->req[boost::beast::http::field::host]);
  gw.StartLimit(call->user->id, call->user->bot,
                [call, shards, url = std::move(url)](events::SessionStartLimit limit) {
                  bj::object out{
                      {"url", url},
                      {"shards", shards},
                      {"session_start_limit", bj::object{{"total", limit.total},
                                                         {"remaining", limit.remaining},
                                                         {"reset_after", limit.reset_after_ms},
                                                         {"max_concurrency", 1}}}};
                  call->Reply(200, out);
                });
}

}  // namespace parley::handlers
