#include "gateway/transport_compression.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <utility>

namespace parley {

namespace {

// An empty, non-final stored block: what Z_SYNC_FLUSH emits when it has
// nothing else to emit, at a byte boundary (a sync flush always ends on one).
constexpr std::string_view kEmptyStoredBlock("\x00\x00\x00\xff\xff", 5);
constexpr size_t kMaxUInt = std::numeric_limits<uInt>::max();

int8_t Pack(int v) {
  return (v > INT8_MIN && v <= INT8_MAX) ? static_cast<int8_t>(v) : INT8_MIN;
}

Status CheckRange(const char* name, int v, int lo, int hi) {
  if (v < lo || v > hi) {
    return Status::InvalidArgument(std::string(name) + " " + std::to_string(v) +
                                   " is out of range [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "]");
  }
  return Status::OK();
}

Status CheckZstd(const char* name, ZSTD_cParameter p, int v, int lo, int hi) {
  if (p != ZSTD_c_compressionLevel && v == 0) return Status::OK();  // level default
  ZSTD_bounds b = ZSTD_cParam_getBounds(p);
  if (ZSTD_isError(b.error)) return Status::InvalidArgument(ZSTD_getErrorName(b.error));
  return CheckRange(name, v, std::max(lo, b.lowerBound), std::min(hi, b.upperBound));
}

// Grows *out so that at least `want` bytes are free past `used`.
void EnsureRoom(std::string* out, size_t used, size_t want) {
  if (out->size() - used < want) out->resize(used + want);
}

}  // namespace

bool ParseCompression(std::string_view value, Compression* out) {
  if (value == "zlib-stream") {
    *out = Compression::kZlibStream;
  } else if (value == "zstd-stream") {
    *out = Compression::kZstdStream;
  } else {
    return false;
  }
  return true;
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kZlibStream:
      return "zlib-stream";
    case Compression::kZstdStream:
      return "zstd-stream";
    case Compression::kNone:
      break;
  }
  return "none";
}

Status CompressionOptions::Validate() const {
  Status s;
  if (!(s = CheckRange("zlib_window_bits", zlib_window_bits, 8, 15)).ok()) return s;
  if (!(s = CheckRange("zlib_mem_level", zlib_mem_level, 1, 9)).ok()) return s;
  if (!(s = CheckRange("zlib_level", zlib_level, -1, 9)).ok()) return s;
  if (!(s = CheckZstd("zstd_level", ZSTD_c_compressionLevel, zstd_level, -127, 22)).ok()) return s;
  // Decoders refuse windows over 2^27 unless told otherwise.
  if (!(s = CheckZstd("zstd_window_log", ZSTD_c_windowLog, zstd_window_log, 10, 27)).ok()) {
    return s;
  }
  if (!(s = CheckZstd("zstd_hash_log", ZSTD_c_hashLog, zstd_hash_log, 6, 30)).ok()) return s;
  return CheckZstd("zstd_chain_log", ZSTD_c_chainLog, zstd_chain_log, 6, 30);
}

// The lazily allocated stream state: exactly one of zlib/zstd is live,
// according to the owning compressor's mode.
struct TransportCompressor::State {
  bool broken = false;  // a stream error happened: the stream is unusable
  bool started = false;
  // zlib
  z_stream zs{};
  size_t zlib_bytes = 0;  // bytes currently allocated by deflate
  // zstd
  ZSTD_CCtx* cctx = nullptr;

  // Append one flushed message to *out, from out->size() on. They may leave
  // garbage past the original size on error; the caller truncates.
  Status Deflate(std::string_view message, std::string* out);
  Status ZstdFlush(std::string_view message, std::string* out);

  ~State() {
    if (cctx != nullptr) ZSTD_freeCCtx(cctx);
    if (zs.state != nullptr) deflateEnd(&zs);
  }
};

namespace {

// deflate's allocator: counts live bytes in State::zlib_bytes. Each block is
// prefixed with its size; 16 bytes keep malloc's alignment for the payload.
constexpr size_t kZallocHeader = 16;

voidpf CountingZalloc(voidpf opaque, uInt items, uInt size) {
  size_t n = static_cast<size_t>(items) * size;  // uInt * uInt fits in size_t
  void* p = std::malloc(n + kZallocHeader);
  if (p == nullptr) return Z_NULL;
  *static_cast<size_t*>(p) = n;
  *static_cast<size_t*>(opaque) += n;
  return static_cast<char*>(p) + kZallocHeader;
}

void CountingZfree(voidpf opaque, voidpf address) {
  if (address == nullptr) return;
  void* p = static_cast<char*>(address) - kZallocHeader;
  *static_cast<size_t*>(opaque) -= *static_cast<size_t*>(p);
  std::free(p);
}

}  // namespace

TransportCompressor::TransportCompressor(Compression mode, const CompressionOptions& options)
    : mode_(mode) {
  if (mode_ == Compression::kNone) return;
  if (options.Validate().ok()) {
    zlib_window_bits_ = Pack(options.zlib_window_bits);
    zlib_mem_level_ = Pack(options.zlib_mem_level);
    zlib_level_ = Pack(options.zlib_level);
    zstd_level_ = Pack(options.zstd_level);
    zstd_window_log_ = Pack(options.zstd_window_log);
    zstd_hash_log_ = Pack(options.zstd_hash_log);
    zstd_chain_log_ = Pack(options.zstd_chain_log);
  } else {
    zlib_window_bits_ = kInvalidParam;  // makes options() fail Validate()
  }
}

void TransportCompressor::StateDeleter::operator()(State* state) const {
  delete state;
}

TransportCompressor::~TransportCompressor() = default;
TransportCompressor::TransportCompressor(TransportCompressor&& other) noexcept = default;
TransportCompressor& TransportCompressor::operator=(TransportCompressor&& other) noexcept = default;

static_assert(sizeof(TransportCompressor) <= 16, "an idle connection must stay small");

CompressionOptions TransportCompressor::options() const {
  if (mode_ == Compression::kNone) return CompressionOptions();
  CompressionOptions o;
  o.zlib_window_bits = zlib_window_bits_;
  o.zlib_mem_level = zlib_mem_level_;
  o.zlib_level = zlib_level_;
  o.zstd_level = zstd_level_;
  o.zstd_window_log = zstd_window_log_;
  o.zstd_hash_log = zstd_hash_log_;
  o.zstd_chain_log = zstd_chain_log_;
  return o;
}

size_t TransportCompressor::MemoryUsage() const {
  if (state_ == nullptr) return 0;
  size_t n = sizeof(State) + state_->zlib_bytes;
  if (state_->cctx != nullptr) n += ZSTD_sizeof_CCtx(state_->cctx);
  return n;
}

void TransportCompressor::Reset() {
  state_.reset();
}

Status TransportCompressor::Compress(std::string_view message, std::string* out) {
  if (mode_ == Compression::kNone) {
    out->append(message);
    return Status::OK();
  }
  if (state_ == nullptr) {
    CompressionOptions o = options();
    Status s = o.Validate();
    if (!s.ok()) return s;
    auto state = std::unique_ptr<State, StateDeleter>(new (std::nothrow) State());
    if (state == nullptr) return Status::IOError("transport compression: out of memory");
    if (mode_ == Compression::kZlibStream) {
      state->zs.zalloc = CountingZalloc;
      state->zs.zfree = CountingZfree;
      state->zs.opaque = &state->zlib_bytes;
      int rc = deflateInit2(&state->zs, o.zlib_level, Z_DEFLATED, o.zlib_window_bits,
                            o.zlib_mem_level, Z_DEFAULT_STRATEGY);
      if (rc != Z_OK) {  // deflateInit2 freed what it had allocated
        return rc == Z_MEM_ERROR ? Status::IOError("deflateInit2: out of memory")
                                 : Status::InvalidArgument("deflateInit2 failed");
      }
    } else {
      state->cctx = ZSTD_createCCtx();
      if (state->cctx == nullptr) return Status::IOError("ZSTD_createCCtx: out of memory");
      const std::pair<ZSTD_cParameter, int> params[] = {
          {ZSTD_c_compressionLevel, o.zstd_level},
          {ZSTD_c_windowLog, o.zstd_window_log},
          {ZSTD_c_hashLog, o.zstd_hash_log},
          {ZSTD_c_chainLog, o.zstd_chain_log},
          {ZSTD_c_checksumFlag, 0},
          {ZSTD_c_contentSizeFlag, 0},
      };
      for (const auto& [param, value] : params) {
        size_t rc = ZSTD_CCtx_setParameter(state->cctx, param, value);
        if (ZSTD_isError(rc)) return Status::InvalidArgument(ZSTD_getErrorName(rc));
      }
    }
    state_ = std::move(state);
  }

  State& st = *state_;
  if (st.broken) return Status::IOError("transport compression stream is broken");
  const size_t old_size = out->size();
  // Until this message is completely written, a failure (or a bad_alloc
  // from growing *out) leaves the stream in a state the peer cannot follow.
  st.broken = true;
  Status s;
  try {
    s = mode_ == Compression::kZlibStream ? st.Deflate(message, out) : st.ZstdFlush(message, out);
  } catch (const std::bad_alloc&) {
    s = Status::IOError("transport compression: out of memory");
  }
  if (!s.ok()) {
    out->resize(old_size);
    return s;
  }
  st.broken = false;
  st.started = true;
  return Status::OK();
}

Status TransportCompressor::State::Deflate(std::string_view message, std::string* out) {
  if (message.empty() && started) {
    // deflate refuses a second Z_SYNC_FLUSH with no new input (Z_BUF_ERROR);
    // the stream sits at a byte boundary after the last flush, so the empty
    // stored block it would have written can be appended directly.
    out->append(kEmptyStoredBlock);
    return Status::OK();
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  size_t in_left = message.size();
  size_t used = out->size();
  // Typical messages fit in deflateBound (a zlib header plus stored-block
  // worst case) plus the flush marker; bigger outputs grow the buffer below.
  EnsureRoom(out, used, deflateBound(&zs, std::min<size_t>(in_left, 1u << 30)) + 16);
  for (;;) {
    // avail_in is 32 bits: feed huge messages in pieces, flushing at the end.
    const uInt chunk = static_cast<uInt>(std::min<size_t>(in_left, kMaxUInt));
    zs.avail_in = chunk;
    in_left -= chunk;
    const int flush = in_left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    // deflate returns when the input is consumed and the flush is done, or
    // when the output is full; with more than 6 bytes free it never stalls
    // on the flush marker (zlib.h).
    for (;;) {
      if (out->size() - used < 64) EnsureRoom(out, used, std::max<size_t>(out->size(), 4096));
      const size_t room = std::min<size_t>(out->size() - used, kMaxUInt);
      zs.next_out = reinterpret_cast<Bytef*>(out->data() + used);
      zs.avail_out = static_cast<uInt>(room);
      const int rc = deflate(&zs, flush);
      used += room - zs.avail_out;
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Status::IOError(std::string("deflate failed: ") +
                               (zs.msg != nullptr ? zs.msg : std::to_string(rc)));
      }
      if (zs.avail_out != 0) break;
    }
    if (in_left == 0) break;
  }
  out->resize(used);
  return Status::OK();
}

Status TransportCompressor::State::ZstdFlush(std::string_view message, std::string* out) {
  ZSTD_inBuffer in{message.data(), message.size(), 0};
  size_t used = out->size();
  EnsureRoom(out, used, ZSTD_compressBound(message.size()) + 32);
  for (;;) {
    ZSTD_outBuffer o{out->data() + used, out->size() - used, 0};
    const size_t remaining = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_flush);
    used += o.pos;
    if (ZSTD_isError(remaining)) {
      return Status::IOError(std::string("ZSTD_compressStream2 failed: ") +
                             ZSTD_getErrorName(remaining));
    }
    if (remaining == 0 && in.pos == in.size) break;
    EnsureRoom(out, used, std::max<size_t>(remaining, ZSTD_CStreamOutSize()));
  }
  out->resize(used);
  return Status::OK();
}

}  // namespace parley
