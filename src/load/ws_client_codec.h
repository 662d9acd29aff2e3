// The client side of RFC 6455 that parley-load needs, shared by the worker's
// sessions and the peer publisher: the upgrade request and its accept check,
// masked frames out, unmasked server frames in. No extensions, no fragments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parley::load::ws {

// The GET request upgrading to WebSocket at `target`, with `key` (16 bytes,
// base64-encoded on the wire).
std::string UpgradeRequest(std::string_view host, int port, std::string_view target,
                           const unsigned char key[16]);

enum class HandshakeResult { kNeedMore, kOk, kError };
// Checks the reply head in p[0, n): 101 and the right Sec-WebSocket-Accept.
// kOk: *used is the head's length. kError: *error says why.
HandshakeResult ParseHandshake(const char* p, size_t n, const unsigned char key[16], size_t* used,
                               std::string* error);

// Appends one masked, final frame. REQUIRES: payload.size() < 65536.
void AppendFrame(std::string* out, uint8_t opcode, std::string_view payload, uint32_t mask);

struct Frame {
  uint8_t opcode = 0;
  std::string_view payload;  // points into the parsed bytes
  size_t size = 0;           // header + payload
};
enum class FrameResult { kNeedMore, kOk, kError };
// Parses the frame at p[0, n). kError: *error says why (masked, fragmented,
// over max_payload bytes).
FrameResult ParseFrame(const char* p, size_t n, size_t max_payload, Frame* f, std::string* error);

}  // namespace parley::load::ws
