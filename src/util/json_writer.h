// Appending JSON text by hand, for the few shapes on hot paths (messages):
// about 5x cheaper than building a boost::json::value and serializing it.
// (Measured: a 50-message history page went from ~7 us to under 1.5 us per
// message with bench/rest.sh history; see bench/RESULTS.md.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parley {

// Appends `s` as a JSON string literal (quotes included), escaping '"', '\\'
// and control characters. `s` must be valid UTF-8 (request bodies are
// validated by the JSON parser before anything is stored).
void AppendJsonString(std::string* out, std::string_view s);
// Appends a snowflake as a JSON string: "123".
void AppendJsonId(std::string* out, uint64_t id);
void AppendJsonInt(std::string* out, int64_t v);

}  // namespace parley
