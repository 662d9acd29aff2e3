#include "load/ws_client_codec.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace parley::load::ws {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string Base64(const unsigned char* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(len > 0 ? static_cast<size_t>(len) : 0);
  return out;
}

std::string AcceptFor(const std::string& key) {
  std::string in = key + std::string(kGuid);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  return Base64(md, len);
}

}  // namespace

std::string UpgradeRequest(std::string_view host, int port, std::string_view target,
                           const unsigned char key[16]) {
  std::string r;
  r.reserve(256);
  r.append("GET ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append(":").append(std::to_string(port));
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
  r.append(Base64(key, 16)).append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

HandshakeResult ParseHandshake(const char* p, size_t n, const unsigned char key[16], size_t* used,
                               std::string* error) {
  std::string_view v(p, n);
  size_t end = v.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (n > 16384) {
      *error = "handshake-too-long";
      return HandshakeResult::kError;
    }
    return HandshakeResult::kNeedMore;
  }
  std::string head(v.substr(0, end + 2));
  if (head.rfind("HTTP/1.1 101", 0) != 0) {
    *error = "http-" + head.substr(9, 3);
    return HandshakeResult::kError;
  }
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t a = lower.find("\r\nsec-websocket-accept:");
  std::string got;
  if (a != std::string::npos) {
    size_t b = a + 23;
    while (b < head.size() && head[b] == ' ') ++b;
    size_t e = head.find("\r\n", b);
    got = head.substr(b, e - b);  // base64 is case-sensitive: the original bytes
  }
  if (got != AcceptFor(Base64(key, 16))) {
    *error = "bad-sec-websocket-accept";
    return HandshakeResult::kError;
  }
  *used = end + 4;
  return HandshakeResult::kOk;
}

void AppendFrame(std::string* out, uint8_t opcode, std::string_view payload, uint32_t mask) {
  std::string& f = *out;
  f.push_back(static_cast<char>(0x80 | opcode));
  size_t len = payload.size();
  if (len < 126) {
    f.push_back(static_cast<char>(0x80 | len));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>((len >> 8) & 0xff));
    f.push_back(static_cast<char>(len & 0xff));
  }
  char m[4];
  std::memcpy(m, &mask, 4);
  f.append(m, 4);
  size_t at = f.size();
  f.resize(at + len);
  for (size_t i = 0; i < len; ++i) f[at + i] = static_cast<char>(payload[i] ^ m[i & 3]);
}

FrameResult ParseFrame(const char* p, size_t n, size_t max_payload, Frame* f, std::string* error) {
  if (n < 2) return FrameResult::kNeedMore;
  auto b0 = static_cast<uint8_t>(p[0]), b1 = static_cast<uint8_t>(p[1]);
  if (b1 & 0x80) {
    *error = "masked-server-frame";
    return FrameResult::kError;
  }
  uint64_t len = b1 & 0x7f;
  size_t h = 2;
  if (len == 126) {
    if (n < 4) return FrameResult::kNeedMore;
    len = (static_cast<uint64_t>(static_cast<uint8_t>(p[2])) << 8) | static_cast<uint8_t>(p[3]);
    h = 4;
  } else if (len == 127) {
    if (n < 10) return FrameResult::kNeedMore;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(p[2 + i]);
    h = 10;
  }
  if (len > max_payload) {
    *error = "frame-too-large";
    return FrameResult::kError;
  }
  if (n - h < len) return FrameResult::kNeedMore;
  if (!(b0 & 0x80) || (b0 & 0x0f) == 0) {
    *error = "fragmented-frame";
    return FrameResult::kError;
  }
  f->opcode = b0 & 0x0f;
  f->payload = std::string_view(p + h, static_cast<size_t>(len));
  f->size = h + static_cast<size_t>(len);
  return FrameResult::kOk;
}

}  // namespace parley::load::ws
