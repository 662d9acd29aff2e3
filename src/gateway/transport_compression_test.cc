#include "gateway/transport_compression.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "gateway/test_support/dispatch_generator.h"

namespace parley {
namespace {

using test_support::DispatchGenerator;

constexpr std::string_view kSyncMarker("\x00\x00\xff\xff", 4);
constexpr size_t kZlibBudget = 64 * 1024;
constexpr size_t kZstdBudget = 320 * 1024;

bool EndsWithSyncMarker(const std::string& s) {
  return s.size() >= 4 && std::string_view(s).substr(s.size() - 4) == kSyncMarker;
}

// A client: ONE decompressor for the whole connection, fed one WebSocket
// message at a time, returning everything decodable from the bytes so far.
class Decompressor {
 public:
  explicit Decompressor(Compression mode) : mode_(mode) {
    if (mode_ == Compression::kZlibStream) {
      EXPECT_EQ(inflateInit2(&zs_, 15), Z_OK);  // what discord.js uses
    } else {
      dctx_ = ZSTD_createDCtx();
    }
  }
  ~Decompressor() {
    if (mode_ == Compression::kZlibStream) {
      inflateEnd(&zs_);
    } else {
      ZSTD_freeDCtx(dctx_);
    }
  }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Returns false on a decoding error.
  bool Feed(std::string_view in, std::string* out) {
    out->clear();
    char buf[16384];
    if (mode_ == Compression::kZlibStream) {
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      zs_.avail_in = static_cast<uInt>(in.size());
      do {
        zs_.next_out = reinterpret_cast<Bytef*>(buf);
        zs_.avail_out = sizeof buf;
        int rc = inflate(&zs_, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR) return false;  // never Z_STREAM_END
        out->append(buf, sizeof buf - zs_.avail_out);
        if (rc == Z_BUF_ERROR && zs_.avail_in != 0 && zs_.avail_out != 0) return false;
      } while (zs_.avail_in != 0 || zs_.avail_out == 0);
      return true;
    }
    ZSTD_inBuffer zin{in.data(), in.size(), 0};
    ZSTD_outBuffer zout{};
    do {
      zout = {buf, sizeof buf, 0};
      size_t rc = ZSTD_decompressStream(dctx_, &zout, &zin);
      if (ZSTD_isError(rc)) return false;
      out->append(buf, zout.pos);
    } while (zin.pos < zin.size || zout.pos == zout.size);
    return true;
  }

 private:
  Compression mode_;
  z_stream zs_{};
  ZSTD_DCtx* dctx_ = nullptr;
};

// Compresses `message`, checks the framing, and that the client decodes
// exactly `message` from this WebSocket message alone. Returns the
// compressed size.
size_t RoundTrip(TransportCompressor* c, Decompressor* d, const std::string& message) {
  std::string wire = "prefix";  // Compress appends
  Status s = c->Compress(message, &wire);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(wire.substr(0, 6), "prefix");
  wire.erase(0, 6);
  if (c->mode() == Compression::kZlibStream) {
    EXPECT_TRUE(EndsWithSyncMarker(wire)) << "size " << wire.size();
  }
  std::string decoded;
  EXPECT_TRUE(d->Feed(wire, &decoded));
  EXPECT_EQ(decoded.size(), message.size());
  EXPECT_TRUE(decoded == message);
  return wire.size();
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  for (char& ch : s) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    ch = static_cast<char>(seed >> 56);
  }
  return s;
}

std::string BigJson(size_t n) {
  DispatchGenerator g;
  std::string s = "[";
  while (s.size() < n) s += g.Next() + ",";
  s.back() = ']';
  return s;
}

const Compression kModes[] = {Compression::kZlibStream, Compression::kZstdStream};

TEST(TransportCompression, IdleCompressorIsSmallAndAllocatesLazily) {
  static_assert(sizeof(TransportCompressor) <= 16);
  for (Compression mode : kModes) {
    TransportCompressor c(mode);
    EXPECT_EQ(c.MemoryUsage(), 0u);
    std::string out;
    ASSERT_TRUE(c.Compress("{\"op\":10,\"d\":{\"heartbeat_interval\":41250}}", &out).ok());
    EXPECT_GT(c.MemoryUsage(), 0u);
    c.Reset();
    EXPECT_EQ(c.MemoryUsage(), 0u);
  }
}

TEST(TransportCompression, ManyMessagesThroughOneStream) {
  for (Compression mode : kModes) {
    SCOPED_TRACE(std::string(CompressionName(mode)));
    TransportCompressor c(mode);
    Decompressor d(mode);
    DispatchGenerator g;
    size_t raw = 0, wire = 0;
    for (int i = 0; i < 500; ++i) {
      std::string m = g.Next();
      raw += m.size();
      wire += RoundTrip(&c, &d, m);
      if (HasFailure()) return;
    }
    // The stream carries context across messages: well under half the size.
    EXPECT_LT(wire * 4, raw) << wire << " of " << raw;
    EXPECT_LE(c.MemoryUsage(), mode == Compression::kZlibStream ? kZlibBudget : kZstdBudget);
  }
}

TEST(TransportCompression, LaterMessagesUseEarlierOnes) {
  for (Compression mode : kModes) {
    DispatchGenerator g;
    std::vector<std::string> msgs;
    for (int i = 0; i < 50; ++i) msgs.push_back(g.Next());
    TransportCompressor stream(mode);
    std::string out;
    for (const std::string& m : msgs) {
      out.clear();
      ASSERT_TRUE(stream.Compress(m, &out).ok());
    }
    TransportCompressor fresh(mode);
    std::string alone;
    ASSERT_TRUE(fresh.Compress(msgs.back(), &alone).ok());
    EXPECT_LT(out.size() * 2, alone.size()) << CompressionName(mode);
  }
}

TEST(TransportCompression, ZlibClientWindow15ReadsEverySmallerWindow) {
  for (int bits = 8; bits <= 15; ++bits) {
    for (int mem : {1, 5, 9}) {
      SCOPED_TRACE(testing::Message() << "windowBits " << bits << " memLevel " << mem);
      CompressionOptions o;
      o.zlib_window_bits = bits;
      o.zlib_mem_level = mem;
      o.zlib_level = bits % 2 ? 9 : 1;
      TransportCompressor c(Compression::kZlibStream, o);
      Decompressor d(Compression::kZlibStream);
      DispatchGenerator g;
      for (int i = 0; i < 60; ++i) {
        RoundTrip(&c, &d, g.Next());
        if (HasFailure()) return;
      }
      RoundTrip(&c, &d, BigJson(100000));
    }
  }
}

TEST(TransportCompression, ZstdOptionsRoundTrip) {
  const int cases[][4] = {{1, 10, 6, 6},    {3, 15, 13, 13}, {6, 14, 14, 14},
                          {19, 16, 15, 15}, {-5, 12, 0, 0},  {0, 0, 0, 0}};
  for (const auto& [level, window, hash, chain] : cases) {
    SCOPED_TRACE(testing::Message() << "level " << level << " window " << window);
    CompressionOptions o;
    o.zstd_level = level;
    o.zstd_window_log = window;
    o.zstd_hash_log = hash;
    o.zstd_chain_log = chain;
    ASSERT_TRUE(o.Validate().ok()) << o.Validate().ToString();
    TransportCompressor c(Compression::kZstdStream, o);
    Decompressor d(Compression::kZstdStream);
    DispatchGenerator g;
    for (int i = 0; i < 60; ++i) {
      RoundTrip(&c, &d, g.Next());
      if (HasFailure()) return;
    }
    RoundTrip(&c, &d, BigJson(100000));
  }
}

TEST(TransportCompression, DefaultsStayUnderMemoryBudget) {
  for (Compression mode : kModes) {
    const size_t budget = mode == Compression::kZlibStream ? kZlibBudget : kZstdBudget;
    TransportCompressor c(mode);
    Decompressor d(mode);
    DispatchGenerator g;
    RoundTrip(&c, &d, g.Next());
    const size_t after_first = c.MemoryUsage();
    EXPECT_LE(after_first, budget) << CompressionName(mode);
    RoundTrip(&c, &d, BigJson(1 << 20));
    RoundTrip(&c, &d, RandomBytes(1 << 20, 7));
    for (int i = 0; i < 100; ++i) RoundTrip(&c, &d, g.Next());
    // The state is sized once, at the first message, whatever comes later.
    EXPECT_EQ(c.MemoryUsage(), after_first) << CompressionName(mode);
  }
}

TEST(TransportCompression, LargeMessages) {
  for (Compression mode : kModes) {
    SCOPED_TRACE(std::string(CompressionName(mode)));
    TransportCompressor c(mode);
    Decompressor d(mode);
    DispatchGenerator g;
    RoundTrip(&c, &d, BigJson(1 << 20));  // as the very first message
    RoundTrip(&c, &d, g.Next());
    const size_t random_wire = RoundTrip(&c, &d, RandomBytes(1 << 20, 1));
    EXPECT_LT(random_wire, (1u << 20) + (1u << 20) / 50);  // stored, not expanded much
    RoundTrip(&c, &d, g.Next());
    RoundTrip(&c, &d, std::string(1 << 20, 'x'));
    RoundTrip(&c, &d, BigJson(3 << 20));
    RoundTrip(&c, &d, g.Next());
  }
}

TEST(TransportCompression, EmptyMessages) {
  for (Compression mode : kModes) {
    SCOPED_TRACE(std::string(CompressionName(mode)));
    TransportCompressor c(mode);
    Decompressor d(mode);
    DispatchGenerator g;
    RoundTrip(&c, &d, "");  // first message: zlib sends its header
    RoundTrip(&c, &d, "");
    RoundTrip(&c, &d, g.Next());
    RoundTrip(&c, &d, "");
    RoundTrip(&c, &d, "");
    RoundTrip(&c, &d, g.Next());
    RoundTrip(&c, &d, std::string(1, '\0'));
    RoundTrip(&c, &d, "");
  }
}

TEST(TransportCompression, MovedCompressorContinuesTheStream) {
  for (Compression mode : kModes) {
    TransportCompressor c(mode);
    Decompressor d(mode);
    DispatchGenerator g;
    RoundTrip(&c, &d, g.Next());
    TransportCompressor moved(std::move(c));
    RoundTrip(&moved, &d, g.Next());
    TransportCompressor assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.mode(), mode);
    RoundTrip(&assigned, &d, g.Next());
  }
}

TEST(TransportCompression, ResetStartsANewStream) {
  for (Compression mode : kModes) {
    TransportCompressor c(mode);
    DispatchGenerator g;
    {
      Decompressor d(mode);
      RoundTrip(&c, &d, g.Next());
    }
    c.Reset();
    Decompressor d(mode);  // a new connection's client
    RoundTrip(&c, &d, g.Next());
    RoundTrip(&c, &d, g.Next());
  }
}

TEST(TransportCompression, InvalidOptionsFailCompress) {
  auto with = [](auto set) {
    CompressionOptions o;
    set(o);
    return o;
  };
  const CompressionOptions bad[] = {
      with([](CompressionOptions& o) { o.zlib_window_bits = 16; }),   // gzip
      with([](CompressionOptions& o) { o.zlib_window_bits = -15; }),  // raw
      with([](CompressionOptions& o) { o.zlib_window_bits = 7; }),
      with([](CompressionOptions& o) { o.zlib_mem_level = 0; }),
      with([](CompressionOptions& o) { o.zlib_mem_level = 10; }),
      with([](CompressionOptions& o) { o.zlib_level = 10; }),
      with([](CompressionOptions& o) { o.zstd_level = 23; }),
      with([](CompressionOptions& o) { o.zstd_level = -1000; }),
      with([](CompressionOptions& o) { o.zstd_window_log = 28; }),
      with([](CompressionOptions& o) { o.zstd_window_log = 9; }),
      with([](CompressionOptions& o) { o.zstd_hash_log = 31; }),
      with([](CompressionOptions& o) { o.zstd_chain_log = 5; }),
      with([](CompressionOptions& o) { o.zstd_chain_log = 1000; }),
  };
  EXPECT_TRUE(CompressionOptions().Validate().ok());
  for (const CompressionOptions& o : bad) {
    EXPECT_FALSE(o.Validate().ok());
    for (Compression mode : kModes) {
      TransportCompressor c(mode, o);
      std::string out = "keep";
      Status s = c.Compress("{}", &out);
      EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
      EXPECT_EQ(out, "keep");
      EXPECT_EQ(c.MemoryUsage(), 0u);
    }
  }
}

TEST(TransportCompression, OptionsRoundTripThroughPacking) {
  CompressionOptions o;
  o.zlib_window_bits = 9;
  o.zlib_mem_level = 2;
  o.zlib_level = -1;
  o.zstd_level = -7;
  o.zstd_window_log = 27;
  o.zstd_hash_log = 0;
  o.zstd_chain_log = 30;
  CompressionOptions back = TransportCompressor(Compression::kZstdStream, o).options();
  EXPECT_EQ(back.zlib_window_bits, 9);
  EXPECT_EQ(back.zlib_mem_level, 2);
  EXPECT_EQ(back.zlib_level, -1);
  EXPECT_EQ(back.zstd_level, -7);
  EXPECT_EQ(back.zstd_window_log, 27);
  EXPECT_EQ(back.zstd_hash_log, 0);
  EXPECT_EQ(back.zstd_chain_log, 30);
}

TEST(TransportCompression, NoneCopiesAndNamesParse) {
  TransportCompressor c;
  std::string out = "a";
  ASSERT_TRUE(c.Compress("{\"op\":11}", &out).ok());
  EXPECT_EQ(out, "a{\"op\":11}");
  EXPECT_EQ(c.MemoryUsage(), 0u);

  Compression m = Compression::kNone;
  EXPECT_TRUE(ParseCompression("zlib-stream", &m));
  EXPECT_EQ(m, Compression::kZlibStream);
  EXPECT_TRUE(ParseCompression("zstd-stream", &m));
  EXPECT_EQ(m, Compression::kZstdStream);
  EXPECT_FALSE(ParseCompression("zlib", &m));
  EXPECT_FALSE(ParseCompression("", &m));
  EXPECT_EQ(m, Compression::kZstdStream);
  EXPECT_EQ(CompressionName(Compression::kZlibStream), "zlib-stream");
  EXPECT_EQ(CompressionName(Compression::kZstdStream), "zstd-stream");
  EXPECT_EQ(CompressionName(Compression::kNone), "none");
}

}  // namespace
}  // namespace parley
