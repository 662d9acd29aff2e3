#include "events/event.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <boost/json/monotonic_resource.hpp>
#include <chrono>

#include "encoding/etf.h"
#include "encoding/json_text.h"
#include "encoding/msgpack.h"
#include "metrics/server_metrics.h"
#include "util/clock.h"

namespace parley::events {

namespace {
size_t Digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

// The size of seq as the encodings write it (etf::AppendUnsigned,
// msgpack::AppendUnsigned).
size_t SeqSize(Encoding e, uint64_t seq) {
  switch (e) {
    case Encoding::kJson:
      break;
    case Encoding::kEtf:
      if (seq <= 255) return 2;
      if (seq <= uint64_t{INT32_MAX}) return 5;
      return 3 + (std::bit_width(seq) + 7) / 8;
    case Encoding::kMsgpack:
      if (seq <= 0x7F) return 1;
      if (seq <= 0xFF) return 2;
      if (seq <= 0xFFFF) return 3;
      if (seq <= 0xFFFFFFFF) return 5;
      return 9;
  }
  return Digits(seq);
}

// The frame of `type` and `d_json` in ETF or MessagePack: a map of t, op,
// d and, last, s (its value spliced in by AppendPayload).
std::unique_ptr<const Frame> Encode(const Frame& json, Encoding e) {
  auto f = std::make_unique<Frame>();
  f->created_ns = json.created_ns;
  f->type = json.type;
  f->encoding = e;
  constexpr std::string_view kHead = "{\"t\":\"",
                             kHeadEnd = "\",\"s\":", kTail = ",\"op\":0,\"d\":";
  std::string_view type = json.head, d = json.tail;
  bool shaped = type.starts_with(kHead) && type.ends_with(kHeadEnd) && d.starts_with(kTail) &&
                d.ends_with('}');
  if (shaped) {
    type = type.substr(kHead.size(), type.size() - kHead.size() - kHeadEnd.size());
    d = d.substr(kTail.size(), d.size() - kTail.size() - 1);
  }
  // `d` parsed once; null if it does not parse (never: Parley's own JSON).
  unsigned char buffer[4096];
  boost::json::monotonic_resource arena(buffer, sizeof buffer);
  boost::json::value v(&arena);
  const Status s =
      shaped ? encoding::ParseJson(d, &v) : Status::InvalidArgument("not a dispatch frame");
  std::string& out = f->head;
  out.reserve(json.head.size() + json.tail.size() + 32);
  if (e == Encoding::kEtf) {
    using namespace encoding::etf;
    out.push_back(static_cast<char>(kVersion));
    out.push_back(static_cast<char>(kMap));
    out.append("\0\0\0\4", 4);
    AppendAtom(&out, "t");
    AppendBinary(&out, type);
    AppendAtom(&out, "op");
    AppendInteger(&out, 0);
    AppendAtom(&out, "d");
    AppendTerm(&out, v);
    AppendAtom(&out, "s");
  } else {
    using namespace encoding::msgpack;
    AppendMapHeader(&out, 4);
    AppendString(&out, "t");
    AppendString(&out, type);
    AppendString(&out, "op");
    AppendInteger(&out, 0);
    AppendString(&out, "d");
    AppendValue(&out, v);
    AppendString(&out, "s");
  }
  // A failure here is a bug, made loud (the client gets the event with a
  // null `d` rather than nothing).
  if (!s.ok()) spdlog::error("frame {} not re-encoded: {}", json.head.substr(0, 40), s.message());
  return f;
}
}  // namespace

size_t Frame::size_with_seq(uint64_t seq) const {
  return head.size() + SeqSize(encoding, seq) + tail.size();
}

const Frame& Frame::In(Encoding e) const {
  if (e == Encoding::kJson) return *this;
  const int i = e == Encoding::kEtf ? 0 : 1;
  std::call_once(once_[i], [&] {
    other_[i] = Encode(*this, e);
    metrics::M().frames_encoded[i]->Inc();
  });
  return *other_[i];
}

uint64_t TokenTag(const TokenHash& hash) {
  uint64_t tag = 0;
  for (int i = 0; i < 8; ++i) tag = (tag << 8) | hash[i];
  return tag == 0 ? 1 : tag;
}

FramePtr MakeDispatch(std::string_view type, std::string_view d_json) {
  auto f = std::make_shared<Frame>();
  f->created_ns = SteadyNs();
  f->type = metrics::EventTypeIndex(type);
  f->head.reserve(20 + type.size());
  f->head.append("{\"t\":\"");
  f->head.append(type);
  f->head.append("\",\"s\":");
  f->tail.reserve(15 + d_json.size());
  f->tail.append(",\"op\":0,\"d\":");
  f->tail.append(d_json);
  f->tail.push_back('}');
  return f;
}

void AppendPayload(std::string* out, const Frame& f, uint64_t seq) {
  out->append(f.head);
  if (f.encoding == Encoding::kEtf) {
    encoding::etf::AppendUnsigned(out, seq);
    out->append(f.tail);
    return;
  }
  if (f.encoding == Encoding::kMsgpack) {
    encoding::msgpack::AppendUnsigned(out, seq);
    out->append(f.tail);
    return;
  }
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + seq % 10);
    seq /= 10;
  } while (seq);
  out->append(p, end);
  out->append(f.tail);
}

bool Event::Excepts(Snowflake user_id) const {
  return !except_users.empty() &&
         std::binary_search(except_users.begin(), except_users.end(), user_id);
}

FramePtr Event::StrippedFrame() const {
  std::call_once(stripped_once_, [this] {
    auto f = std::make_shared<Frame>();
    f->created_ns = frame->created_ns;
    f->type = frame->type;
    f->head = frame->head;
    f->tail.reserve(frame->tail.size());
    f->tail.append(frame->tail, 0, content_begin);
    f->tail.append(content_stripped);
    f->tail.append(frame->tail, content_end, std::string::npos);
    stripped_ = std::move(f);
  });
  return stripped_;
}

}  // namespace parley::events
