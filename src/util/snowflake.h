// Snowflake ids exactly as Discord's: (ms since 2015-01-01) << 22 | worker << 17
// | process << 12 | increment. Strings in JSON, 64-bit integers everywhere else.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

using Snowflake = uint64_t;

inline constexpr int64_t kDiscordEpochMs = 1420070400000;

// Milliseconds since the Unix epoch at which `id` was minted.
inline int64_t SnowflakeTimeMs(Snowflake id) {
  return static_cast<int64_t>(id >> 22) + kDiscordEpochMs;
}
// The smallest id minted at `unix_ms` (for time-based range queries).
inline Snowflake SnowflakeFromTimeMs(int64_t unix_ms) {
  return static_cast<Snowflake>(unix_ms - kDiscordEpochMs) << 22;
}

// Parses a decimal snowflake; nullopt for anything but 1..20 digits that fit.
std::optional<Snowflake> ParseSnowflake(std::string_view s);
inline std::string SnowflakeString(Snowflake id) {
  return std::to_string(id);
}

// Mints ids, thread-safe and lock-free. Ids are strictly increasing per
// generator even if the wall clock steps back: the generator then keeps
// counting from its last timestamp (borrowing from the future) until the
// clock catches up.
class SnowflakeGenerator {
 public:
  // REQUIRES: worker < 32, process < 32.
  SnowflakeGenerator(unsigned worker, unsigned process);
  Snowflake Next();
  // Like Next, with the clock given (tests).
  Snowflake NextAt(int64_t unix_ms);
  // Every id minted after Raise returns is greater than `floor` (an id of
  // any generator): for ids in an order set elsewhere (another process's
  // commits, docs/cluster.md "Ids in commit order"). It moves this
  // generator into floor's millisecond, or past it when ids of that
  // millisecond from this worker and process would compare below floor.
  void Raise(Snowflake floor);
  // The last id minted (by any thread), 0 before the first.
  Snowflake Last() const;

 private:
  const uint64_t node_bits_;
  // (timestamp << 12 | increment) of the last id handed out.
  std::atomic<uint64_t> last_{0};
};

}  // namespace parley
