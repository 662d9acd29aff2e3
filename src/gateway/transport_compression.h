// Gateway transport compression: `compress=zlib-stream` and `compress=zstd-stream`.
//
// One TransportCompressor per WebSocket connection. It owns ONE compression
// stream for the whole life of the connection (one deflate stream, or one
// ZSTD_CCtx whose frame is never ended); every gateway message is compressed
// and flushed on its own, so the client can decode each binary WebSocket
// message as soon as it arrives with a single streaming decompressor:
//   - zlib-stream: zlib format (2-byte header on the first message, no
//     trailer ever), each message ends with a Z_SYNC_FLUSH, i.e. with the
//     bytes 00 00 ff ff. A client inflater with windowBits 15 (discord.js)
//     reads any smaller server window.
//   - zstd-stream: each message is compressed with ZSTD_e_flush; the frame
//     header goes out with the first non-empty message.
//
// Memory: the zlib/zstd state is allocated lazily on the first message, so an
// idle connection that has not been sent anything costs sizeof(TransportCompressor)
// (16 bytes) only. The state is bounded by CompressionOptions; the defaults keep
// it <= 64 KB for zlib-stream and <= 320 KB for zstd-stream per connection.
//
// Thread safety: a TransportCompressor is not thread-safe; use it from the
// connection's strand only. Distinct compressors are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace parley {

enum class Compression : uint8_t { kNone, kZlibStream, kZstdStream };

// Parses the gateway URL's `compress` query value ("zlib-stream",
// "zstd-stream"). Returns false (and leaves *out alone) for anything else.
bool ParseCompression(std::string_view value, Compression* out);
// "none", "zlib-stream" or "zstd-stream".
std::string_view CompressionName(Compression c);

// Per-connection memory/ratio knobs. Defaults measured (zlib 1.2.13, zstd
// 1.5.4, x86-64) on 100 Discord-like MESSAGE_CREATE dispatches of ~780 bytes
// of JSON sent in a row on one connection:
//   zlib-stream 13/5/6:      55 KB per connection, 129 bytes per message
//   zstd-stream 6/15/13/13: 289 KB per connection, 110 bytes per message
// A zstd window over 2^15 does not fit 320 KB: the streaming CCtx holds about
// 8x its window (input and output buffers, sequence store) besides the tables.
struct CompressionOptions {
  // deflateInit2 parameters (zlib wrapper, never raw/gzip). Deflate state is
  // about (1 << (window_bits + 2)) + (1 << (mem_level + 9)) + 5.7 KB.
  int zlib_window_bits = 13;  // 8..15 (zlib turns 8 into 9)
  int zlib_mem_level = 5;     // 1..9
  int zlib_level = 6;         // -1 (= 6) .. 9
  // ZSTD_CCtx_setParameter values. 0 for the three logs means "the level's
  // default" (which for unknown sizes is a 2 MB window: mind the memory).
  int zstd_level = 6;        // -127..22, 0 = ZSTD_CLEVEL_DEFAULT (3)
  int zstd_window_log = 15;  // 10..27 or 0
  int zstd_hash_log = 13;    // 6..30 or 0
  int zstd_chain_log = 13;   // 6..30 or 0 (unused by levels 5..12 when window_log > 14)

  // Returns OK if every field is in its accepted range (the ranges above;
  // zstd ones are also checked against ZSTD_cParam_getBounds).
  Status Validate() const;
};

// Compresses the gateway messages of one connection. Movable, not copyable.
class TransportCompressor {
 public:
  // A compressor for Compression::kNone (Compress copies bytes as is).
  TransportCompressor() = default;
  // REQUIRES: options.Validate().ok(); if not, every Compress fails with
  // InvalidArgument. Allocates nothing: the stream starts on the first Compress.
  explicit TransportCompressor(Compression mode, const CompressionOptions& options = {});
  ~TransportCompressor();

  // A moved-from compressor has no stream: its next Compress starts a new one.
  TransportCompressor(TransportCompressor&& other) noexcept;
  TransportCompressor& operator=(TransportCompressor&& other) noexcept;
  TransportCompressor(const TransportCompressor&) = delete;
  TransportCompressor& operator=(const TransportCompressor&) = delete;

  Compression mode() const { return mode_; }
  // The options given at construction (for kNone: the defaults).
  CompressionOptions options() const;

  // Appends to *out the compressed bytes of ONE gateway message, ending with a
  // flush so the peer can decode all of `message` from the bytes appended so
  // far; *out is then sent as one binary WebSocket message (kNone: as is, in a
  // text message). The first call allocates the stream state.
  // An empty message appends 00 00 ff ff-terminated bytes for zlib-stream and
  // possibly nothing for zstd-stream (there is nothing to decode).
  // On error *out is left as it was. Errors: InvalidArgument (bad options),
  // IOError (out of memory, including std::bad_alloc while growing *out, or
  // a library error). After an error that is not on the first call's state
  // allocation, the stream is broken: every later Compress fails too and the
  // caller must close the connection.
  // REQUIRES: out != nullptr and does not alias message.
  Status Compress(std::string_view message, std::string* out);

  // Heap bytes held by the compression state: 0 before the first Compress
  // and after Reset(). zlib: every byte deflate allocated (counted by our
  // zalloc/zfree) plus the z_stream; zstd: ZSTD_sizeof_CCtx plus our wrapper.
  size_t MemoryUsage() const;

  // Frees the stream state. The next Compress starts a NEW stream (a new zlib
  // header / zstd frame), which a peer in the middle of the old one cannot
  // read: call it only when the connection's transport is gone.
  void Reset();

 private:
  struct State;
  struct StateDeleter {  // State is complete only in the .cc
    void operator()(State* state) const;
  };
  // CompressionOptions packed into bytes (out-of-range values become
  // kInvalidParam) so that an idle compressor stays 16 bytes.
  static constexpr int8_t kInvalidParam = INT8_MIN;

  Compression mode_ = Compression::kNone;
  int8_t zlib_window_bits_ = 0, zlib_mem_level_ = 0, zlib_level_ = 0;
  int8_t zstd_level_ = 0, zstd_window_log_ = 0, zstd_hash_log_ = 0, zstd_chain_log_ = 0;
  std::unique_ptr<State, StateDeleter> state_;  // nullptr until the first Compress
};

}  // namespace parley
