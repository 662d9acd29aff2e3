#include "events/event.h"

#include <algorithm>
#include <chrono>

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
}  // namespace

size_t Frame::size_with_seq(uint64_t seq) const {
  return head.size() + Digits(seq) + tail.size();
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
