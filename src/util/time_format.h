#pragma once

#include <cstdint>
#include <string>

namespace parley {

// ISO 8601 with microseconds and an explicit UTC offset, as Discord writes
// timestamps: "2026-11-28T04:06:27.123000+00:00".
std::string FormatIso8601(int64_t unix_ms);
void AppendIso8601(std::string* out, int64_t unix_ms);
int64_t NowMs();

}  // namespace parley
