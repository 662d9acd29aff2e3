// MessagePack (msgpack.org spec) for the gateway: Parley's own extension
// (`encoding=msgpack`; Discord has no binary encoding but ETF).
//
// Server to client (FromJson): the shortest form of each value: objects as
// maps with string keys, strings (snowflakes included) as str, integers as
// the smallest int/uint, doubles as float 64, arrays, nil, true, false.
// Client to server (ToJson): all of those and float 32; map keys must be
// strings. Refused: bin and ext values (JSON has none), strings that are
// not UTF-8, non-finite floats, the unused byte 0xc1, trailing bytes.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace parley::encoding::msgpack {

// The deepest nesting ToJson accepts (the gateway's JSON decoder's limit).
inline constexpr int kMaxDepth = 32;

void AppendValue(std::string* out, const boost::json::value& v);
void AppendInteger(std::string* out, int64_t v);
void AppendUnsigned(std::string* out, uint64_t v);
void AppendString(std::string* out, std::string_view s);
// Headers of a map / array of n entries (the entries follow).
void AppendMapHeader(std::string* out, uint32_t n);
void AppendArrayHeader(std::string* out, uint32_t n);

// Appends the value of the JSON document `json`.
Status FromJson(std::string_view json, std::string* out);
// Appends the JSON text of the value in `packed`.
Status ToJson(std::string_view packed, std::string* out);

}  // namespace parley::encoding::msgpack
