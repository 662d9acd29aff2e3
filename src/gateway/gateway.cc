#include "gateway/gateway.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <thread>

#include "gateway/loop_hub.h"
#include "metrics/server_metrics.h"
#include "net/http_request_rules.h"
#include "net/websocket_frames.h"
#include "util/clock.h"
#include "util/time_format.h"

namespace parley::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

bool HeaderHasToken(std::string_view value, std::string_view token) {
  // Comma-separated, case-insensitive (e.g. "keep-alive, Upgrade").
  size_t i = 0;
  while (i <= value.size()) {
    size_t j = value.find(',', i);
    if (j == std::string_view::npos) j = value.size();
    std::string_view t = value.substr(i, j - i);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.size() == token.size() &&
        std::equal(t.begin(), t.end(), token.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return true;
    i = j + 1;
  }
  return false;
}

// Best effort: a short HTTP error on a socket we are about to drop.
void RefuseHandshake(tcp::socket& s, std::string_view status, std::string_view extra) {
  std::string res = "HTTP/1.1 ";
  res += status;
  res += "\r\nContent-Type: application/json\r\nConnection: close\r\n";
  res += extra;
  res += "Content-Length: 2\r\n\r\n{}";
  ::send(s.native_handle(), res.data(), res.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  boost::system::error_code ec;
  s.shutdown(tcp::socket::shutdown_send, ec);
  s.close(ec);
}

}  // namespace

Gateway::Gateway(net::EventLoops* loops, const State* state, GatewayOptions options)
    : loops_(loops), state_(state), options_(std::move(options)) {
  for (int i = 0; i < loops_->size(); ++i)
    hubs_.push_back(std::make_unique<LoopHub>(this, i, loops_->loop(i)));
}

Gateway::~Gateway() = default;

void Gateway::Start() {
  for (auto& h : hubs_) {
    LoopHub* hub = h.get();
    asio::post(hub->ctx(), [hub] { hub->StartSweep(); });
  }
}

bool IsWebSocketUpgrade(const net::Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/api" || path.starts_with("/api/")) return false;  // REST keeps /api
  return req.method() == http::verb::get &&
         HeaderHasToken(req[http::field::upgrade], "websocket") &&
         HeaderHasToken(req[http::field::connection], "upgrade");
}

void Gateway::OnUpgrade(int loop, net::Request&& req, tcp::socket&& socket,
                        std::string_view leftover, uint32_t address_slot) {
  // Until a Conn owns it, the slot is given back with the socket.
  auto refuse = [&](std::string_view status, std::string_view extra) {
    RefuseHandshake(socket, status, extra);
    if (options_.per_address) options_.per_address->Release(address_slot);
  };
  if (stopping_.load(std::memory_order_relaxed)) {
    metrics::M().gateway_connections_refused_shutdown->Inc();
    return refuse("503 Service Unavailable", "");
  }
  if (req[http::field::sec_websocket_version] != "13" ||
      !net::IsValidWebSocketKey(req[http::field::sec_websocket_key]))
    metrics::M().gateway_connections_refused_handshake->Inc();
  if (req[http::field::sec_websocket_version] != "13")
    return refuse("426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n");
  std::string_view key = req[http::field::sec_websocket_key];
  if (!net::IsValidWebSocketKey(key)) return refuse("400 Bad Request", "");

  std::string_view target = req.target();
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) query = target.substr(q + 1);
  // The three parameters are plain tokens; no percent-decoding needed.
  // (Boost.URL 1.81's parse_query read past the end of a string_view's last
  // value here, so this is split by hand.)
  std::string v, encoding, compress;
  bool has_compress = false, has_v = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = kv.find('=');
    std::string_view key = kv.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
    if (key == "v") {
      v = val;
      has_v = true;
    }
    if (key == "encoding") encoding = val;
    if (key == "compress") {
      compress = val;
      has_compress = true;
    }
  }
  Compression mode = Compression::kNone;
  Encoding payload_encoding = Encoding::kJson;
  bool bad_encoding = !encoding.empty() && !encoding::ParseEncoding(encoding, &payload_encoding);
  bool bad_compress = has_compress && !compress.empty() && !ParseCompression(compress, &mode);
  // No `v` at all is v10 (Discord's docs advise passing it, and Parley
  // speaks only v10, whose shapes v9 shares): oceanic.js's URL override
  // connects without a query.
  bool bad_version = has_v && v != "10" && v != "9";
  spdlog::debug("gateway upgrade: {}", target);

  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  LoopHub& hub = *hubs_[loop];
  // Re-home the descriptor in the lean socket type (see loop_hub.h: Socket).
  auto proto = socket.local_endpoint(ec).protocol();
  int fd = ec ? -1 : socket.release(ec);
  if (ec || fd < 0) return refuse("500 Internal Server Error", "");
  Socket lean(hub.ctx());
  lean.assign(proto, fd, ec);
  if (ec) {
    ::close(fd);
    if (options_.per_address) options_.per_address->Release(address_slot);
    return;
  }
  std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  head += net::WebSocketAccept(key);
  head += "\r\n\r\n";
  // The 101 goes out in a write of its own, Hello LoopHub::kHelloDelayMs
  // later (QueueHello): some clients (seyfert 5) drop any bytes that arrive
  // together with the 101. A fresh socket takes these ~130 bytes at once;
  // whatever it does not take is queued.
  size_t sent = lean.write_some(boost::asio::buffer(head), ec);
  if (ec) sent = 0;
  boost::intrusive_ptr<Conn> c(
      new Conn(&hub, std::move(lean), mode, payload_encoding, options_.max_frame_bytes));
  c->address_slot_ = address_slot;
  if (sent < head.size()) c->QueueRaw(std::string_view(head).substr(sent));
  if (bad_version) {
    c->Close(close_code::kInvalidApiVersion, "invalid API version");
  } else if (bad_encoding || bad_compress) {
    c->Close(close_code::kDecodeError,
             bad_encoding ? "unsupported encoding" : "unsupported compression");
  } else {
    hub.QueueHello(c.get());
  }
  c->MarkDirty();
  c->Start(leftover);  // links c into the hub's list
  // READY's resume_gateway_url names the Host the client used (unless
  // --public-url names it): kept until Identify, so at most a name and a
  // port (RFC 1035: 253 + ":65535"); a longer one is not kept (the URL then
  // says localhost), and with --public-url none is.
  const std::string_view host = req[http::field::host];
  if (c->phase() == Conn::Phase::kOpen && options_.public_url.empty() && net::IsUsableHost(host))
    hub.SetHost(c.get(), std::string(host));
}

void Gateway::PostToLoops(std::shared_ptr<const EventBatch> events, uint64_t position,
                          uint64_t journal) {
  for (auto& h : hubs_) {
    LoopHub* hub = h.get();
    loops_->Post(hub->index(),
                 [hub, events, position, journal] { hub->Deliver(events, position, journal); });
  }
}

void Gateway::SetSessionStore(events::SessionStore* store) {
  session_store_ = store;
  store->SetHandoffHandler(
      [this](uint64_t session_id, uint64_t seq, std::function<void(bool)> answer) {
        LoopHub* hub = hubs_[(session_id >> 56) % hubs_.size()].get();
        loops_->Post(hub->index(), [hub, session_id, seq, answer = std::move(answer)]() mutable {
          hub->HandOff(session_id, seq, std::move(answer));
        });
      });
}

void Gateway::Publish(EventBatch events) {
  if (events.empty()) return;
  auto shared = std::make_shared<const EventBatch>(std::move(events));
  if (session_store_ == nullptr) return PostToLoops(std::move(shared), 0, 0);
  // Journaled first: a node never sends a session what another node could
  // not rebuild (events/session_store.h).
  // journal_mu_ keeps the appends in index order (the journal refuses an
  // index below its last).
  MutexLock order(&journal_mu_);
  events::JournalEntry entry;
  {
    MutexLock l(&stream_mu_);
    entry.index = ++journal_next_;
    entry.after_position = published_position_;
    entry.after_batches = published_batches_;
    journal_queue_.push_back({entry.index, 0, shared, false, false});
  }
  entry.at_ms = NowMs();
  entry.events = *shared;
  const uint64_t index = entry.index;
  session_store_->Journal(std::move(entry), [this, index](bool ok) { JournalStored(index, ok); });
}

void Gateway::JournalStored(uint64_t index, bool ok) {
  MutexLock l(&stream_mu_);
  for (Journaled& j : journal_queue_) {
    if (j.index != index) continue;
    j.stored = ok;
    j.failed = !ok;
    break;
  }
  // In stream order: a loop's journal index says everything before it was
  // delivered (or dropped), and the log batches queued behind an entry go
  // after it.
  while (!journal_queue_.empty() &&
         (journal_queue_.front().stored || journal_queue_.front().failed)) {
    Journaled& j = journal_queue_.front();
    if (j.index == 0) {
      PostToLoops(std::move(j.events), j.position, 0);
    } else if (j.stored) {
      PostToLoops(std::move(j.events), 0, j.index);
    } else {
      metrics::M().cluster_ephemeral_dropped->Inc();
      PostToLoops(std::make_shared<const EventBatch>(), 0, j.index);
    }
    journal_queue_.pop_front();
  }
}

namespace {
bool ChangesVisibility(const Event& e) {
  if (e.action != Event::Action::kNone) return true;
  if (!e.frame) return false;
  std::string_view head = e.frame->head;  // {"t":"TYPE",...
  if (!head.starts_with("{\"t\":\"")) return true;
  head.remove_prefix(6);
  return head.starts_with("CHANNEL_") || head.starts_with("GUILD_ROLE_") ||
         head.starts_with("GUILD_MEMBER") || head.starts_with("GUILD_UPDATE") ||
         head.starts_with("GUILD_DELETE") || head.starts_with("GUILD_CREATE") ||
         head.starts_with("THREAD_");
}
size_t BatchBytes(const EventBatch& events) {
  size_t n = 64;
  for (const EventPtr& e : events)
    n += sizeof(Event) + (e->frame ? e->frame->head.size() + e->frame->tail.size() + 64 : 0);
  return n;
}
}  // namespace

void Gateway::NoteVisibility(const EventBatch& events, StreamPoint at) {
  for (const EventPtr& e : events) {
    if (!ChangesVisibility(*e)) continue;
    if (e->target == Event::Target::kUser) {
      user_visibility_[e->user_id] = at;
    } else {
      guild_visibility_[e->guild_id] = at;
    }
  }
}

void Gateway::PublishCommitted(EventBatch events, uint64_t position) {
  if (session_store_ == nullptr) {
    if (events.empty()) return;
    return PostToLoops(std::make_shared<const EventBatch>(std::move(events)), 0, 0);
  }
  auto shared = std::make_shared<const EventBatch>(std::move(events));
  MutexLock l(&stream_mu_);
  // (Empty batches are never handed to the loops: a journal entry's
  // position is the last one they were handed.)
  if (!shared->empty()) {
    if (position > published_position_) {
      published_position_ = position;
      published_batches_ = 1;
    } else if (position == published_position_) {
      ++published_batches_;
    }
  }
  if (recent_.empty() || recent_.back().position != position) {
    if (!recent_.empty() && position != recent_.back().position + 1) {
      // A hole (cannot happen while positions come in order): nothing
      // before it can be rebuilt.
      recent_floor_ = position - 1;
      recent_bytes_ = 0;
      recent_.clear();
    }
    if (recent_.empty() && recent_floor_ < position - 1) recent_floor_ = position - 1;
    recent_.push_back({position, SteadyMs(), 0, {}});
  }
  if (!shared->empty()) {  // (the loops are not handed empty ones either)
    NoteVisibility(*shared, {position, static_cast<uint32_t>(recent_.back().batches.size() + 1)});
    const size_t bytes = BatchBytes(*shared);
    recent_.back().bytes += bytes;
    recent_bytes_ += bytes;
    recent_.back().batches.push_back(shared);
  }
  const int64_t oldest_ms = SteadyMs() - options_.resume_window_ms - 10000;
  while (recent_.size() > 1 &&
         (recent_bytes_ > options_.recent_log_bytes || recent_.front().at_ms < oldest_ms)) {
    recent_bytes_ -= recent_.front().bytes;
    recent_floor_ = recent_.front().position;
    recent_.pop_front();
  }
  if (shared->empty()) return;
  if (journal_queue_.empty()) return PostToLoops(std::move(shared), position, 0);
  // Behind an ephemeral batch still being journaled (JournalStored hands
  // both on, in this order).
  journal_queue_.push_back({0, position, std::move(shared), true, false});
}

bool Gateway::ForEachRecent(uint64_t after, uint32_t after_batches, uint64_t upto,
                            uint32_t upto_batches,
                            const std::function<void(uint64_t, const EventBatch&)>& fn) const {
  std::vector<std::pair<uint64_t, std::shared_ptr<const EventBatch>>> picked;
  {
    MutexLock l(&stream_mu_);
    // `after`'s batches must be held unless none of it was sent (the
    // position the node started at, say).
    if (after < recent_floor_ || (after == recent_floor_ && after_batches > 0)) return false;
    if (upto > after && (recent_.empty() || recent_.back().position < upto)) return false;
    for (const Recent& r : recent_) {
      if (r.position < after) continue;
      if (r.position > upto) break;
      const size_t from = r.position == after ? after_batches : 0;
      const size_t to =
          r.position == upto ? std::min<size_t>(upto_batches, r.batches.size()) : r.batches.size();
      for (size_t i = from; i < to; ++i) picked.emplace_back(r.position, r.batches[i]);
    }
  }
  for (const auto& [p, b] : picked) fn(p, *b);
  return true;
}

void Gateway::SetStartPosition(uint64_t position) {
  MutexLock l(&stream_mu_);
  published_position_ = position;
  recent_floor_ = position;
  for (auto& h : hubs_) h->set_start_position(position);
}

bool Gateway::VisibilityChangedAfter(const std::vector<Snowflake>& guilds, Snowflake user_id,
                                     uint64_t position, uint32_t batches) const {
  auto after = [&](const StreamPoint& p) {
    return p.position > position || (p.position == position && p.batch > batches);
  };
  MutexLock l(&stream_mu_);
  if (auto it = user_visibility_.find(user_id); it != user_visibility_.end() && after(it->second))
    return true;
  for (Snowflake g : guilds)
    if (auto it = guild_visibility_.find(g); it != guild_visibility_.end() && after(it->second))
      return true;
  return false;
}

void Gateway::Shutdown(std::chrono::milliseconds deadline) {
  stopping_.store(true);
  if (session_store_ != nullptr) {
    // Drain: every attached session's final checkpoint first, so that its
    // client, told to reconnect, resumes exactly on another node.
    auto left = std::make_shared<std::atomic<int>>(static_cast<int>(hubs_.size()));
    for (auto& h : hubs_) {
      LoopHub* hub = h.get();
      loops_->Post(hub->index(), [hub, left] { hub->SaveFinalCheckpoints([left] { --*left; }); });
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until && left->load() > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& h : hubs_) {
    LoopHub* hub = h.get();
    loops_->Post(hub->index(), [hub] { hub->Shutdown(); });
  }
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until &&
         connections_.load(std::memory_order_relaxed) > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

std::string Gateway::Url(std::string_view host_header) const {
  if (!options_.public_url.empty()) {
    std::string_view u = options_.public_url;
    while (!u.empty() && u.back() == '/') u.remove_suffix(1);
    if (u.starts_with("https://")) return "wss://" + std::string(u.substr(8));
    if (u.starts_with("http://")) return "ws://" + std::string(u.substr(7));
    return std::string(u);
  }
  // The Host is echoed into JSON: only a plain name and port (else the
  // fuzzer's non-UTF-8 Host made /gateway's body invalid JSON).
  if (!net::IsUsableHost(host_header)) host_header = "localhost";
  std::string url = "ws://";
  url.append(host_header);
  return url;
}

namespace {
constexpr int64_t kDayMs = 24 * 3600 * 1000;
}

namespace {
std::string IdentifyKey(Snowflake user_id) {
  return "identify:" + std::to_string(user_id);
}
}  // namespace

void Gateway::StartLimit(Snowflake user_id, bool bot, std::function<void(SessionStartLimit)> done) {
  const int limit = bot ? options_.identify_limit : options_.user_identify_limit;
  if (shared_limits_ == nullptr || limit <= 0) return done(LocalStartLimit(user_id, bot));
  shared_limits_->Peek(
      {IdentifyKey(user_id), limit, kDayMs},
      [this, user_id, bot, done = std::move(done)](std::optional<limits::Count> c) {
        if (!c) {
          metrics::M().cluster_limit_fallbacks->Inc();
          return done(LocalStartLimit(user_id, bot));
        }
        done({c->limit, c->remaining, c->reset_after_ms});
      });
}

void Gateway::TakeIdentify(Snowflake user_id, bool bot, std::function<void(bool)> done) {
  const int limit = bot ? options_.identify_limit : options_.user_identify_limit;
  if (shared_limits_ == nullptr || limit <= 0) return done(TakeLocalIdentify(user_id, bot));
  shared_limits_->Take(
      {{IdentifyKey(user_id), limit, kDayMs}},
      [this, user_id, bot, done = std::move(done)](std::optional<std::vector<limits::Count>> c) {
        if (!c || c->empty()) {
          metrics::M().cluster_limit_fallbacks->Inc();
          return done(TakeLocalIdentify(user_id, bot));
        }
        done(c->back().allowed);
      });
}

SessionStartLimit Gateway::LocalStartLimit(Snowflake user_id, bool bot) {
  SessionStartLimit out;
  const int limit = bot ? options_.identify_limit : options_.user_identify_limit;
  out.total = limit > 0 ? limit : 1000000;
  int64_t now = NowMs();
  MutexLock lock(&identify_mu_);
  auto it = identifies_.find(user_id);
  if (it == identifies_.end() || now - it->second.window_start_ms >= kDayMs) {
    out.remaining = out.total;
    out.reset_after_ms = kDayMs;
  } else {
    out.remaining = std::max(0, out.total - it->second.used);
    out.reset_after_ms = it->second.window_start_ms + kDayMs - now;
  }
  return out;
}

bool Gateway::TakeLocalIdentify(Snowflake user_id, bool bot) {
  int64_t now = NowMs();
  const int limit = bot ? options_.identify_limit : options_.user_identify_limit;
  MutexLock lock(&identify_mu_);
  IdentifyBudget& b = identifies_[user_id];
  if (now - b.window_start_ms >= kDayMs) {
    b.window_start_ms = now;
    b.used = 0;
  }
  if (limit > 0 && b.used >= limit) return false;
  ++b.used;
  return true;
}

void Gateway::CountShardSession(int shard_id, int shard_count, int delta) {
  MutexLock lock(&shard_mu_);
  auto key = std::make_pair(shard_id, shard_count);
  if ((shard_sessions_[key] += delta) <= 0) shard_sessions_.erase(key);
}

std::vector<std::pair<std::string, double>> Gateway::ShardSessions() const {
  MutexLock lock(&shard_mu_);
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [key, n] : shard_sessions_)
    out.emplace_back(fmt::format("shard=\"{}\",shards=\"{}\"", key.first, key.second),
                     static_cast<double>(n));
  return out;
}

int64_t Gateway::loop_connections(int i) const {
  return hubs_[i]->connection_count();
}

int64_t Gateway::loop_sessions(int i) const {
  return hubs_[i]->session_count();
}

GatewayStats Gateway::stats() const {
  GatewayStats s;
  s.connections = connections_.load(std::memory_order_relaxed);
  s.sessions = sessions_.load(std::memory_order_relaxed);
  s.slow_consumers = slow_consumers_.load(std::memory_order_relaxed);
  s.resumes = resumes_.load(std::memory_order_relaxed);
  s.resumes_failed = resumes_failed_.load(std::memory_order_relaxed);
  s.dispatches = dispatches_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace parley::gateway
