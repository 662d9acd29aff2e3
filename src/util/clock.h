// The monotonic clock (steady_clock, CLOCK_MONOTONIC) as plain integers, for
// latencies and deadlines measured inside one machine.
#pragma once

#include <chrono>
#include <cstdint>

namespace parley {

inline int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t SteadyMs() {
  return SteadyNs() / 1'000'000;
}

}  // namespace parley
