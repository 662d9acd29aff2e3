// Erlang's External Term Format (version 131) as Discord's gateway speaks it
// (the ETF section of Discord's gateway docs; erlpack is the reference
// client library).
//
// Server to client (FromJson), what erlpack and Discord's own gateway do:
//   object  -> MAP_EXT, keys as SMALL_ATOM_EXT (erlpack reads no UTF-8 atom
//              tags; a key that is not printable ASCII, or longer than 255
//              bytes, goes as a BINARY_EXT)
//   string  -> BINARY_EXT (snowflakes included: Discord's docs allow
//              "64-bit integers or strings", and strings keep JSON's shapes)
//   integer -> SMALL_INTEGER_EXT (0..255), INTEGER_EXT (32-bit), else
//              SMALL_BIG_EXT
//   double  -> NEW_FLOAT_EXT
//   array   -> LIST_EXT ending in NIL_EXT; an empty one is NIL_EXT alone
//   null, true, false -> the atoms nil, true, false
//
// Client to server (ToJson): every tag erlpack writes, and the other plain
// ones: small/32-bit/big integers (up to 64 bits), NEW_FLOAT_EXT and
// FLOAT_EXT, atoms of all four tags (nil and null -> null, true, false,
// others -> string; ATOM_EXT and SMALL_ATOM_EXT read as Latin-1), BINARY_EXT and STRING_EXT ->
// string, LIST_EXT (proper lists only), NIL_EXT, tuples -> array, MAP_EXT. Refused, as Discord does
// with 4002: atom keys ("you must use string keys"), compressed terms,
// and anything else (pids, references, funs, bit strings, improper
// lists, non-finite floats, strings and atoms that are not UTF-8,
// integers past 64 bits, trailing bytes).
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace parley::encoding::etf {

inline constexpr uint8_t kVersion = 131;
inline constexpr uint8_t kNewFloat = 70;
inline constexpr uint8_t kCompressed = 80;
inline constexpr uint8_t kSmallInteger = 97;
inline constexpr uint8_t kInteger = 98;
inline constexpr uint8_t kFloat = 99;
inline constexpr uint8_t kAtom = 100;
inline constexpr uint8_t kSmallTuple = 104;
inline constexpr uint8_t kLargeTuple = 105;
inline constexpr uint8_t kNil = 106;
inline constexpr uint8_t kString = 107;
inline constexpr uint8_t kList = 108;
inline constexpr uint8_t kBinary = 109;
inline constexpr uint8_t kSmallBig = 110;
inline constexpr uint8_t kLargeBig = 111;
inline constexpr uint8_t kSmallAtom = 115;
inline constexpr uint8_t kMap = 116;
inline constexpr uint8_t kAtomUtf8 = 118;
inline constexpr uint8_t kSmallAtomUtf8 = 119;

// The deepest nesting ToJson accepts (the gateway's JSON decoder's limit).
inline constexpr int kMaxDepth = 32;

// How object keys are written: as the server writes them (atoms) or as a
// client must (binaries: erlpack's encoder; parley-load's clients).
enum class Keys : uint8_t { kAtoms, kBinaries };

// Appends the term for `v` (no version byte).
void AppendTerm(std::string* out, const boost::json::value& v, Keys keys = Keys::kAtoms);
void AppendInteger(std::string* out, int64_t v);
void AppendUnsigned(std::string* out, uint64_t v);
// REQUIRES: `name` is printable ASCII and at most 255 bytes.
void AppendAtom(std::string* out, std::string_view name);
void AppendBinary(std::string* out, std::string_view bytes);

// Appends kVersion and the term of the JSON document `json`.
Status FromJson(std::string_view json, std::string* out, Keys keys = Keys::kAtoms);
// Appends the JSON text of the term in `etf` (kVersion first). Atom keys
// are refused unless `atom_keys` (a client reading the server's terms).
Status ToJson(std::string_view etf, std::string* out, bool atom_keys = false);

}  // namespace parley::encoding::etf
