// libFuzzer target for the WebSocket frame parser (src/net/websocket_frames.h).
//
// Input: byte 0 picks the message size limit (bits 0-1) and after how many
// callbacks the handler stops parsing (bits 2-7; 0: never), bytes 1-2 a split
// point, the rest is what a client sent. The bytes are fed three ways (whole,
// in two chunks split at the chosen point with the parser moved in between,
// and byte by byte); the fuzzer aborts
// unless all three give the same callbacks and result, and every callback
// respects the protocol (valid UTF-8 text, sizes within limits, valid close
// codes, nothing after the end). Then the delivered events are written back
// with the frame writers, masked, and parsed again: they must come out equal.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.h"
#include "net/websocket_frames.h"

namespace {

using parley::net::WsFrameParser;
using parley::net::WsOpcode;
using Status = WsFrameParser::Status;

struct Event {
  char kind;  // 'm' message, 'i' ping, 'o' pong, 'c' close
  WsOpcode opcode;
  uint16_t code;
  std::string payload;
  bool operator==(const Event&) const = default;
};

class Checker : public WsFrameParser::Handler {
 public:
  Checker(uint32_t max, size_t stop_after) : max_(max), stop_after_(stop_after) {}

  bool OnMessage(WsOpcode opcode, std::string_view payload) override {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(opcode == WsOpcode::kText || opcode == WsOpcode::kBinary);
    FUZZ_CHECK(payload.size() <= max_);
    if (opcode == WsOpcode::kText) FUZZ_CHECK(parley::net::IsValidUtf8(payload));
    events.push_back({'m', opcode, 0, std::string(payload)});
    return events.size() != stop_after_;
  }
  bool OnPing(std::string_view payload) override {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(payload.size() <= 125);
    events.push_back({'i', WsOpcode::kPing, 0, std::string(payload)});
    return events.size() != stop_after_;
  }
  bool OnPong(std::string_view payload) override {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(payload.size() <= 125);
    events.push_back({'o', WsOpcode::kPong, 0, std::string(payload)});
    return events.size() != stop_after_;
  }
  void OnClose(uint16_t code, std::string_view reason) override {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(code == parley::net::kWsCloseNoStatus || parley::net::IsValidWsCloseCode(code));
    FUZZ_CHECK(code != parley::net::kWsCloseNoStatus || reason.empty());
    FUZZ_CHECK(reason.size() <= 123);
    FUZZ_CHECK(parley::net::IsValidUtf8(reason));
    events.push_back({'c', WsOpcode::kClose, code, std::string(reason)});
    done = true;
  }

  std::vector<Event> events;
  bool done = false;

 private:
  uint32_t max_;
  size_t stop_after_;
};

struct Outcome {
  std::vector<Event> events;
  Status status;
  uint16_t code;
  bool operator==(const Outcome&) const = default;
};

// Feeds `wire` in chunks ending at `cuts` (ascending, the last == size),
// moving the parser to a new object between chunks if `move`.
Outcome Feed(std::string_view wire, uint32_t max, size_t stop_after,
             const std::vector<size_t>& cuts, bool move = false) {
  WsFrameParser parser(max);
  Checker checker(max, stop_after);
  Status st = Status::kOk;
  size_t pos = 0;
  for (size_t cut : cuts) {
    // Each chunk in its own allocation, so ASan catches reads past it.
    std::vector<uint8_t> chunk(wire.begin() + pos, wire.begin() + cut);
    if (move) {
      WsFrameParser moved(std::move(parser));
      parser = std::move(moved);
    }
    const Status prev = st;
    const size_t events_before = checker.events.size();
    st = parser.Consume(chunk, checker);
    pos = cut;
    FUZZ_CHECK(st == parser.status());
    FUZZ_CHECK(parser.buffer_capacity() <= size_t{max} + 125);
    if (prev != Status::kOk) {
      // Done for good: same status, no callbacks.
      FUZZ_CHECK(st == prev);
      FUZZ_CHECK(checker.events.size() == events_before);
    }
    if (st != Status::kOk) FUZZ_CHECK(parser.buffer_capacity() == 0);
    FUZZ_CHECK((st == Status::kClosed) == checker.done);
    if (st == Status::kFailed) {
      const uint16_t c = parser.close_code();
      FUZZ_CHECK(c == 1002 || c == 1007 || c == 1009);
    }
  }
  FUZZ_CHECK((st == Status::kStopped) ==
             (stop_after > 0 && checker.events.size() == stop_after && !checker.done));
  return {checker.events, st, st == Status::kFailed ? parser.close_code() : uint16_t{0}};
}

// Server frames (unmasked) to client frames (masked with `key`).
std::string Mask(std::string_view wire, uint32_t key) {
  std::string out;
  size_t pos = 0;
  while (pos < wire.size()) {
    const auto byte1 = static_cast<uint8_t>(wire[pos + 1]);
    size_t header = 2;
    uint64_t len = byte1 & 0x7F;
    if (len >= 126) {
      const size_t width = len == 126 ? 2 : 8;
      len = 0;
      for (size_t i = 0; i < width; ++i) len = len << 8 | static_cast<uint8_t>(wire[pos + 2 + i]);
      header += width;
    }
    out.append(wire.substr(pos, header));
    out[out.size() - header + 1] = static_cast<char>(byte1 | 0x80);
    const uint8_t k[4] = {static_cast<uint8_t>(key >> 24), static_cast<uint8_t>(key >> 16),
                          static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
    out.append(reinterpret_cast<const char*>(k), 4);
    for (uint64_t i = 0; i < len; ++i) {
      out.push_back(static_cast<char>(wire[pos + header + i] ^ k[i & 3]));
    }
    pos += header + len;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static constexpr uint32_t kMaxSizes[] = {1, 16, 125, 4096};
  const uint32_t max = kMaxSizes[data[0] & 3];
  const size_t stop_after = data[0] >> 2;
  const size_t split_at = static_cast<size_t>(data[1]) << 8 | data[2];
  const std::string_view wire(reinterpret_cast<const char*>(data + 3), size - 3);

  const Outcome whole = Feed(wire, max, stop_after, {wire.size()});
  const size_t split = split_at % (wire.size() + 1);
  FUZZ_CHECK(Feed(wire, max, stop_after, {split, wire.size()}, /*move=*/true) == whole);
  std::vector<size_t> every(wire.size());
  for (size_t i = 0; i < wire.size(); ++i) every[i] = i + 1;
  FUZZ_CHECK(Feed(wire, max, stop_after, every) == whole);

  // Round trip: what was delivered, written back, parses to the same events.
  std::string server;
  for (const Event& e : whole.events) {
    switch (e.kind) {
      case 'm':
        if (e.opcode == WsOpcode::kText) {
          parley::net::AppendTextFrame(&server, e.payload);
        } else {
          parley::net::AppendBinaryFrame(&server, e.payload);
        }
        break;
      case 'i':
        parley::net::AppendPingFrame(&server, e.payload);
        break;
      case 'o':
        parley::net::AppendPongFrame(&server, e.payload);
        break;
      default:
        parley::net::AppendCloseFrame(&server, e.code, e.payload);
    }
  }
  const std::string client = Mask(server, static_cast<uint32_t>(split_at) * 0x9E3779B1u);
  const Outcome again = Feed(client, max, 0, {client.size()});
  FUZZ_CHECK(again.events == whole.events);
  FUZZ_CHECK(again.status == (whole.status == Status::kClosed ? Status::kClosed : Status::kOk));
  return 0;
}
