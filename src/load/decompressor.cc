#include "load/decompressor.h"

#include <zlib.h>
#include <zstd.h>

namespace parley::load {

namespace {

class ZlibStream final : public Decompressor {
 public:
  ZlibStream() { ok_ = inflateInit(&zs_) == Z_OK; }
  ~ZlibStream() override { inflateEnd(&zs_); }

  bool Message(std::string_view in, std::string* out, std::string* error) override {
    out->clear();
    if (!ok_) {
      *error = "zlib-init";
      return false;
    }
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
    char chunk[16384];
    do {
      zs_.next_out = reinterpret_cast<Bytef*>(chunk);
      zs_.avail_out = sizeof chunk;
      int rc = inflate(&zs_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        *error = "zlib-inflate";
        return false;
      }
      out->append(chunk, sizeof chunk - zs_.avail_out);
      if (rc == Z_BUF_ERROR && zs_.avail_out != 0) break;  // no progress: input used up
    } while (zs_.avail_in > 0 || zs_.avail_out == 0);
    return true;
  }

 private:
  z_stream zs_{};
  bool ok_ = false;
};

class ZstdStream final : public Decompressor {
 public:
  ZstdStream() : ds_(ZSTD_createDStream()) {}
  ~ZstdStream() override { ZSTD_freeDStream(ds_); }

  bool Message(std::string_view in, std::string* out, std::string* error) override {
    out->clear();
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    char chunk[16384];
    for (;;) {
      ZSTD_outBuffer output{chunk, sizeof chunk, 0};
      size_t rc = ZSTD_decompressStream(ds_, &output, &input);
      if (ZSTD_isError(rc)) {
        *error = "zstd-decompress";
        return false;
      }
      out->append(chunk, output.pos);
      if (input.pos == input.size && output.pos < output.size) return true;
    }
  }

 private:
  ZSTD_DStream* ds_;
};

}  // namespace

bool Decompressor::Parse(std::string_view name, Kind* out) {
  if (name == "zlib-stream") {
    *out = Kind::kZlib;
  } else if (name == "zstd-stream") {
    *out = Kind::kZstd;
  } else {
    return false;
  }
  return true;
}

std::unique_ptr<Decompressor> Decompressor::Make(Kind k) {
  if (k == Kind::kZlib) return std::make_unique<ZlibStream>();
  return std::make_unique<ZstdStream>();
}

}  // namespace parley::load
