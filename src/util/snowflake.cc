#include "util/snowflake.h"

#include <charconv>
#include <chrono>

namespace parley {

std::optional<Snowflake> ParseSnowflake(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  Snowflake v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

SnowflakeGenerator::SnowflakeGenerator(unsigned worker, unsigned process)
    : node_bits_((static_cast<uint64_t>(worker & 31) << 17) |
                 (static_cast<uint64_t>(process & 31) << 12)) {}

Snowflake SnowflakeGenerator::Next() {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return NextAt(now);
}

Snowflake SnowflakeGenerator::NextAt(int64_t unix_ms) {
  uint64_t ts = static_cast<uint64_t>(unix_ms - kDiscordEpochMs);
  uint64_t want = ts << 12;
  uint64_t last = last_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    // Same or earlier millisecond: take the next increment (which rolls into
    // the next millisecond after 4096 ids).
    next = want > last ? want : last + 1;
  } while (!last_.compare_exchange_weak(last, next, std::memory_order_relaxed));
  uint64_t t = next >> 12, inc = next & 0xfff;
  return (t << 22) | node_bits_ | inc;
}

void SnowflakeGenerator::Raise(Snowflake floor) {
  const uint64_t t = floor >> 22, floor_node_bits = floor & (uint64_t{0x3ff} << 12);
  // With node bits at or above floor's, an increment above floor's is
  // enough; below, only the next millisecond compares above it.
  const uint64_t want =
      node_bits_ >= floor_node_bits ? (t << 12) | (floor & 0xfff) : (t << 12) | 0xfff;
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (last < want && !last_.compare_exchange_weak(last, want, std::memory_order_relaxed)) {
  }
}

Snowflake SnowflakeGenerator::Last() const {
  const uint64_t last = last_.load(std::memory_order_relaxed);
  if (last == 0) return 0;
  return ((last >> 12) << 22) | node_bits_ | (last & 0xfff);
}

}  // namespace parley
