// The gateway's payload encodings (the `encoding` query parameter):
//   json     Discord's default: text frames;
//   etf      Erlang's External Term Format (version 131), as Discord's
//            gateway speaks it (etf.h): binary frames;
//   msgpack  MessagePack, Parley's own extension (Discord has none;
//            msgpack.h): binary frames.
// The server builds every payload as JSON text; the other encodings are
// produced from it (FromJson), once per event (events::Frame::In), and a
// client's payload in them is turned into JSON text (ToJson) before the
// gateway's one JSON decoder reads it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace parley::encoding {

enum class Encoding : uint8_t { kJson = 0, kEtf = 1, kMsgpack = 2 };

// "json", "etf", "msgpack" -> *out; false for anything else.
bool ParseEncoding(std::string_view name, Encoding* out);
std::string_view EncodingName(Encoding e);

// Whether payloads in `e` travel in binary WebSocket frames (all but JSON).
inline bool IsBinary(Encoding e) {
  return e != Encoding::kJson;
}

// Appends the JSON document `json` in encoding `e` to *out (for kJson, the
// text itself). Fails only if `json` is not JSON (nesting deeper than 64
// included).
Status FromJson(Encoding e, std::string_view json, std::string* out);

// Appends a client payload in encoding `e` to *out as JSON text (for kJson,
// the text itself, unchecked). Fails, with the reason, on anything that is
// not a well-formed value of the encoding, nests deeper than 32, or has no
// JSON equivalent (see etf.h, msgpack.h).
Status ToJson(Encoding e, std::string_view payload, std::string* out);

}  // namespace parley::encoding
