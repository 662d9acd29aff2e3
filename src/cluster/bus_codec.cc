#include "cluster/bus_codec.h"

#include <memory>

#include "util/clock.h"
#include "util/field_codec.h"

namespace parley::cluster {
namespace {

// An event as it travels: Event's fields and its frame's bytes. The
// MESSAGE_CONTENT-stripped copy is rebuilt where needed, as on any node.
struct WireEvent {
  uint8_t target = 0, action = 0, frame_type = 0;
  Snowflake guild_id = 0, channel_id = 0, user_id = 0;
  uint64_t intent = 0, permission = 0, token_tag = 0;
  bool has_frame = false, has_content = false;
  std::string head, tail;
  Snowflake author_id = 0;
  std::vector<Snowflake> mentions;
  uint64_t content_begin = 0, content_end = 0;
  std::string content_stripped;
};

struct WirePresence {
  Snowflake user = 0;
  bool present = false;
  std::string status, activities_json;
  int64_t since = 0, updated_ms = 0;
  bool afk = false;
};

template <class A>
void Fields(A& a, WirePresence& x) {
  a(x.user, x.present, x.status, x.activities_json, x.since, x.updated_ms, x.afk);
}

template <class A>
void Fields(A& a, WireEvent& x) {
  a(x.target, x.action, x.frame_type, x.guild_id, x.channel_id, x.user_id, x.intent, x.permission,
    x.token_tag, x.has_frame, x.has_content, x.head, x.tail, x.author_id, x.mentions,
    x.content_begin, x.content_end, x.content_stripped);
}

struct Schema {
  template <class A, class T>
  static void Visit(A& a, T& x) {
    Fields(a, x);
  }
};

void PutHeader(BusMessage::Kind kind, int node, std::string* out) {
  out->push_back(static_cast<char>(kind));
  FieldWriter<Schema> w(out);
  w(static_cast<int64_t>(node));
}

}  // namespace

void EncodeLogEntryMessage(int node, CommitPosition position, int64_t committed_ms,
                           std::string_view encoded_batches, std::string* out) {
  PutHeader(BusMessage::Kind::kLogEntry, node, out);
  FieldWriter<Schema> w(out);
  w(position, committed_ms);
  out->append(encoded_batches);
}

void EncodeEventsMessage(int node, const events::EventBatch& events, std::string* out) {
  PutHeader(BusMessage::Kind::kEvents, node, out);
  std::vector<WireEvent> wire;
  wire.reserve(events.size());
  for (const events::EventPtr& e : events) {
    WireEvent& w = wire.emplace_back();
    w.target = static_cast<uint8_t>(e->target);
    w.action = static_cast<uint8_t>(e->action);
    w.guild_id = e->guild_id;
    w.channel_id = e->channel_id;
    w.user_id = e->user_id;
    w.intent = e->intent;
    w.permission = e->permission;
    w.token_tag = e->token_tag;
    w.has_frame = e->frame != nullptr;
    if (e->frame) {
      w.head = e->frame->head;
      w.tail = e->frame->tail;
      w.frame_type = e->frame->type;
    }
    w.has_content = e->has_content;
    w.author_id = e->author_id;
    w.mentions = e->mentions;
    w.content_begin = e->content_begin;
    w.content_end = e->content_end;
    w.content_stripped = e->content_stripped;
  }
  FieldWriter<Schema> w(out);
  w(wire);
}

void EncodePresencesMessage(int node, const std::vector<PresenceChange>& changes, bool snapshot,
                            std::string* out) {
  PutHeader(BusMessage::Kind::kPresences, node, out);
  std::vector<WirePresence> wire;
  wire.reserve(changes.size());
  for (const auto& [user, p] : changes) {
    WirePresence& w = wire.emplace_back();
    w.user = user;
    w.present = p.has_value();
    if (p) {
      w.status = p->status;
      w.activities_json = p->activities_json;
      w.since = p->since;
      w.updated_ms = p->updated_ms;
      w.afk = p->afk;
    }
  }
  FieldWriter<Schema> w(out);
  w(snapshot, wire);
}

void EncodeHeartbeatMessage(int node, uint64_t incarnation, const NodeReport& report,
                            std::string* out) {
  PutHeader(BusMessage::Kind::kHeartbeat, node, out);
  FieldWriter<Schema> w(out);
  w(incarnation, report.sessions, report.applied, report.started_ms);
}

void EncodeSnapshotRequestMessage(int node, std::string* out) {
  PutHeader(BusMessage::Kind::kSnapshotRequest, node, out);
}

void EncodeHandoffMessage(int node, int to, uint64_t session_id, uint64_t seq,
                          std::optional<bool> done, std::string* out) {
  PutHeader(done ? BusMessage::Kind::kHandoffDone : BusMessage::Kind::kHandoffRequest, node, out);
  FieldWriter<Schema> w(out);
  w(static_cast<int64_t>(to), session_id, seq);
  if (done) w(*done);
}

Status DecodeBusMessage(std::string_view bytes, BusMessage* out) {
  *out = BusMessage();
  if (bytes.empty()) return Status::Corruption("bus message: empty");
  const char kind = bytes[0];
  FieldReader<Schema> r(bytes.substr(1));
  int64_t node = 0;
  r(node);
  if (!r.ok() || node < 0 || node > 1023) return Status::Corruption("bus message: bad node");
  out->node = static_cast<int>(node);
  if (kind == static_cast<char>(BusMessage::Kind::kLogEntry)) {
    out->kind = BusMessage::Kind::kLogEntry;
    LogEntry& e = out->entry;
    r(e.position, e.committed_ms);
    if (!r.ok() || e.position == 0) return Status::Corruption("bus message: bad log entry header");
    e.node = out->node;
    Status s = DecodeBatches(bytes.substr(bytes.size() - r.remaining()), &e.batches);
    if (!s.ok()) return Status::Corruption("bus message: " + s.ToString());
    return Status::OK();
  }
  if (kind == static_cast<char>(BusMessage::Kind::kHeartbeat)) {
    out->kind = BusMessage::Kind::kHeartbeat;
    r(out->incarnation);
    if (r.ok() && !r.at_end()) r(out->report.sessions, out->report.applied, out->report.started_ms);
    if (!r.ok() || !r.at_end()) return Status::Corruption("bus message: malformed heartbeat");
    return Status::OK();
  }
  if (kind == static_cast<char>(BusMessage::Kind::kHandoffRequest) ||
      kind == static_cast<char>(BusMessage::Kind::kHandoffDone)) {
    const bool done = kind == static_cast<char>(BusMessage::Kind::kHandoffDone);
    out->kind = done ? BusMessage::Kind::kHandoffDone : BusMessage::Kind::kHandoffRequest;
    int64_t to = 0;
    r(to, out->session_id, out->seq);
    if (done) r(out->ok);
    if (!r.ok() || !r.at_end() || to < 0 || to > 1023)
      return Status::Corruption("bus message: malformed handoff");
    out->to = static_cast<int>(to);
    return Status::OK();
  }
  if (kind == static_cast<char>(BusMessage::Kind::kSnapshotRequest)) {
    out->kind = BusMessage::Kind::kSnapshotRequest;
    if (!r.at_end()) return Status::Corruption("bus message: bytes after a snapshot request");
    return Status::OK();
  }
  if (kind == static_cast<char>(BusMessage::Kind::kPresences)) {
    out->kind = BusMessage::Kind::kPresences;
    std::vector<WirePresence> wire;
    r(out->snapshot, wire);
    if (!r.ok() || !r.at_end()) return Status::Corruption("bus message: malformed presences");
    for (WirePresence& w : wire) {
      std::optional<events::Presence> p;
      if (w.present) {
        if (w.status != "online" && w.status != "idle" && w.status != "dnd" &&
            w.status != "invisible") {
          out->presences.clear();
          return Status::Corruption("bus message: bad presence status");
        }
        p.emplace();
        p->status = std::move(w.status);
        p->activities_json = std::move(w.activities_json);
        p->since = w.since;
        p->updated_ms = w.updated_ms;
        p->afk = w.afk;
      }
      out->presences.emplace_back(w.user, std::move(p));
    }
    return Status::OK();
  }
  if (kind != static_cast<char>(BusMessage::Kind::kEvents)) {
    return Status::Corruption("bus message: unknown kind");
  }
  out->kind = BusMessage::Kind::kEvents;
  std::vector<WireEvent> wire;
  r(wire);
  if (!r.ok() || !r.at_end()) return Status::Corruption("bus message: malformed events");
  for (WireEvent& w : wire) {
    if (w.target > static_cast<uint8_t>(events::Event::Target::kUser) ||
        w.action > static_cast<uint8_t>(events::Event::Action::kEndSessions) ||
        (w.has_content && (w.content_begin > w.content_end || w.content_end > w.tail.size()))) {
      out->events.clear();
      return Status::Corruption("bus message: malformed event");
    }
    auto e = std::make_shared<events::Event>();
    e->target = static_cast<events::Event::Target>(w.target);
    e->action = static_cast<events::Event::Action>(w.action);
    e->guild_id = w.guild_id;
    e->channel_id = w.channel_id;
    e->user_id = w.user_id;
    e->intent = w.intent;
    e->permission = w.permission;
    e->token_tag = w.token_tag;
    if (w.has_frame) {
      auto f = std::make_shared<events::Frame>();
      f->head = std::move(w.head);
      f->tail = std::move(w.tail);
      f->type = w.frame_type;
      f->created_ns = SteadyNs();
      e->frame = std::move(f);
    }
    e->has_content = w.has_content;
    e->author_id = w.author_id;
    e->mentions = std::move(w.mentions);
    e->content_begin = static_cast<size_t>(w.content_begin);
    e->content_end = static_cast<size_t>(w.content_end);
    e->content_stripped = std::move(w.content_stripped);
    out->events.push_back(std::move(e));
  }
  return Status::OK();
}

}  // namespace parley::cluster
