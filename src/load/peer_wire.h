// Small parsers and writers for the peers' wire protocols (NATS text protocol,
// Redis RESP) and for picking numbers out of JSON without parsing it. Shared
// by the worker's subscribers and the peer publisher; unit-tested in
// peer_wire_test.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace parley::load::peer {

// The decimal integer right after the first `key` at or after `from`; -1 if
// absent or not a number. *end: the index after its last digit.
int64_t IntAfter(std::string_view p, std::string_view key, size_t from = 0, size_t* end = nullptr);

// One NATS server operation.
struct NatsEvent {
  enum Kind { kInfo, kMsg, kPing, kPong, kOk, kErr, kBad } kind = kBad;
  std::string_view payload;  // kMsg: the message; kErr: the error text
};
// Parses the operation at the start of p. Returns the bytes it used, 0 when
// p holds no whole operation yet (kBad with a nonzero size: not NATS).
size_t ParseNats(std::string_view p, NatsEvent* e);

// A RESP value: arrays of bulk/simple strings and integers are flattened into
// items (integers as their digits); "-ERR ..." sets error.
struct RespReply {
  std::vector<std::string_view> items;
  bool error = false, bad = false;
};
// Parses the reply at the start of p. Returns the bytes used, 0 when it is
// not whole yet.
size_t ParseResp(std::string_view p, RespReply* r);

// A RESP array command: *N\r\n$len\r\narg\r\n...
std::string RedisCommand(std::initializer_list<std::string_view> args);

}  // namespace parley::load::peer
