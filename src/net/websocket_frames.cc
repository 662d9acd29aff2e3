#include "net/websocket_frames.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace parley::net {

// The per-connection state budget: see the class comment.
static_assert(sizeof(WsFrameParser) <= 40, "WsFrameParser grew past its 40-byte budget");
static_assert(sizeof(Utf8Validator) == 1);

bool IsValidWsCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

// ---------------------------------------------------------------------------
// UTF-8
//
// Each byte falls in one of 12 classes; the DFA moves on the class. States:
//   0 accept (on a character boundary)     1 reject (sticky)
//   2 need 1 more continuation byte        3 need 2      4 need 3
//   5 after E0: need A0..BF, then 1 more   (no overlong 3-byte forms)
//   6 after ED: need 80..9F, then 1 more   (no surrogates D800..DFFF)
//   7 after F0: need 90..BF, then 2 more   (no overlong 4-byte forms)
//   8 after F4: need 80..8F, then 2 more   (nothing above U+10FFFF)

namespace {

enum Utf8Class : uint8_t {
  kAscii,   // 00..7F
  kCont8,   // 80..8F
  kCont9,   // 90..9F
  kContA,   // A0..BF
  kBad,     // C0, C1, F5..FF
  kLead2,   // C2..DF
  kLeadE0,  // E0
  kLead3,   // E1..EC, EE, EF
  kLeadED,  // ED
  kLeadF0,  // F0
  kLead4,   // F1..F3
  kLeadF4,  // F4
  kClasses,
};

constexpr uint8_t kAccept = 0;
constexpr uint8_t kReject = 1;

constexpr uint8_t ClassOf(unsigned b) {
  if (b < 0x80) return kAscii;
  if (b < 0x90) return kCont8;
  if (b < 0xA0) return kCont9;
  if (b < 0xC0) return kContA;
  if (b < 0xC2) return kBad;
  if (b < 0xE0) return kLead2;
  if (b == 0xE0) return kLeadE0;
  if (b == 0xED) return kLeadED;
  if (b < 0xF0) return kLead3;
  if (b == 0xF0) return kLeadF0;
  if (b < 0xF4) return kLead4;
  if (b == 0xF4) return kLeadF4;
  return kBad;
}

constexpr std::array<uint8_t, 256> kUtf8Class = [] {
  std::array<uint8_t, 256> t{};
  for (unsigned b = 0; b < 256; ++b) t[b] = ClassOf(b);
  return t;
}();

// kUtf8Next[state * kClasses + class]. Columns in Utf8Class order:
//   Ascii 80 90 A0 Bad C2 E0 E1 ED F0 F1 F4
constexpr uint8_t kUtf8Next[9 * kClasses] = {
    0, 1, 1, 1, 1, 2, 5, 3, 6, 7, 4, 8,  // 0 accept
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 1 reject
    1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  // 2 need 1
    1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1,  // 3 need 2
    1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1,  // 4 need 3
    1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1,  // 5 after E0
    1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 6 after ED
    1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1,  // 7 after F0
    1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 8 after F4
};

}  // namespace

bool Utf8Validator::Feed(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* const end = p + bytes.size();
  uint8_t s = state_;
  while (p != end && s != kReject) {
    if (s == kAccept) {
      // ASCII fast path: 8 bytes at a time while no high bit is set.
      while (end - p >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        if (v & 0x8080808080808080ull) break;
        p += 8;
      }
      if (p == end) break;
    }
    s = kUtf8Next[s * kClasses + kUtf8Class[*p++]];
  }
  state_ = s;
  return s != kReject;
}

bool IsValidUtf8(std::string_view bytes) {
  Utf8Validator v;
  return v.Feed(bytes) && v.complete();
}

// ---------------------------------------------------------------------------
// WsFrameParser

namespace {

enum Phase : uint8_t {
  kByte0,    // FIN, RSV, opcode
  kByte1,    // MASK, 7-bit length
  kExtLen,   // 16- or 64-bit length; need_ bytes to go
  kMask,     // masking key; need_ bytes to go
  kPayload,  // remaining_ bytes to go
  // Terminal phases.
  kClosed,
  kStopped,
  kFailed,
};

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsv = 0x70;
constexpr uint8_t kOpcodeMask = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kMaxControlPayload = 125;

bool IsControl(uint8_t opcode) {
  return opcode & 0x8;
}

std::string_view View(const uint8_t* p, size_t n) {
  return std::string_view(reinterpret_cast<const char*>(p), n);
}

// XORs p[0..n) with the key, starting at key byte `pos`.
void Unmask(uint8_t* p, size_t n, const uint8_t key[4], uint8_t pos) {
  uint8_t k8[8];
  for (int i = 0; i < 8; ++i) k8[i] = key[(pos + i) & 3];
  uint64_t k;
  std::memcpy(&k, k8, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] ^= k8[i & 7];
}

}  // namespace

WsFrameParser::WsFrameParser(uint32_t max_message_size) : max_message_size_(max_message_size) {
  assert(max_message_size > 0 && max_message_size <= kMaxMessageSizeLimit);
}

WsFrameParser::~WsFrameParser() {
  std::free(buf_);
}

WsFrameParser::WsFrameParser(WsFrameParser&& other) noexcept
    : max_message_size_(other.max_message_size_) {
  *this = std::move(other);
}

WsFrameParser& WsFrameParser::operator=(WsFrameParser&& other) noexcept {
  if (this == &other) return *this;
  std::free(buf_);
  buf_ = std::exchange(other.buf_, nullptr);
  buf_len_ = std::exchange(other.buf_len_, 0);
  buf_cap_ = std::exchange(other.buf_cap_, 0);
  max_message_size_ = other.max_message_size_;
  remaining_ = other.remaining_;
  std::memcpy(mask_, other.mask_, sizeof mask_);
  close_code_ = other.close_code_;
  phase_ = other.phase_;
  header_ = other.header_;
  need_ = other.need_;
  mask_pos_ = other.mask_pos_;
  message_opcode_ = other.message_opcode_;
  control_len_ = std::exchange(other.control_len_, 0);
  utf8_ = other.utf8_;
  // The moved-from parser must not pretend to hold a partial message.
  other.message_opcode_ = 0;
  other.phase_ = kByte0;
  return *this;
}

WsFrameParser::Status WsFrameParser::status() const {
  switch (phase_) {
    case kClosed:
      return Status::kClosed;
    case kStopped:
      return Status::kStopped;
    case kFailed:
      return Status::kFailed;
    default:
      return Status::kOk;
  }
}

void WsFrameParser::FreeBuffer() {
  std::free(buf_);
  buf_ = nullptr;
  buf_cap_ = 0;
}

void WsFrameParser::End(uint8_t phase) {
  phase_ = phase;
  buf_len_ = 0;
  control_len_ = 0;
  message_opcode_ = 0;
  FreeBuffer();
}

bool WsFrameParser::Fail(uint16_t code) {
  close_code_ = code;
  End(kFailed);
  return false;
}

WsFrameParser::Status WsFrameParser::Failed(uint16_t code) {
  Fail(code);
  return Status::kFailed;
}

void WsFrameParser::Append(const uint8_t* p, size_t n, size_t at) {
  if (n == 0) return;
  const size_t need = at + n;
  // Callers check the limits first: a message never exceeds the maximum and
  // a control payload after it never exceeds 125 bytes.
  const size_t limit = size_t{max_message_size_} + kMaxControlPayload;
  assert(need <= limit);
  if (need > buf_cap_) {
    size_t cap = std::max<size_t>({need, size_t{buf_cap_} * 2, 128});
    cap = std::min(cap, limit);
    void* grown = std::realloc(buf_, cap);
    if (grown == nullptr) throw std::bad_alloc();
    buf_ = static_cast<uint8_t*>(grown);
    buf_cap_ = static_cast<uint32_t>(cap);
  }
  std::memcpy(buf_ + at, p, n);
}

// Called once the frame's length is known: checks it against the limits.
bool WsFrameParser::BeginPayload() {
  if (!IsControl(header_ & kOpcodeMask) &&
      uint64_t{buf_len_} + remaining_ > uint64_t{max_message_size_}) {
    return Fail(kWsCloseMessageTooBig);
  }
  phase_ = kMask;
  need_ = 4;
  return true;
}

bool WsFrameParser::DeliverControl(std::string_view payload, Handler& handler) {
  switch (static_cast<WsOpcode>(header_ & kOpcodeMask)) {
    case WsOpcode::kPing:
      if (handler.OnPing(payload)) return true;
      End(kStopped);
      return false;
    case WsOpcode::kPong:
      if (handler.OnPong(payload)) return true;
      End(kStopped);
      return false;
    default: {  // kClose: the opcode was checked in Consume().
      uint16_t code = kWsCloseNoStatus;
      std::string_view reason;
      if (!payload.empty()) {
        if (payload.size() < 2) return Fail(kWsCloseProtocolError);
        code = static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 |
                                     static_cast<uint8_t>(payload[1]));
        if (!IsValidWsCloseCode(code)) return Fail(kWsCloseProtocolError);
        reason = payload.substr(2);
        if (!IsValidUtf8(reason)) return Fail(kWsCloseInvalidPayload);
      }
      handler.OnClose(code, reason);
      End(kClosed);  // After the call: `payload` may point into buf_.
      return false;
    }
  }
}

// `p[0..n)` are the next payload bytes of the current frame, still masked;
// remaining_ already excludes them. `whole_frame`: they are the entire
// payload. Returns false once the parser is done.
bool WsFrameParser::OnPayload(uint8_t* p, size_t n, bool whole_frame, Handler& handler) {
  Unmask(p, n, mask_, mask_pos_);
  mask_pos_ = static_cast<uint8_t>((mask_pos_ + n) & 3);
  const uint8_t opcode = header_ & kOpcodeMask;

  if (IsControl(opcode)) {
    if (whole_frame) return DeliverControl(View(p, n), handler);
    Append(p, n, size_t{buf_len_} + control_len_);
    control_len_ = static_cast<uint8_t>(control_len_ + n);
    if (remaining_ > 0) return true;
    const std::string_view payload = View(buf_ + buf_len_, control_len_);
    control_len_ = 0;
    if (!DeliverControl(payload, handler)) return false;
    if (buf_len_ == 0) FreeBuffer();
    return true;
  }

  const bool text = message_opcode_ == static_cast<uint8_t>(WsOpcode::kText);
  if (text && !utf8_.Feed(View(p, n))) return Fail(kWsCloseInvalidPayload);
  const bool fin = header_ & kFin;
  std::string_view message;
  if (whole_frame && fin && buf_len_ == 0) {
    message = View(p, n);  // Zero copy: the whole message is in the input.
  } else {
    Append(p, n, buf_len_);
    buf_len_ += static_cast<uint32_t>(n);
    if (remaining_ > 0 || !fin) return true;
    message = View(buf_, buf_len_);
  }
  if (text && !utf8_.complete()) return Fail(kWsCloseInvalidPayload);
  const auto message_opcode = static_cast<WsOpcode>(message_opcode_);
  message_opcode_ = 0;
  buf_len_ = 0;
  utf8_.Reset();
  const bool go_on = handler.OnMessage(message_opcode, message);
  FreeBuffer();  // After the call: `message` may point into buf_.
  if (!go_on) End(kStopped);
  return go_on;
}

WsFrameParser::Status WsFrameParser::Consume(std::span<uint8_t> data, Handler& handler) {
  uint8_t* p = data.data();
  uint8_t* const end = p + data.size();
  bool fresh = false;  // The current frame's payload starts in this call.
  for (;;) {
    switch (phase_) {
      case kByte0: {
        if (p == end) return Status::kOk;
        const uint8_t b = *p++;
        if (b & kRsv) return Failed(kWsCloseProtocolError);
        const uint8_t opcode = b & kOpcodeMask;
        switch (static_cast<WsOpcode>(opcode)) {
          case WsOpcode::kContinuation:
            if (message_opcode_ == 0) return Failed(kWsCloseProtocolError);
            break;
          case WsOpcode::kText:
          case WsOpcode::kBinary:
            if (message_opcode_ != 0) return Failed(kWsCloseProtocolError);
            message_opcode_ = opcode;
            break;
          case WsOpcode::kClose:
          case WsOpcode::kPing:
          case WsOpcode::kPong:
            if (!(b & kFin)) return Failed(kWsCloseProtocolError);
            break;
          default:
            return Failed(kWsCloseProtocolError);
        }
        header_ = b;
        phase_ = kByte1;
        break;
      }
      case kByte1: {
        if (p == end) return Status::kOk;
        const uint8_t b = *p++;
        if (!(b & kMaskBit)) return Failed(kWsCloseProtocolError);
        const uint8_t len = b & 0x7F;
        if (IsControl(header_ & kOpcodeMask) && len > kMaxControlPayload) {
          return Failed(kWsCloseProtocolError);
        }
        remaining_ = 0;
        if (len == 126) {
          phase_ = kExtLen;
          need_ = 2;
        } else if (len == 127) {
          phase_ = kExtLen;
          need_ = 8;
        } else {
          remaining_ = len;
          if (!BeginPayload()) return Status::kFailed;
        }
        break;
      }
      case kExtLen: {
        for (; need_ > 0; --need_) {
          if (p == end) return Status::kOk;
          const uint8_t b = *p++;
          // RFC 6455 5.2: the most significant bit of a 64-bit length is 0.
          if (need_ == 8 && (b & 0x80)) return Failed(kWsCloseProtocolError);
          // remaining_ is 32 bits: a length that would not fit is over any
          // message limit (non-minimal encodings with leading zeros are fine).
          if (remaining_ > 0x00FFFFFF) return Failed(kWsCloseMessageTooBig);
          remaining_ = remaining_ << 8 | b;
        }
        if (!BeginPayload()) return Status::kFailed;
        break;
      }
      case kMask: {
        for (; need_ > 0; --need_) {
          if (p == end) return Status::kOk;
          mask_[4 - need_] = *p++;
        }
        mask_pos_ = 0;
        phase_ = kPayload;
        fresh = true;
        break;
      }
      case kPayload: {
        const size_t avail = static_cast<size_t>(end - p);
        if (avail == 0 && remaining_ > 0) return Status::kOk;
        const size_t n = std::min<size_t>(avail, remaining_);
        const bool whole_frame = fresh && n == remaining_;
        fresh = false;
        remaining_ -= static_cast<uint32_t>(n);
        if (remaining_ == 0) phase_ = kByte0;
        p += n;
        if (!OnPayload(p - n, n, whole_frame, handler)) return status();
        break;
      }
      default:  // Done for good.
        return status();
    }
  }
}

// ---------------------------------------------------------------------------
// Writers

void AppendFrameHeader(std::string* out, WsOpcode opcode, uint64_t payload_len, bool fin) {
  assert(!IsControl(static_cast<uint8_t>(opcode)) || (fin && payload_len <= kMaxControlPayload));
  char h[10];
  size_t n = 0;
  h[n++] = static_cast<char>((fin ? kFin : 0) | static_cast<uint8_t>(opcode));
  if (payload_len < 126) {
    h[n++] = static_cast<char>(payload_len);
  } else if (payload_len <= 0xFFFF) {
    h[n++] = 126;
    h[n++] = static_cast<char>(payload_len >> 8);
    h[n++] = static_cast<char>(payload_len);
  } else {
    h[n++] = 127;
    for (int shift = 56; shift >= 0; shift -= 8) h[n++] = static_cast<char>(payload_len >> shift);
  }
  out->append(h, n);
}

namespace {
void AppendFrame(std::string* out, WsOpcode opcode, std::string_view payload) {
  AppendFrameHeader(out, opcode, payload.size(), true);
  out->append(payload);
}
}  // namespace

void AppendTextFrame(std::string* out, std::string_view text) {
  assert(IsValidUtf8(text));
  AppendFrame(out, WsOpcode::kText, text);
}

void AppendBinaryFrame(std::string* out, std::string_view data) {
  AppendFrame(out, WsOpcode::kBinary, data);
}

void AppendCloseFrame(std::string* out, uint16_t code, std::string_view reason) {
  if (code == kWsCloseNoStatus) {
    AppendFrameHeader(out, WsOpcode::kClose, 0, true);
    return;
  }
  assert(IsValidWsCloseCode(code));
  size_t n = std::min<size_t>(reason.size(), kMaxControlPayload - 2);
  // Do not cut a character: back up over continuation bytes.
  while (n > 0 && n < reason.size() && (static_cast<uint8_t>(reason[n]) & 0xC0) == 0x80) --n;
  AppendFrameHeader(out, WsOpcode::kClose, 2 + n, true);
  out->push_back(static_cast<char>(code >> 8));
  out->push_back(static_cast<char>(code & 0xFF));
  out->append(reason.substr(0, n));
}

void AppendPingFrame(std::string* out, std::string_view payload) {
  AppendFrame(out, WsOpcode::kPing, payload);
}

void AppendPongFrame(std::string* out, std::string_view payload) {
  AppendFrame(out, WsOpcode::kPong, payload);
}

// ---------------------------------------------------------------------------
// Handshake

std::string WebSocketAccept(std::string_view sec_websocket_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(sec_websocket_key.size() + kGuid.size());
  input.append(sec_websocket_key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1 ||
      digest_len != 20) {
    return std::string();
  }
  unsigned char b64[29];  // 4 * ceil(20 / 3) + NUL
  const int n = EVP_EncodeBlock(b64, digest, 20);
  return std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(n));
}

bool IsValidWebSocketKey(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

}  // namespace parley::net
