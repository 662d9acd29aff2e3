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
// from v's own storage (give it an arena): what FromJson re-encodes. Text
// that is not UTF-8 inside a string is taken as it is, as the JSON clients
// get it (the server's JSON is not re-validated on its way out).
Status ParseJson(std::string_view json, boost::json::value* v);
// Appends the Latin-1 text `bytes` as a JSON string literal (ETF's
// ATOM_EXT and SMALL_ATOM_EXT are Latin-1).
void AppendJsonLatin1(std::string* out, std::string_view bytes);

}  // namespace parley::encoding
