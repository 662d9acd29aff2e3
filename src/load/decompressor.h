// A gateway session's transport decompression, as a client does it
// (docs/gateway.md): one zlib inflate stream or one zstd decompression
// stream for the whole connection, each binary message decompressed as it
// arrives (zlib-stream: it ends with Z_SYNC_FLUSH; zstd-stream: flushed).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace parley::load {

class Decompressor {
 public:
  enum class Kind { kZlib, kZstd };
  // "zlib-stream" / "zstd-stream" -> *out; false for anything else.
  static bool Parse(std::string_view name, Kind* out);
  static std::unique_ptr<Decompressor> Make(Kind k);
  virtual ~Decompressor() = default;
  // Replaces *out with the bytes of one message; false (with *error) if
  // the stream is broken.
  virtual bool Message(std::string_view in, std::string* out, std::string* error) = 0;
};

}  // namespace parley::load
