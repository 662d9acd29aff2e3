// Writing JSON text from a decoded binary payload (etf.cc, msgpack.cc).
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace parley::encoding {

// Appends `bytes` as a JSON string literal; false (nothing useful
// appended) if they are not valid UTF-8.
bool AppendJsonText(std::string* out, std::string_view bytes);
// Appends a finite double: as an integer when it is one that a double
// holds exactly (|v| < 2^53: JavaScript clients send every number outside
// 32 bits as a double, `since` timestamps for one), else in shortest
// round-trip form. false if `v` is not finite.
bool AppendJsonDouble(std::string* out, double v);
void AppendJsonUnsigned(std::string* out, uint64_t v, bool negative = false);

// Parses the JSON document `json` (nesting up to 64) into *v, allocating
// from `sp`: what FromJson re-encodes.
Status ParseJson(std::string_view json, boost::json::storage_ptr sp, boost::json::value* v);

}  // namespace parley::encoding
