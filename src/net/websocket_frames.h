// RFC 6455 WebSocket framing for the gateway (server side), built for a small
// memory footprint per idle connection: the receive buffer belongs to the
// event loop, and each connection keeps only a WsFrameParser (40 bytes) plus,
// while a message is incomplete, a lazily allocated buffer for its bytes.
//
// Strict: no extensions are negotiated, so RSV bits must be 0; client frames
// must be masked; text must be valid UTF-8 (checked as it arrives, across
// fragments); close frames must carry a valid code. A violation fails the
// connection with the close code that RFC 6455 section 7.4.1 gives for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace parley::net {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close status codes (RFC 6455 section 7.4.1) used by this layer.
inline constexpr uint16_t kWsCloseNormal = 1000;
inline constexpr uint16_t kWsCloseGoingAway = 1001;
inline constexpr uint16_t kWsCloseProtocolError = 1002;
inline constexpr uint16_t kWsCloseUnsupportedData = 1003;
// Never on the wire: stands for "the Close frame had no payload".
inline constexpr uint16_t kWsCloseNoStatus = 1005;
inline constexpr uint16_t kWsCloseInvalidPayload = 1007;
inline constexpr uint16_t kWsClosePolicyViolation = 1008;
inline constexpr uint16_t kWsCloseMessageTooBig = 1009;
inline constexpr uint16_t kWsCloseInternalError = 1011;

// True iff `code` may appear in a Close frame: 1000-1003, 1007-1011 or
// 3000-4999 (1004, 1005, 1006 and 1015 are reserved and never sent).
bool IsValidWsCloseCode(uint16_t code);

// Incremental UTF-8 validator (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF): a 9-state DFA whose whole state is one byte, so
// that a text message can be checked fragment by fragment, however its
// characters are split.
class Utf8Validator {
 public:
  // Feeds the next bytes. Returns false iff the bytes fed so far are not a
  // prefix of any valid UTF-8 string; once false, stays false until Reset().
  bool Feed(std::string_view bytes);
  // True iff the bytes fed so far are valid UTF-8 and end on a character
  // boundary.
  bool complete() const { return state_ == 0; }
  void Reset() { state_ = 0; }

 private:
  uint8_t state_ = 0;
};

bool IsValidUtf8(std::string_view bytes);

// Server-side frame parser for one connection. Feed it the bytes read from
// the socket, however they happen to be split; it calls the handler for every
// complete message (fragments reassembled), ping, pong and close.
//
// A complete frame that arrives in one Consume() call is handed to the
// handler in place (no copy). Only the payload of an unfinished message (or
// of a ping/pong/close split across reads) is copied into a buffer that the
// parser allocates on demand and frees as soon as the message is complete.
//
// Not thread-safe; one parser per connection.
class WsFrameParser {
 public:
  // The gateway's limit on a client message (Discord's is 4096 bytes).
  static constexpr uint32_t kDefaultMaxMessageSize = 4096;
  // The largest supported `max_message_size`.
  static constexpr uint32_t kMaxMessageSizeLimit = 1u << 30;

  // Callbacks. A `payload` points into the input of Consume() or into the
  // parser's buffer: it is valid only during the call. A handler must not
  // call Consume() on the same parser.
  class Handler {
   public:
    virtual ~Handler() = default;
    // A complete message: `opcode` is kText (then `payload` is valid UTF-8)
    // or kBinary. Return false to stop parsing (Consume returns kStopped).
    virtual bool OnMessage(WsOpcode opcode, std::string_view payload) = 0;
    // Return false to stop parsing. The server should answer with a pong
    // carrying the same payload.
    virtual bool OnPing(std::string_view payload) = 0;
    // An unsolicited pong (a heartbeat) or the answer to a ping: ignored by
    // default.
    virtual bool OnPong(std::string_view /*payload*/) { return true; }
    // A valid Close frame: `code` is kWsCloseNoStatus if it had no payload,
    // else a code for which IsValidWsCloseCode() holds; `reason` is valid
    // UTF-8. Parsing ends here: all later input is ignored.
    virtual void OnClose(uint16_t code, std::string_view reason) = 0;
  };

  enum class Status : uint8_t {
    kOk,       // All input was consumed; feed more as it arrives.
    kClosed,   // OnClose() was called; the rest of the input was ignored.
    kStopped,  // A handler returned false; the rest of the input was ignored.
    kFailed,   // The peer broke the protocol: fail the connection, sending a
               // Close frame with close_code(). Nothing more is parsed.
  };

  // REQUIRES: 0 < max_message_size <= kMaxMessageSizeLimit.
  explicit WsFrameParser(uint32_t max_message_size = kDefaultMaxMessageSize);
  ~WsFrameParser();
  WsFrameParser(WsFrameParser&& other) noexcept;
  WsFrameParser& operator=(WsFrameParser&& other) noexcept;
  WsFrameParser(const WsFrameParser&) = delete;
  WsFrameParser& operator=(const WsFrameParser&) = delete;

  // Parses `data`, the next bytes received, calling `handler` for each
  // complete message or control frame in it. Unmasks payloads in place, so
  // `data` is modified. Once the result is not kOk, the parser is done:
  // later calls return the same status, consume nothing and call nothing.
  Status Consume(std::span<uint8_t> data, Handler& handler);

  Status status() const;
  // REQUIRES: status() == Status::kFailed. 1002, 1007 or 1009.
  uint16_t close_code() const { return close_code_; }
  uint32_t max_message_size() const { return max_message_size_; }
  // Bytes held on the heap for an unfinished message; 0 between messages and
  // once the parser is done.
  size_t buffer_capacity() const { return buf_cap_; }

 private:
  bool BeginPayload();
  bool OnPayload(uint8_t* p, size_t n, bool whole_frame, Handler& handler);
  bool DeliverControl(std::string_view payload, Handler& handler);
  void Append(const uint8_t* p, size_t n, size_t at);
  bool Fail(uint16_t code);  // Returns false.
  Status Failed(uint16_t code);
  void End(uint8_t phase);
  void FreeBuffer();

  // 40 bytes on LP64 (checked in the .cc file).
  uint8_t* buf_ = nullptr;      // Unfinished message, then partial control payload.
  uint32_t buf_len_ = 0;        // Bytes of the unfinished message in buf_.
  uint32_t buf_cap_ = 0;        // Allocated size of buf_.
  uint32_t max_message_size_;   // Limit on a reassembled data message.
  uint32_t remaining_ = 0;      // Payload bytes of the frame still to come.
  uint8_t mask_[4] = {};        // Masking key of the current frame.
  uint16_t close_code_ = 0;     // Set when failed.
  uint8_t phase_ = 0;           // Where in the frame the next byte goes.
  uint8_t header_ = 0;          // First byte of the current frame.
  uint8_t need_ = 0;            // Header bytes (length or mask) still to come.
  uint8_t mask_pos_ = 0;        // Index into mask_ of the next payload byte.
  uint8_t message_opcode_ = 0;  // 0, or kText/kBinary while a message is open.
  uint8_t control_len_ = 0;     // Control payload bytes in buf_ after buf_len_.
  Utf8Validator utf8_;          // State of an open text message.
};

// Frame writers (server to client: never masked). Each appends to `*out`.

// REQUIRES: for control opcodes, fin && payload_len <= 125.
void AppendFrameHeader(std::string* out, WsOpcode opcode, uint64_t payload_len, bool fin = true);
// REQUIRES: `text` is valid UTF-8.
void AppendTextFrame(std::string* out, std::string_view text);
void AppendBinaryFrame(std::string* out, std::string_view data);
// Writes a Close frame with `code` and `reason`, cut to 123 bytes on a UTF-8
// character boundary; with code == kWsCloseNoStatus, an empty Close frame.
// REQUIRES: code == kWsCloseNoStatus or IsValidWsCloseCode(code); `reason`
// is valid UTF-8.
void AppendCloseFrame(std::string* out, uint16_t code, std::string_view reason = {});
// REQUIRES: payload.size() <= 125.
void AppendPingFrame(std::string* out, std::string_view payload = {});
// REQUIRES: payload.size() <= 125.
void AppendPongFrame(std::string* out, std::string_view payload);

// Opening handshake: the Sec-WebSocket-Accept value for a client's
// Sec-WebSocket-Key, base64(SHA-1(key + RFC 6455 GUID)).
std::string WebSocketAccept(std::string_view sec_websocket_key);
// True iff `key` is a valid Sec-WebSocket-Key: base64 of 16 bytes (24 chars).
bool IsValidWebSocketKey(std::string_view key);

}  // namespace parley::net
