#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

// ISO 8601 with microseconds and an explicit UTC offset, as Discord writes
// timestamps: "2026-11-28T04:06:27.123000+00:00".
std::string FormatIso8601(int64_t unix_ms);
void AppendIso8601(std::string* out, int64_t unix_ms);
int64_t NowMs();
// Parses "YYYY-MM-DDTHH:MM:SS", optionally with a fraction of a second and
// "Z" or a "+HH:MM" / "-HH:MM" offset (none: UTC), into Unix ms (years
// 0001..9999); nullopt when it is anything else.
std::optional<int64_t> ParseIso8601(std::string_view s);

}  // namespace parley
